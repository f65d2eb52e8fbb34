package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
)

func TestLoadConfigReliabilityKnobs(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	path := writeConfig(t, dir, "taskhost.hcl", `
api_token       = "t0ken"
drain_timeout   = "45s"
max_result_size = "4MiB"
host_memory_limit = "512MiB"

handler "t" {
  plugin               = "./bin/worker"
  method               = "run"
  max_tasks_per_worker = 100
  memory_limit         = "256MiB"
  env                  = { REGION = "eu-1", LOG_LEVEL = "debug" }
}
`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Equal(t, "t0ken", cfg.APIToken)
	require.Equal(t, 45*time.Second, cfg.DrainTimeout)
	require.Equal(t, 4<<20, cfg.MaxResultSize)
	require.Equal(t, int64(512<<20), cfg.HostMemoryLimit)
	o := cfg.Handlers[0].Options
	require.Equal(t, 100, o.MaxTasksPerWorker)
	require.Equal(t, int64(256<<20), o.MemoryLimit)
	require.Equal(t, map[string]string{"REGION": "eu-1", "LOG_LEVEL": "debug"}, o.Env)

	def := DefaultConfig()
	require.Equal(t, 30*time.Second, def.DrainTimeout)
	require.Equal(t, 16<<20, def.MaxResultSize)
	require.Equal(t, int64(host.DefaultProcessMemoryLimit), def.HostMemoryLimit)

	none, err := LoadConfig(writeConfig(t, dir, "none.hcl", "host_memory_limit = \"0\"\n"))
	require.NoError(t, err)
	require.Zero(t, none.HostMemoryLimit)
}

func TestLoadConfigReliabilityKnobErrors(t *testing.T) {
	t.Parallel()
	const handler = "handler \"t\" {\n  plugin = \"./bin/worker\"\n  method = \"run\"\n"
	for _, tc := range []struct{ name, content, want string }{
		{"memory limit unit", handler + "  memory_limit = \"256 apples\"\n}\n", `:4,18: Invalid memory_limit: handler "t": "256 apples": not a size`},
		{"memory limit too small", handler + "  memory_limit = \"1MiB\"\n}\n", "want at least 16MiB"},
		{"negative recycling", handler + "  max_tasks_per_worker = -1\n}\n", `:4,26: Invalid max_tasks_per_worker: handler "t": -1: want 0`},
		{"env name", handler + "  env = { \"A=B\" = \"x\" }\n}\n", `Invalid env: handler "t": variable name "A=B"`},
		{"drain timeout", "drain_timeout = \"soon\"\n", `:1,17: Invalid drain_timeout: "soon": not a duration`},
		{"result size", "max_result_size = \"0B\"\n", "Invalid max_result_size"},
		{"host memory limit unit", "host_memory_limit = \"lots\"\n", `:1,21: Invalid host_memory_limit: "lots": not a size`},
		{"host memory limit too small", "host_memory_limit = \"8MiB\"\n", `Invalid host_memory_limit: "8MiB": want "0" (no limit) or at least 32MiB`},
		{"empty token", "api_token = \" \"\n", "Invalid api_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t)
			_, err := LoadConfig(writeConfig(t, dir, "c.hcl", tc.content))
			requireConfigError(t, err, "c.hcl", tc.want)
		})
	}
}

func TestConfigValidateRequiresTokenOffLoopback(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"127.0.0.1:7474", "localhost:7474", "[::1]:7474"} {
		cfg := DefaultConfig()
		cfg.Listen = listen
		require.NoError(t, cfg.Validate(), listen)
	}
	for _, listen := range []string{"0.0.0.0:7474", ":7474", "10.0.0.5:7474", "[::]:7474"} {
		cfg := DefaultConfig()
		cfg.Listen = listen
		require.ErrorContains(t, cfg.Validate(), "without an API token", listen)
		cfg.APIToken = "t"
		require.NoError(t, cfg.Validate(), listen)
	}
}
