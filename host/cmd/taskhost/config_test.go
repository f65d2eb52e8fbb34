package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
)

// configDir is a directory with an executable plugin at bin/worker and a
// non-executable file at bin/notes.txt.
func configDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "worker"), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "notes.txt"), []byte("notes"), 0o644))
	return dir
}

func writeConfig(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	path := writeConfig(t, dir, "taskhost.hcl", `
data_dir                = "./data"
listen                  = "127.0.0.1:9000"
max_system_worker_count = 8
retry_interval          = "7s"
cleanup_interval        = "1m"

handler "image-resize" {
  plugin                = "./bin/worker"
  method                = "resize"
  max_worker_count      = 4
  min_workers           = 2
  concurrency           = 8
  idle_shutdown_timeout = "60s"
  initialise_method     = "initialise"
  shutdown_method       = "shutdown"
  execution_timeout     = "5m"
  sha256                = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
  config                = { output_dir = "./out", sizes = [1, 2], deep = { on = true } }
}

handler "import" {
  plugin                = "bin/worker"
  method                = "import"
  max_worker_count      = -1
  idle_shutdown_timeout = "forever"
}
`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, path, cfg.File)
	require.Equal(t, filepath.Join(dir, "data"), cfg.DataDir)
	require.Equal(t, "127.0.0.1:9000", cfg.Listen)
	require.Equal(t, 8, cfg.MaxSystemWorkerCount)
	require.Equal(t, 7*time.Second, cfg.RetryInterval)
	require.Equal(t, time.Minute, cfg.CleanupInterval)
	require.Len(t, cfg.Handlers, 2)

	h := cfg.Handlers[0]
	require.Equal(t, "image-resize", h.Type)
	require.Equal(t, filepath.Join(dir, "bin", "worker"), h.Plugin)
	require.Equal(t, "resize", h.Method)
	require.Equal(t, path, h.DefRange.Filename)
	require.Equal(t, 8, h.DefRange.Start.Line)
	require.JSONEq(t, `{"output_dir":"./out","sizes":[1,2],"deep":{"on":true}}`, string(h.Options.Config))
	h.Options.Config = nil
	require.Equal(t, host.HandlerOptions{
		MaxWorkerCount:      4,
		MinWorkers:          2,
		Concurrency:         8,
		IdleShutdownTimeout: time.Minute,
		InitialiseMethod:    "initialise",
		ShutdownMethod:      "shutdown",
		ExecutionTimeout:    5 * time.Minute,
		SHA256:              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		WorkDir:             dir,
	}, h.Options)

	h = cfg.Handlers[1]
	require.Equal(t, "import", h.Type)
	require.Equal(t, filepath.Join(dir, "bin", "worker"), h.Plugin)
	require.Equal(t, host.HandlerOptions{MaxWorkerCount: -1, IdleShutdownTimeout: host.KeepForever, WorkDir: dir}, h.Options)
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	path := writeConfig(t, dir, "taskhost.hcl", `
handler "t" {
  plugin = "./bin/worker"
  method = "run"
}
`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	want := DefaultConfig()
	want.File = path
	want.Handlers = []HandlerConfig{{
		Type:     "t",
		Plugin:   filepath.Join(dir, "bin", "worker"),
		Method:   "run",
		Options:  host.HandlerOptions{MaxWorkerCount: 1, WorkDir: dir},
		DefRange: cfg.Handlers[0].DefRange,
	}}
	require.Equal(t, want, cfg)
	require.Equal(t, "data", cfg.DataDir)
	require.Equal(t, "127.0.0.1:7474", cfg.Listen)
	require.Equal(t, runtime.NumCPU(), cfg.MaxSystemWorkerCount)
	require.Equal(t, 5*time.Second, cfg.RetryInterval)
	require.Equal(t, 2*time.Minute, cfg.CleanupInterval)
	require.NoError(t, cfg.Validate())
}

func TestLoadConfigJSON(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	path := writeConfig(t, dir, "taskhost.json", `{
  "data_dir": "state",
  "retry_interval": "1s",
  "handler": {
    "image-resize": {
      "plugin": "./bin/worker",
      "method": "resize",
      "idle_shutdown_timeout": "forever",
      "config": {"output_dir": "./out"}
    }
  }
}`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "state"), cfg.DataDir)
	require.Equal(t, time.Second, cfg.RetryInterval)
	require.Len(t, cfg.Handlers, 1)
	require.Equal(t, filepath.Join(dir, "bin", "worker"), cfg.Handlers[0].Plugin)
	require.Equal(t, host.KeepForever, cfg.Handlers[0].Options.IdleShutdownTimeout)
	require.JSONEq(t, `{"output_dir":"./out"}`, string(cfg.Handlers[0].Options.Config))
}

