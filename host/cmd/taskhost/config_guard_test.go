package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadConfigAPIGuardAndStrictTypes(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	cfg, err := LoadConfig(writeConfig(t, dir, "taskhost.hcl", `
allowed_hosts   = ["tasks.internal", "ops.internal:8080", "10.0.0.5", "[fd00::1]:7474", "*"]
allowed_origins = ["https://ops.example:8443", "http://localhost:3000"]
strict_types    = true

handler "t" {
  plugin = "./bin/worker"
  method = "run"
}

schedule "s" {
  interval_minutes = 5
  task { type = "t" }
}
`))
	require.NoError(t, err)
	require.Equal(t, []string{"tasks.internal", "ops.internal:8080", "10.0.0.5", "[fd00::1]:7474", "*"}, cfg.AllowedHosts)
	require.Equal(t, []string{"https://ops.example:8443", "http://localhost:3000"}, cfg.AllowedOrigins)
	require.True(t, cfg.StrictTypes)

	def := DefaultConfig()
	require.False(t, def.StrictTypes)
	require.Empty(t, def.AllowedHosts)
	require.Empty(t, def.AllowedOrigins)
}

func TestLoadConfigAPIGuardAndStrictTypesErrors(t *testing.T) {
	t.Parallel()
	const schedule = "schedule \"nightly\" {\n  interval_days = 1\n  task { type = \"nosuch-typo\" }\n}\n"
	for _, tc := range []struct{ name, content, want string }{
		{"host with a path", `allowed_hosts = ["tasks.internal/x"]`, `:1,17: Invalid allowed_hosts: "tasks.internal/x": want "*", a host name`},
		{"host with a bad port", `allowed_hosts = ["tasks.internal:0"]`, "the port is not a number from 1 to 65535"},
		{"empty host", `allowed_hosts = [""]`, "Invalid allowed_hosts"},
		{"origin with a path", `allowed_origins = ["https://ops.example/ui"]`, `Invalid allowed_origins: "https://ops.example/ui": want an origin as browsers send it`},
		{"origin without scheme", `allowed_origins = ["ops.example"]`, "Invalid allowed_origins"},
		{"origin wildcard", `allowed_origins = ["*"]`, "Invalid allowed_origins"},
		{"strict types not a bool", `strict_types = "yes"`, "strict_types"},
		{"strict schedule without handler", "strict_types = true\n" + schedule,
			`:2,1: Schedule of a type without a handler: schedule "nightly" creates tasks of type "nosuch-typo", which no handler block declares, and strict_types is on: want one of none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t)
			_, err := LoadConfig(writeConfig(t, dir, "c.hcl", tc.content+"\n"))
			requireConfigError(t, err, "c.hcl", tc.want)
		})
	}

	// Without strict_types such a schedule loads (serve warns of it).
	dir := configDir(t)
	cfg, err := LoadConfig(writeConfig(t, dir, "c.hcl", schedule))
	require.NoError(t, err)
	require.Len(t, cfg.Schedules, 1)
}
