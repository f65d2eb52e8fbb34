package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

func TestWorkerRecycledAfterMaxTasks(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxTasksPerWorker = 2
	p := newPool(t, NewSystem(1), cfg)
	var pids []int
	for range 5 {
		pids = append(pids, callPID(t, p, `{}`))
	}
	require.Equal(t, pids[0], pids[1])
	require.Equal(t, pids[2], pids[3])
	require.NotEqual(t, pids[1], pids[2])
	require.NotEqual(t, pids[3], pids[4])
	require.Equal(t, uint64(2), p.Stats().Recycled)
	eventually(t, "recycled workers to exit", func() bool { return !testplugin.Alive(pids[0]) && !testplugin.Alive(pids[2]) })
}

func TestMemoryLimitKillsWorker(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "alloc"
	cfg.MemoryLimit = 64 << 20
	p := newPool(t, NewSystem(1), cfg)

	// Within the limit: fine, and the worker stays.
	_, err := call(t, p, `{"MB":8}`)
	require.NoError(t, err)
	pid := p.Stats().Workers[0].PID

	_, err = call(t, p, `{"MB":300,"HoldMS":60000}`)
	te := requireTaskError(t, err, shared.ErrorNameMemoryLimit, "limit of 64 MiB", "killed")
	require.Regexp(t, `used \d+ MiB`, te.Message)
	require.False(t, testplugin.Alive(pid))
	require.Equal(t, uint64(1), p.Stats().MemoryKills)

	_, err = call(t, p, `{"MB":1}`)
	require.NoError(t, err, "the next call gets a fresh worker")
}

func pluginEnv(t *testing.T, cfg Config) map[string]string {
	t.Helper()
	cfg.Method = "env"
	p := newPool(t, NewSystem(1), cfg)
	out, err := call(t, p, `{}`)
	require.NoError(t, err)
	var lines []string
	require.NoError(t, json.Unmarshal(out, &lines))
	env := map[string]string{}
	for _, kv := range lines {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// Not parallel: it sets a variable in the test process's environment.
func TestPluginsGetACleanEnvironment(t *testing.T) {
	t.Setenv("TASKHOST_TOKEN", "secret-token")
	require.NotEmpty(t, os.Getenv("PATH"))
	cfg := setup(t)
	cfg.Env = map[string]string{"REGION": "eu-1"}
	cfg.MemoryLimit = 512 << 20
	env := pluginEnv(t, cfg)

	require.Equal(t, "eu-1", env["REGION"])
	require.Equal(t, "483183820", env["GOMEMLIMIT"], "GOMEMLIMIT is 90% of the memory limit")
	require.Equal(t, "1", env["GOMAXPROCS"], "a worker runs one call at a time")
	require.NotContains(t, env, "TASKHOST_TOKEN", "the host's secrets never reach a plugin")
	require.NotContains(t, env, "PATH")
	for k := range env {
		ok := k == "REGION" || k == "GOMEMLIMIT" || k == "GOMAXPROCS" || strings.HasPrefix(k, "PLUGIN_") || k == "TASKHOST_PLUGIN"
		require.True(t, ok, "unexpected variable %s in the plugin's environment", k)
	}

	cfg.Env = map[string]string{"GOMAXPROCS": "2", "GOMEMLIMIT": "100MiB"}
	env = pluginEnv(t, cfg)
	require.Equal(t, "2", env["GOMAXPROCS"], "the handler's env wins")
	require.Equal(t, "100MiB", env["GOMEMLIMIT"], "the handler's env wins")
}

func TestResultTooLarge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		protocol int
		farOver  string // what the error says of a result gRPC would not read
	}{
		// On the calls stream the plugin sends the size instead.
		{shared.ProtocolCalls, "returned 4000002 bytes"},
		// A unary answer is refused unread.
		{shared.ProtocolUnary, "returned more bytes"},
	} {
		t.Run(fmt.Sprintf("protocol %d", tc.protocol), func(t *testing.T) {
			t.Parallel()
			cfg := setup(t)
			cfg.Method = "big"
			cfg.MaxResultSize = 1 << 10
			cfg.maxProtocol = tc.protocol
			p := newPool(t, NewSystem(1), cfg)

			_, err := call(t, p, `{"Bytes":100}`)
			require.NoError(t, err)
			pid := p.Stats().Workers[0].PID

			_, err = call(t, p, `{"Bytes":2000}`)
			requireTaskError(t, err, shared.ErrorNameResultTooLarge, "returned 2002 bytes", "limit is 1024 bytes")
			// Far over what gRPC will even read.
			_, err = call(t, p, `{"Bytes":4000000}`)
			requireTaskError(t, err, shared.ErrorNameResultTooLarge, tc.farOver, "limit is 1024 bytes")

			_, err = call(t, p, `{"Bytes":10}`)
			require.NoError(t, err)
			require.Equal(t, pid, p.Stats().Workers[0].PID, "a refused result does not cost the worker")
		})
	}
}

func TestWritableBinaryIsRefused(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	require.NoError(t, os.Chmod(bin, 0o775))
	cfg := setup(t)
	cfg.Path = bin
	_, err := New(context.Background(), NewSystem(1), cfg)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "writable by its group or others")

	// Also at every start, not only at registration.
	require.NoError(t, os.Chmod(bin, 0o755))
	cfg.IdleShutdownTimeout = 0
	p := newPool(t, NewSystem(1), cfg)
	callPID(t, p, `{}`)
	eventually(t, "worker to stop", func() bool { return len(testplugin.Running(bin)) == 0 })
	require.NoError(t, os.Chmod(bin, 0o757))
	_, err = call(t, p, `{}`)
	require.ErrorContains(t, err, "writable by its group or others")
}

func TestSegfaultOutsideTheSDKIsWorkerCrashed(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "segv"
	p := newPool(t, NewSystem(1), cfg)
	_, err := call(t, p, `{}`)
	requireTaskError(t, err, shared.ErrorNameWorkerCrashed, "exit status 2", "nil pointer dereference")
}

func TestGarbageOnStdoutIsHarmless(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "garbage"
	p := newPool(t, NewSystem(1), cfg)
	for range 3 {
		out, err := call(t, p, `{}`)
		require.NoError(t, err)
		require.JSONEq(t, `"wrote garbage"`, string(out))
	}
	require.Equal(t, uint64(1), p.Stats().Spawns)
}

func TestClosedConnectionIsWorkerCrashed(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	cfg := setup(t)
	cfg.Path, cfg.Method = bin, "closeconn"
	p := newPool(t, NewSystem(1), cfg)
	_, err := call(t, p, `{}`)
	requireTaskError(t, err, shared.ErrorNameWorkerCrashed, "stopped answering")
	require.Empty(t, testplugin.Running(bin), "the silent worker was killed")
}