func TestLoadConfigAbsolutePluginAndNoPathLookup(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	abs := filepath.Join(dir, "bin", "worker")
	path := writeConfig(t, t.TempDir(), "taskhost.hcl", `
handler "a" {
  plugin = "`+abs+`"
  method = "run"
}
handler "b" {
  plugin = "sh"
  method = "run"
}
`)
	// "sh" is on $PATH but not beside the file: it must not be found.
	_, err := LoadConfig(path)
	requireConfigError(t, err, path+":7,12: Plugin not found", `handler "b"`)

	path = writeConfig(t, t.TempDir(), "taskhost.hcl", `
handler "a" {
  plugin = "`+abs+`"
  method = "run"
}
`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, abs, cfg.Handlers[0].Plugin)
}

// requireConfigError checks that err is a *ConfigError whose lines
// include one containing every part.
func requireConfigError(t *testing.T, err error, parts ...string) {
	t.Helper()
	require.Error(t, err)
	ce, ok := err.(*ConfigError)
	require.True(t, ok, "%T: %v", err, err)
	for _, line := range strings.Split(ce.Error(), "\n") {
		found := true
		for _, p := range parts {
			found = found && strings.Contains(line, p)
		}
		if found {
			return
		}
	}
	require.Failf(t, "no line with all parts", "parts %q\nerror:\n%s", parts, ce.Error())
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	const handler = "handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n"
	for _, tc := range []struct {
		name, file, content string
		// line is "file:line,column: ...", the file name added by the test.
		lines [][]string
	}{
		{"unknown attribute", "c.hcl", "listen_addr = \"x\"\n",
			[][]string{{":1,1: Unsupported argument", `"listen_addr" is not expected here`}}},
		{"misspelt attribute", "c.hcl", "data_dri = \"x\"\n",
			[][]string{{":1,1: Unsupported argument", `Did you mean "data_dir"?`}}},
		{"unknown handler attribute", "c.hcl", handler + "  workers = 2\n}\n",
			[][]string{{":4,3: Unsupported argument", `"workers"`}}},
		{"unknown block", "c.hcl", "handlers \"t\" {\n}\n",
			[][]string{{":1,1: Unsupported block type", `"handlers"`}}},
		{"bad duration", "c.hcl", "data_dir = \"d\"\nretry_interval = \"5x\"\n",
			[][]string{{":2,18: Invalid retry_interval", `"5x": not a duration`, `like "500ms"`}}},
		{"zero retry interval", "c.hcl", "retry_interval = \"0s\"\n",
			[][]string{{":1,18: Invalid retry_interval", "want a positive duration"}}},
		{"short cleanup interval", "c.hcl", "cleanup_interval = \"500ms\"\n",
			[][]string{{":1,20: Invalid cleanup_interval", "want at least 1s"}}},
		{"system worker count", "c.hcl", "max_system_worker_count = 0\n",
			[][]string{{":1,27: Invalid max_system_worker_count", "0: want at least 1"}}},
		{"bad listen", "c.hcl", "listen = \"7474\"\n",
			[][]string{{":1,10: Invalid listen", `"7474": want host:port`}}},
		{"empty data dir", "c.hcl", "data_dir = \"\"\n",
			[][]string{{":1,12: Invalid data_dir", "it is empty"}}},
		{"wrong type", "c.hcl", handler + "  max_worker_count = \"four\"\n}\n",
			[][]string{{":4,23: Unsuitable value type", "a number is required"}}},
		{"negative worker count", "c.hcl", handler + "  max_worker_count = -5\n}\n",
			[][]string{{":4,22: Invalid max_worker_count", `handler "t": -5: want -1 (up to the system cap) or at least 1`}}},
		{"zero worker count", "c.hcl", handler + "  max_worker_count = 0\n}\n",
			[][]string{{":4,22: Invalid max_worker_count", "0: want -1"}}},
		{"min workers over max", "c.hcl", handler + "  min_workers = 2\n}\n",
			[][]string{{":4,17: Invalid min_workers", `handler "t": 2 is more than max_worker_count 1`}}},
		{"zero concurrency", "c.hcl", handler + "  concurrency = 0\n}\n",
			[][]string{{":4,17: Invalid concurrency", `handler "t": 0: want 1 (one task per worker at a time) or more`}}},
		{"negative min workers", "c.hcl", handler + "  max_worker_count = -1\n  min_workers = -1\n}\n",
			[][]string{{":5,17: Invalid min_workers", "-1: want 0"}}},
		{"bad idle timeout", "c.hcl", handler + "  idle_shutdown_timeout = \"never\"\n}\n",
			[][]string{{":4,27: Invalid idle_shutdown_timeout", `"never": not a duration`}}},
		{"negative idle timeout", "c.hcl", handler + "  idle_shutdown_timeout = \"-1s\"\n}\n",
			[][]string{{":4,27: Invalid idle_shutdown_timeout", `"forever"`}}},
		{"negative execution timeout", "c.hcl", handler + "  execution_timeout = \"-5m\"\n}\n",
			[][]string{{":4,23: Invalid execution_timeout", "want 0s (no limit) or a positive duration"}}},
		{"bad sha256", "c.hcl", handler + "  sha256 = \"abc\"\n}\n",
			[][]string{{":4,12: Invalid sha256", "want 64 hexadecimal digits"}}},
		{"config not an object", "c.hcl", handler + "  config = \"x=1\"\n}\n",
			[][]string{{":4,12: Invalid config", "it is a string: want an object"}}},
		{"config with a variable", "c.hcl", handler + "  config = { dir = var.dir }\n}\n",
			[][]string{{":4,20: Variables not allowed"}}},
		{"duplicate handler", "c.hcl", handler + "}\n" + handler + "}\n",
			[][]string{{":5,9: Duplicate handler", `handler "t" is already defined at`, "c.hcl:1"}}},
		{"missing method", "c.hcl", "handler \"t\" {\n}\n",
			[][]string{{":1,13: Missing required argument", `"method" is required`}}},
		{"missing plugin", "c.hcl", "handler \"t\" {\n  method = \"run\"\n}\n",
			[][]string{{":1,1: Missing required argument", `"plugin" is required (or runtime = "node")`}}},
		{"missing label", "c.hcl", "handler {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n",
			[][]string{{":1,9: Missing type for handler", "(type)"}}},
		{"empty method", "c.hcl", "handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"\"\n}\n",
			[][]string{{":3,12: Invalid method", "it is empty"}}},
		{"plugin not found", "c.hcl", "handler \"t\" {\n  plugin = \"./bin/nope\"\n  method = \"run\"\n}\n",
			[][]string{{":2,12: Plugin not found", "bin/nope", "no such file"}}},
		{"plugin not executable", "c.hcl", "handler \"t\" {\n  plugin = \"./bin/notes.txt\"\n  method = \"run\"\n}\n",
			[][]string{{":2,12: Invalid plugin", "is not an executable file"}}},
		{"plugin is a directory", "c.hcl", "handler \"t\" {\n  plugin = \"./bin\"\n  method = \"run\"\n}\n",
			[][]string{{":2,12: Invalid plugin", "is not an executable file"}}},
		{"syntax error", "c.hcl", "handler \"t\" {\n  plugin = \n",
			[][]string{{":2,"}}},
		{"json syntax error", "c.json", "{\"listen\": }\n",
			[][]string{{":1,12: Missing JSON value"}}},
		{"json bad duration", "c.json", "{\n  \"retry_interval\": \"soon\"\n}\n",
			[][]string{{":2,21: Invalid retry_interval", `"soon"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, configDir(t), tc.file, tc.content)
			_, err := LoadConfig(path)
			for _, parts := range tc.lines {
				requireConfigError(t, err, append([]string{path + parts[0]}, parts[1:]...)...)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tc.lines), err.Error())
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.hcl")
	_, err := LoadConfig(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, path)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate())
	cfg.Listen = "localhost"
	require.ErrorContains(t, cfg.Validate(), `listen address: "localhost": want host:port`)
	cfg = DefaultConfig()
	cfg.DataDir = ""
	require.ErrorContains(t, cfg.Validate(), "no data directory")
}

func TestConfigErrorIsOneLinePerProblem(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, configDir(t), "c.hcl", "retry_interval = \"x\"\ncleanup_interval = \"y\"\n")
	_, err := LoadConfig(path)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2)
	require.True(t, strings.HasPrefix(lines[0], path+":1,18: "), lines[0])
	require.True(t, strings.HasPrefix(lines[1], path+":2,20: "), lines[1])
	// Nothing in a line needs JSON escaping to be shown as it is.
	_, jerr := json.Marshal(lines)
	require.NoError(t, jerr)
}
