package pool

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// A worker that cannot start fails the call with a task error: a bare
// error means "never started, the pool closed" to the engine, which then
// requeued the task without using a retry, in a loop.
func TestWorkerThatCannotStartFailsTheCallWithATaskError(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	cfg := setup(t)
	cfg.Path, cfg.IdleShutdownTimeout = bin, 0
	p := newPool(t, NewSystem(1), cfg)
	callPID(t, p, `{}`)
	eventually(t, "worker to stop", func() bool { return len(testplugin.Running(bin)) == 0 })

	require.NoError(t, os.Remove(bin))
	_, err := call(t, p, `{}`)
	requireTaskError(t, err, shared.ErrorNameWorkerStart, "could not start a worker", bin, "no such file or directory")

	// Not a plugin at all: no handshake.
	require.NoError(t, testplugin.WriteExecutable(bin, []byte("#!/bin/sh\necho not a plugin\nexit 3\n")))
	_, err = call(t, p, `{}`)
	requireTaskError(t, err, shared.ErrorNameWorkerStart, "did not complete the taskhost handshake")

	// A failing initialise method keeps its own name.
	cfg = setup(t)
	cfg.InitialiseMethod, cfg.InitConfig = "initialise", []byte(`{"failInitialise":true}`)
	_, err = call(t, newPool(t, NewSystem(1), cfg), `{}`)
	requireTaskError(t, err, shared.ErrorNameInitialise)

	require.Equal(t, uint64(2), p.Stats().SpawnFailures)
}
