package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/scheduler"
)

// configHang is how long LoadConfig may take before it counts as hung.
const configHang = 10 * time.Second

// configSeeds are config files, valid and typically malformed; the
// plugin ./bin/worker exists and is executable, ./bin/notes.txt is not.
var configSeeds = []string{
	`
data_dir                = "./data"
listen                  = "127.0.0.1:7474"
max_system_worker_count = 8
retry_interval          = "5s"
cleanup_interval        = "2m"

handler "image-resize" {
  plugin                = "./bin/worker"
  method                = "resize"
  max_worker_count      = 4
  idle_shutdown_timeout = "60s"
  initialise_method     = "initialise"
  shutdown_method       = "shutdown"
  execution_timeout     = "5m"
  sha256                = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  config                = { output_dir = "./out", sizes = [1, 2.5, -3e2], deep = { on = true, off = null } }
}
`,
	`
schedule "daily-sync" {
  interval_days = 1
  task {
    type        = "catalogue-import"
    payload     = { source = "tenant-a", n = 1e300 }
    retry_count = 2
    retain_for  = "24h"
  }
}
schedule "c" {
  cron = "0 3 * * *"
  task { type = "t" }
}
schedule "n" {
  next_trigger_time = "2030-01-02T03:04:05Z"
  task {
    type = "t"
    retain_for = "forever"
  }
}
`,
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  max_worker_count = -1\n  idle_shutdown_timeout = \"forever\"\n}\n",
	"",
	"\n\n\n",
	"# only a comment\n// and another\n/* and a block */\n",
	"data_dir = \"d\"\ndata_dir = \"e\"\n",           // duplicate attribute
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n", // truncated
	"handler \"t\" {\n  plugin = \n",
	"listen = \"127.0.0.1:7474",     // unterminated string
	"listen = <<EOT\n127.0.0.1:1\n", // unterminated heredoc
	"listen = \"${\"",
	"listen = \"${1 + }\"",
	"listen = \"%{ for x in [1] }${x}%{ endfor }\"",
	"data_dir = 1\n",
	"data_dir = [\"a\"]\n",
	"data_dir = \"\\u0000\"\n",
	"data_dir = \"日本\"\nlisten = \"[::1]:99999\"\n",
	"listen = \"localhost:http\"\n",
	"listen = \"1.2.3.4:\"\n",
	"max_system_worker_count = 99999999999999999999\n",
	"max_system_worker_count = 1.5\n",
	"max_system_worker_count = -1\n",
	"max_system_worker_count = 1e400\n", // beyond float64
	"retry_interval = \"-5s\"\n",
	"retry_interval = \"9999999999h\"\n", // overflows a duration
	"cleanup_interval = \"1ns\"\n",
	"handler \"a b\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n",     // a type the engine refuses
	"handler \"../x\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n",    // path in a type
	"handler \"\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n",        // empty type
	"handler \"t\" \"u\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n", // two labels
	"handler \"t\" {\n  plugin = \"../../../../../../bin/sh\"\n  method = \"run\"\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/notes.txt\"\n  method = \"run\"\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  config = { a = 1e99 }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  config = { a = \"${1e99}\" }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  config = [for x in [1, 2] : x * 1e300]\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  config = { a = upper(\"x\") }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  config = { a = { b = { c = [[[[[[[[[[1]]]]]]]]]] } } }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  config = { \"a\" = 1, \"a\" = 2 }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  sha256 = \"\"\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  execution_timeout = \"1e9h\"\n}\n",
	"schedule \"s\" {\n  interval_minutes = 0\n  task { type = \"t\" }\n}\n",
	"schedule \"s\" {\n  interval_hours = 1e18\n  task { type = \"t\" }\n}\n",
	"schedule \"s\" {\n  cron = \"* * * * * * *\"\n  task { type = \"t\" }\n}\n",
	"schedule \"s\" {\n  cron = \"@every 0s\"\n  task { type = \"t\" }\n}\n",
	"schedule \"s\" {\n  cron = \"0 0 31 2 *\"\n  task { type = \"t\" }\n}\n", // never fires
	"schedule \"s\" {\n  next_trigger_time = \"tomorrow\"\n  task { type = \"t\" }\n}\n",
	"schedule \"s\" {\n  interval_days = 1\n}\n",
	"schedule \"s\\u0000\" {\n  interval_days = 1\n  task { type = \"t\" }\n}\n",
	"schedule \"s\" {\n  interval_days = 1\n  task {\n    type = \"t\"\n    retain_for = \"-1s\"\n    retry_count = -1\n    retry_interval = \"0s\"\n  }\n}\n",
	"schedule \"s\" {\n  interval_days = 1\n  task {\n    type = \"t\"\n    payload = 1e-99\n  }\n}\n",
	"\x00\x01\x02",
	"\xff\xfe d = 1",
	"\xef\xbb\xbfdata_dir = \"d\"\n", // BOM
	"data_dir = \"d\"\r\nlisten = \"x\"\r\n",
	"api_token = \"s3cret\"\ndrain_timeout = \"45s\"\nmax_result_size = \"4MiB\"\n",
	"api_token = \"\"\n",
	"api_token = \" s3cret\"\n",   // a client cannot send the leading space
	"api_token = \"s3\\ncret\"\n", // nor a newline
	"api_token = \"s3\\u0000cret\"\n",
	"drain_timeout = \"-1s\"\n",
	"max_result_size = \"0B\"\n",
	"host_memory_limit = \"0\"\nhost_memory_limit = \"1KiB\"\n",
	"host_memory_limit = \"64MiB\"\n",
	"max_result_size = \"9223372036854775807KiB\"\n",
	"max_result_size = \"1e3MiB\"\n",
	"max_result_size = \" 12 MiB \"\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  max_tasks_per_worker = 100\n  memory_limit = \"256MiB\"\n  env = { REGION = \"eu-1\" }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  max_tasks_per_worker = -1\n  memory_limit = \"1MiB\"\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  env = { \"A=B\" = \"x\", \"\" = \"y\" }\n}\n",
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  env = { A = \"x\\u0000y\" }\n}\n", // exec refuses a NUL
	"handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n  env = { A = 1, B = null, C = [1] }\n}\n",
	"a = " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n",
	"a = " + strings.Repeat("{a=", 200) + "1" + strings.Repeat("}", 200) + "\n",
	"a = " + strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000) + "\n",
	strings.Repeat("handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n", 3),
}

