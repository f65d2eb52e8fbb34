package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// nodeProject adds to a config directory what a Node handler needs, no
// Node required: a script, a twin module, and an installed @taskhost/sdk
// whose twin runner is the file dist/twin.js.
func nodeProject(t *testing.T, dir string) {
	t.Helper()
	sdk := filepath.Join(dir, "node_modules", "@taskhost", "sdk")
	require.NoError(t, os.MkdirAll(filepath.Join(sdk, "dist"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sdk, "package.json"), []byte(`{"name":"@taskhost/sdk","bin":{"taskhost-twin":"dist/twin.js"}}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(sdk, "dist", "twin.js"), []byte("// runner\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "workers"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "workers", "imageWorker.mjs"), []byte("export function resize() {}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "worker.mjs"), []byte("// plugin\n"), 0o644))
}

func TestLoadConfigCommandAndTwinHandlers(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	nodeProject(t, dir)
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	sh, err = filepath.Abs(sh)
	require.NoError(t, err)
	path := writeConfig(t, dir, "taskhost.hcl", `
handler "script" {
  plugin = "sh"                          # a bare name: the host's PATH
  args   = ["-e", "./worker.mjs", "x"]
  method = "run"
}

handler "node-script" {
  runtime = "node"
  plugin  = "./bin/worker"
  args    = ["./worker.mjs"]
  method  = "run"
}

handler "image-resize" {
  runtime           = "node"
  plugin            = "./bin/worker"     # node's path instead of PATH's
  module            = "./workers/imageWorker.mjs"
  method            = "resize"
  initialise_method = "initialise"
  shutdown_method   = "shutdown"
  config            = { bucket = "tenant-a" }
  env               = { REGION = "eu-1" }
}
`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Len(t, cfg.Handlers, 3)

	script := cfg.Handlers[0]
	require.Equal(t, sh, script.Plugin)
	require.Equal(t, []string{"-e", filepath.Join(dir, "worker.mjs"), "x"}, script.Options.Args)
	require.Equal(t, filepath.Join(dir, "worker.mjs"), script.Options.Script)

	node := cfg.Handlers[1]
	require.Equal(t, []string{"--use-openssl-ca", filepath.Join(dir, "worker.mjs")}, node.Options.Args, "runtime = \"node\" adds its flags")
	require.Equal(t, filepath.Join(dir, "worker.mjs"), node.Options.Script)

	twin := cfg.Handlers[2]
	module := filepath.Join(dir, "workers", "imageWorker.mjs")
	runner, err := filepath.EvalSymlinks(filepath.Join(dir, "node_modules", "@taskhost", "sdk", "dist", "twin.js"))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "bin", "worker"), twin.Plugin)
	require.Equal(t, []string{"--use-openssl-ca", runner, module, "--initialise=initialise", "--shutdown=shutdown"}, twin.Options.Args)
	require.Equal(t, module, twin.Options.Script, "sha256 pins the module, the user's code")
	require.Equal(t, map[string]string{"REGION": "eu-1", TwinConfigEnv: `{"bucket":"tenant-a"}`}, twin.Options.Env)
	require.Equal(t, "initialise", twin.Options.InitialiseMethod)
}

func TestLoadConfigCommandErrors(t *testing.T) {
	t.Parallel()
	const method = "  method = \"run\"\n}\n"
	for _, tc := range []struct {
		name, content string
		parts         []string
	}{
		{"unknown runtime", "handler \"t\" {\n  runtime = \"deno\"\n  module = \"./workers/imageWorker.mjs\"\n" + method,
			[]string{":2,13: Invalid runtime", `"deno": want "node"`}},
		{"module without runtime", "handler \"t\" {\n  plugin = \"./bin/worker\"\n  module = \"./workers/imageWorker.mjs\"\n" + method,
			[]string{":3,12: Module without runtime", `needs runtime = "node"`}},
		{"runtime with neither", "handler \"t\" {\n  runtime = \"node\"\n  plugin = \"./bin/worker\"\n" + method,
			[]string{":1,1: Missing module or args", `handler "t"`, "module = ", "args = "}},
		{"runtime with both", "handler \"t\" {\n  runtime = \"node\"\n  plugin = \"./bin/worker\"\n  module = \"./workers/imageWorker.mjs\"\n  args = [\"./worker.mjs\"]\n" + method,
			[]string{":5,10: Conflicting arguments", "not both"}},
		{"module not found", "handler \"t\" {\n  runtime = \"node\"\n  plugin = \"./bin/worker\"\n  module = \"./workers/nope.mjs\"\n" + method,
			[]string{":4,12: Module not found", "nope.mjs", "no such file"}},
		{"no sdk above the module", "handler \"t\" {\n  runtime = \"node\"\n  plugin = \"./bin/worker\"\n  module = \"/etc/hostname\"\n" + method,
			[]string{":4,12: Twin runner not found", "no @taskhost/sdk in a node_modules directory at or above /etc", "npm install @taskhost/sdk"}},
		{"script not found", "handler \"t\" {\n  plugin = \"./bin/worker\"\n  args = [\"./nope.mjs\"]\n" + method,
			[]string{":3,10: Script not found", "nope.mjs"}},
		{"no script in args", "handler \"t\" {\n  plugin = \"./bin/worker\"\n  args = [\"--flag\"]\n" + method,
			[]string{":3,10: Invalid args", "names no script"}},
		{"interpreter not in PATH", "handler \"t\" {\n  plugin = \"no-such-interpreter-here\"\n  args = [\"./worker.mjs\"]\n" + method,
			[]string{":2,12: Interpreter not found", `"no-such-interpreter-here" is not in the host's PATH`}},
		{"interpreter path missing", "handler \"t\" {\n  plugin = \"./bin/node\"\n  args = [\"./worker.mjs\"]\n" + method,
			[]string{":2,12: Interpreter not found", "bin/node", "no such file"}},
		{"empty node path", "handler \"t\" {\n  runtime = \"node\"\n  plugin = \"\"\n  args = [\"./worker.mjs\"]\n" + method,
			[]string{":3,12: Invalid plugin", "it is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t)
			nodeProject(t, dir)
			path := writeConfig(t, dir, "c.hcl", tc.content)
			_, err := LoadConfig(path)
			requireConfigError(t, err, append([]string{path + tc.parts[0]}, tc.parts[1:]...)...)
		})
	}
}
