# Cluster mode: every node started with this file shares the tasks in the
# PostgreSQL database of TASKHOST_DATABASE_URL (make pg starts a throwaway
# one). Start several with different --listen addresses; each gets a node
# id of its own (host name and pid). Relative paths are relative to this
# file, as in taskhost.hcl.
listen = "127.0.0.1:7474"
lease  = "10s" # a node that stops renewing loses its running tasks after this

store {
  schema = "taskhost_example"
}

handler "image-resize" {
  plugin                = "../bin/plugins/imageworker"
  method                = "resize"
  max_worker_count      = 2
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