// configJSONSeeds are config files in JSON syntax.
var configJSONSeeds = []string{
	`{"data_dir": "./data", "listen": "127.0.0.1:7474", "handler": {"t": {"plugin": "./bin/worker", "method": "run", "config": {"a": [1, 2]}}}}`,
	`{"handler": [{"t": {"plugin": "./bin/worker", "method": "run"}}, {"u": {"plugin": "./bin/worker", "method": "run"}}]}`,
	`{"schedule": {"s": {"interval_days": 1, "task": {"type": "t", "payload": {"n": 1e300}}}}}`,
	`{}`, ``, `[]`, `null`, `"x"`, `{"listen": }`, `{"listen": "a:1"`, `{"listen": "a:1"} x`,
	`{"data_dir": "${1 + 1}"}`, `{"data_dir": 1e400}`, `{"data_dir": "d", "data_dir": "e"}`,
	`{"max_system_worker_count": 1e400}`, `{"max_system_worker_count": -0}`, `{"max_system_worker_count": "8"}`,
	`{"handler": {"t": {"plugin": "./bin/worker", "method": "run", "config": 1}}}`,
	`{"handler": {"a b": {"plugin": "./bin/worker", "method": "run"}}}`,
	`{"handler": {"t": {"plugin": "./bin/worker", "method": "run", "config": {"a": 1e99}}}}`,
	`{"handler": {"t": {"plugin": "./bin/worker", "method": "run", "config": {"a": "${1e99}"}}}}`,
	`{"handler": {"t": {"plugin": "./bin/worker", "method": "run", "unknown": 1}}}`,
	`{"handler": "t"}`,
	`{"a": ` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`,
	"{\"data_dir\": \"\u0000\"}", "{\"data_dir\": \"\xff\"}",
	`{"//": "a comment", "data_dir": "d"}`,
}

// configLine is how a line of a ConfigError starts: file:line,column.
var configLine = regexp.MustCompile(`^(.+):(\d+),(\d+): \S`)

// FuzzLoadConfig fuzzes the config file, in HCL syntax (taskhost.hcl)
// or, with asJSON, in JSON syntax (taskhost.json). LoadConfig must return
// within configHang either a configuration the daemon can use as it is
// or a *ConfigError every line of which is one problem, at file:line,column
// of this file.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s), false)
	}
	for _, s := range configJSONSeeds {
		f.Add([]byte(s), true)
	}
	dir := f.TempDir()
	require.NoError(f, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(f, os.WriteFile(filepath.Join(dir, "bin", "worker"), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(f, os.WriteFile(filepath.Join(dir, "bin", "notes.txt"), []byte("notes"), 0o644))
	f.Fuzz(func(t *testing.T, src []byte, asJSON bool) {
		path := filepath.Join(dir, "taskhost.hcl")
		if asJSON {
			path = filepath.Join(dir, "taskhost.json")
		}
		require.NoError(t, os.WriteFile(path, src, 0o644))
		var cfg *Config
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			cfg, err = LoadConfig(path)
		}()
		select {
		case <-done:
		case <-time.After(configHang):
			t.Fatalf("LoadConfig took more than %v", configHang)
		}
		if err != nil {
			requireConfigErrorAt(t, err, path, src)
			return
		}
		requireUsableConfig(t, cfg, path)
	})
}

// requireConfigErrorAt checks that err is a *ConfigError each line of
// which starts with path:line,column, within src.
func requireConfigErrorAt(t *testing.T, err error, path string, src []byte) {
	t.Helper()
	var ce *ConfigError
	require.True(t, errors.As(err, &ce), "%T: %v", err, err)
	lines := 1 + bytes.Count(src, []byte("\n")) + bytes.Count(src, []byte("\r"))
	n := 0
	for _, d := range ce.Diagnostics {
		if d.Severity != hcl.DiagError {
			continue
		}
		n++
		require.NotNil(t, d.Subject, "%q has no place", d.Summary)
		require.Equal(t, path, d.Subject.Filename)
		require.True(t, d.Subject.Start.Line >= 1 && d.Subject.Start.Line <= lines,
			"%q at line %d of %d", d.Summary, d.Subject.Start.Line, lines)
	}
	require.Positive(t, n, "an error without diagnostics")
	msg := err.Error()
	require.Len(t, strings.Split(msg, "\n"), n, "one problem a line: %s", msg)
	for _, line := range strings.Split(msg, "\n") {
		m := configLine.FindStringSubmatch(line)
		require.NotNil(t, m, "no file:line,column: %q", line)
		require.Equal(t, path, m[1], line)
	}
}

// requireUsableConfig checks that cfg holds nothing the daemon or the
// engine would refuse later, where the file could no longer be named.
func requireUsableConfig(t *testing.T, cfg *Config, path string) {
	t.Helper()
	require.Equal(t, path, cfg.File)
	// Validate also weighs flags and the environment (an API token for a
	// non-loopback listen): only its checks of the file's values apply.
	require.NotEmpty(t, cfg.DataDir)
	require.NoError(t, checkListen(cfg.Listen))
	// The default, ./data, is relative to the working directory; a
	// data_dir in the file to the file's.
	require.True(t, cfg.DataDir == DefaultDataDir || filepath.IsAbs(cfg.DataDir), cfg.DataDir)
	require.GreaterOrEqual(t, cfg.MaxSystemWorkerCount, 1)
	require.Positive(t, cfg.RetryInterval)
	require.GreaterOrEqual(t, cfg.CleanupInterval, host.MinCleanupInterval)
	require.GreaterOrEqual(t, cfg.DrainTimeout, time.Duration(0))
	require.Positive(t, cfg.MaxResultSize)
	require.True(t, cfg.HostMemoryLimit == 0 || cfg.HostMemoryLimit >= minHostMemoryLimit, "host_memory_limit %d", cfg.HostMemoryLimit)
	if cfg.APIToken != "" {
		// A client must be able to send it in Authorization: Bearer
		// <token>: no control characters, no blanks around it.
		require.False(t, strings.ContainsFunc(cfg.APIToken, func(r rune) bool { return r < ' ' || r == 0x7f }), "api_token %q", cfg.APIToken)
		require.Equal(t, strings.Trim(cfg.APIToken, " "), cfg.APIToken, "api_token %q", cfg.APIToken)
	}
	for _, hc := range cfg.Handlers {
		require.NoError(t, host.ValidateTaskType(hc.Type))
		require.True(t, filepath.IsAbs(hc.Plugin), hc.Plugin)
		require.NotEmpty(t, hc.Method)
		o := hc.Options
		require.True(t, o.MaxWorkerCount == -1 || o.MaxWorkerCount >= 1, "max workers %d", o.MaxWorkerCount)
		require.True(t, o.IdleShutdownTimeout >= 0 || o.IdleShutdownTimeout == host.KeepForever, "idle %v", o.IdleShutdownTimeout)
		require.GreaterOrEqual(t, o.ExecutionTimeout, time.Duration(0))
		require.GreaterOrEqual(t, o.MaxTasksPerWorker, 0)
		require.True(t, o.MemoryLimit == 0 || o.MemoryLimit >= 16<<20, "memory limit %d", o.MemoryLimit)
		for k, v := range o.Env {
			// What the plugin's exec would refuse.
			require.True(t, k != "" && !strings.ContainsAny(k, "=\x00"), "env name %q", k)
			require.NotContains(t, v, "\x00", "env %s", k)
		}
		if o.Config != nil {
			var obj map[string]any
			require.NoError(t, json.Unmarshal(o.Config, &obj), "config %s", o.Config)
		}
	}
	for _, sc := range cfg.Schedules {
		require.NoError(t, scheduler.ValidateID(sc.ID))
		require.NoError(t, host.ValidateTaskType(sc.Task.Type))
		if sc.Task.Payload != nil {
			require.True(t, json.Valid(sc.Task.Payload), "payload %s", sc.Task.Payload)
		}
		o := sc.Task.Options
		require.GreaterOrEqual(t, o.RetryCount, 0)
		require.GreaterOrEqual(t, o.RetryInterval, time.Duration(0))
		require.True(t, o.RetainFor >= 0 || o.RetainFor == host.RetainForever, "retain %v", o.RetainFor)
	}
}

// TestLoadConfigFuzzFindings pins what fuzzing found: numbers a float64
// cannot hold took minutes to load (HCL writes them out digit by digit);
// and values that fail only later loaded: a handler type the engine
// refuses, an api_token no client can send, an env value exec refuses.
func TestLoadConfigFuzzFindings(t *testing.T) {
	t.Parallel()
	const handler = "handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n"
	for _, tc := range []struct {
		file, content string
		parts         []string
	}{
		{"c.hcl", handler + "  config = { a = 1e99999999 }\n}\n", []string{":4,18: Invalid number", "1e99999999 is out of range"}},
		{"c.hcl", "data_dir = -1e-99999999\n", []string{":1,13: Invalid number", "1e-99999999 is out of range"}},
		{"c.hcl", "listen = \"${1e400}\"\n", []string{":1,13: Invalid number"}},
		{"c.json", "{\n  \"data_dir\": 1e99999999\n}\n", []string{":2,15: Invalid number"}},
		{"c.hcl", "handler \"a b\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n}\n",
			[]string{":1,9: Invalid handler type", `handler "a b": task type "a b": character ' ' at 1 is not allowed`}},
		{"c.hcl", "api_token = \"s3cret \"\n", []string{":1,13: Invalid api_token", "no client could send it"}},
		{"c.hcl", "api_token = \"s3\\ncret\"\n", []string{":1,13: Invalid api_token", "control characters"}},
		{"c.hcl", handler + "  env = { A = \"x\\u0000y\" }\n}\n", []string{":4,9: Invalid env", `variable "A": its value has a NUL`}},
	} {
		path := writeConfig(t, configDir(t), tc.file, tc.content)
		_, err := LoadConfig(path)
		requireConfigError(t, err, append([]string{path + tc.parts[0]}, tc.parts[1:]...)...)
	}
	// Numbers a float64 holds are fine, however long they are written.
	path := writeConfig(t, configDir(t), "c.hcl", handler+"  config = { big = 1.7e308, small = 5e-324, zero = 0e-99999999 }\n}\n")
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Len(t, cfg.Handlers, 1)
}
