package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
)

func TestLoadConfigClusterMode(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	cfg, err := LoadConfig(writeConfig(t, dir, "taskhost.hcl", `
node_id = "node-a"
lease   = "12s"
store {
  postgres = "postgres://app:s3cret@db.internal:5432/tasks?sslmode=disable"
  schema   = "tenant_a"
}
`))
	require.NoError(t, err)
	require.Equal(t, "node-a", cfg.NodeID)
	require.Equal(t, 12*time.Second, cfg.Lease)
	require.NotNil(t, cfg.Store)
	require.Equal(t, "postgres://app:s3cret@db.internal:5432/tasks?sslmode=disable", cfg.Store.Postgres)
	require.Equal(t, "tenant_a", cfg.Store.Schema)

	// The schema has a default; the URL may come from the environment.
	cfg, err = LoadConfig(writeConfig(t, dir, "env.hcl", "store {}\n"))
	require.NoError(t, err)
	require.Equal(t, DefaultSchema, cfg.Store.Schema)
	require.NoError(t, cfg.resolveStore(func(k string) string {
		if k == DatabaseURLEnv {
			return "postgres://u@h/d"
		}
		return ""
	}))
	require.Equal(t, "postgres://u@h/d", cfg.Store.Postgres)
	cfg, err = LoadConfig(writeConfig(t, dir, "env.hcl", "store {}\n"))
	require.NoError(t, err)
	err = cfg.resolveStore(func(string) string { return "" })
	require.ErrorContains(t, err, "env.hcl:1: the store block has no postgres URL and TASKHOST_DATABASE_URL is not set")
	require.ErrorContains(t, cfg.resolveStore(func(string) string { return "mysql://u:pw@h/d" }), "TASKHOST_DATABASE_URL: mysql://u:xxxxx@h/d: want postgres://")

	def := DefaultConfig()
	require.Nil(t, def.Store, "no store block: Badger")
	require.Equal(t, DefaultLease, def.Lease)
	require.Empty(t, def.NodeID, "chosen at serve: main on Badger, host-pid in a cluster")
}

func TestLoadConfigClusterModeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content, want string }{
		{"bad node id", `node_id = "node a"`, `:1,11: Invalid node_id: invalid argument: node id "node a": character ' '`},
		{"short lease", `lease = "1s"`, `:1,9: Invalid lease: "1s": want at least 3s`},
		{"bad lease", `lease = "soon"`, `Invalid lease: "soon"`},
		{"bad schema", "store {\n  schema = \"Tenant-A\"\n}", `:2,12: Invalid schema: "Tenant-A": want 1 to 63 lower-case letters`},
		{"not postgres", "store {\n  postgres = \"mysql://u:pw@h/d\"\n}", `Invalid postgres: mysql://u:xxxxx@h/d: want postgres://`},
		{"not a URL", "store {\n  postgres = \"postgres://u:pw@h:port/d\"\n}", `Invalid postgres: it does not parse as a URL`},
		{"two stores", "store {}\nstore {}", `:2,1: Duplicate store: the store is already defined at`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t)
			_, err := LoadConfig(writeConfig(t, dir, "c.hcl", tc.content+"\n"))
			requireConfigError(t, err, "c.hcl", tc.want)
			require.NotContains(t, err.Error(), "pw@", "a password never shows")
		})
	}
}

func TestDefaultNodeID(t *testing.T) {
	t.Parallel()
	id := defaultNodeID()
	require.NoError(t, host.ValidateNodeID(id))
	require.True(t, strings.HasSuffix(id, "-"+strconv.Itoa(os.Getpid())), id)
	name, err := os.Hostname()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(id, strings.TrimLeft(name, ".-_")[:1]), "%s starts with the host name %s", id, name)
}

// The cluster example loads: a store block whose URL comes from the
// environment.
func TestClusterExampleConfigLoads(t *testing.T) {
	t.Parallel()
	// Its plugins are make build's: stand-ins where it would put them.
	dir := t.TempDir()
	src, err := os.ReadFile("../../../examples/cluster.hcl")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "examples"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "examples", "cluster.hcl"), src, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin", "plugins"), 0o755))
	for _, name := range []string{"imageworker", "importworker"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "plugins", name), []byte("#!/bin/sh\n"), 0o755))
	}
	cfg, err := LoadConfig(filepath.Join(dir, "examples", "cluster.hcl"))
	require.NoError(t, err)
	require.NotNil(t, cfg.Store)
	require.Equal(t, "taskhost_example", cfg.Store.Schema)
	require.Equal(t, 10*time.Second, cfg.Lease)
	require.Len(t, cfg.Handlers, 2)
	require.NoError(t, cfg.resolveStore(func(string) string { return "postgres://postgres@127.0.0.1:55432/postgres" }))
	require.NoError(t, cfg.Validate())
}
