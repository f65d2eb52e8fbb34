# The config `make run` starts the host with. Relative paths are relative to
# this file: data_dir and plugin here, and the paths inside `config`, because
# the workers run in this file's directory.
data_dir = "../data"
listen   = "127.0.0.1:7474"

handler "image-resize" {
  plugin                = "../bin/plugins/imageworker"
  method                = "resize"
  max_worker_count      = 4
  idle_shutdown_timeout = "60s"
  initialise_method     = "initialise"
  shutdown_method       = "shutdown"
  config = {
    source_dir = "imageworker/images"
    output_dir = "../out/images"
  }
}

handler "catalogue-import" {
  plugin            = "../bin/plugins/importworker"
  method            = "import"
  initialise_method = "initialise"
  shutdown_method   = "shutdown"
  config = {
    catalogue_dir = "importworker/catalogue"
    database      = "../data/catalogue.db"
  }
}

# The TypeScript example (examples/tsworker, built by make build): a plugin
# written with @taskhost/sdk, run by node (from the host's PATH) ...
handler "catalogue-report" {
  runtime           = "node"
  args              = ["tsworker/dist/main.js"]
  method            = "report"
  initialise_method = "initialise"
  shutdown_method   = "shutdown"
  config = {
    catalogue_dir = "importworker/catalogue"
  }
}

# ... and a twin.org handler module, run unchanged by the SDK's twin runner:
# count(engineCloneData, payload) with this config as engineCloneData.
handler "catalogue-count" {
  runtime           = "node"
  module            = "tsworker/workers/catalogueWorker.mjs"
  method            = "count"
  initialise_method = "initialise"
  shutdown_method   = "shutdown"
  config = {
    catalogue_dir = "importworker/catalogue"
  }
}
