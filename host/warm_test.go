package host_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

func TestMinWorkersAreStartedAtRegistrationAndShown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo", func(o *host.HandlerOptions) {
		o.MaxWorkerCount = 3
		o.MinWorkers = 2
		o.IdleShutdownTimeout = 0
	})
	eventually(t, "two warm workers before any task", func() bool {
		p := e.h.Handlers()[0].Pool
		return p.Alive == 2 && p.Idle == 2
	})
	info := e.h.Handlers()[0]
	require.Equal(t, 2, info.MinWorkers)
	require.Equal(t, 2, info.Pool.Min)
	raw, err := json.Marshal(info)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"minWorkers":2`)

	id := e.create("echo", `1`, host.CreateOptions{})
	e.waitStatus(id, shared.StatusSuccess)
	require.Equal(t, uint64(2), e.h.Handlers()[0].Pool.Spawns, "the task ran on a warm worker")
}

func TestMinWorkersAboveMaxIsRefusedAtRegistration(t *testing.T) {
	t.Parallel()
	e := setup(t)
	err := e.h.RegisterHandler(context.Background(), "echo", testworker, "echo", nil, host.HandlerOptions{MaxWorkerCount: 2, MinWorkers: 3})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "min_workers 3")
	require.ErrorContains(t, err, "max_worker_count 2")
	require.Empty(t, e.h.Handlers())
}
