package pool

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// warmPIDs waits until the pool has exactly n workers, all idle, and
// returns their pids.
func warmPIDs(t *testing.T, p *Pool, n int) []int {
	t.Helper()
	var pids []int
	eventually(t, "the pool to have its warm workers", func() bool {
		s := p.Stats()
		pids = pids[:0]
		for _, w := range s.Workers {
			pids = append(pids, w.PID)
		}
		return s.Alive == n && s.Idle == n && s.Starting == 0
	})
	slices.Sort(pids)
	return pids
}

func TestWarmPoolStartsMinWorkersBeforeAnyCall(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = 3
	cfg.MinWorkers = 2
	cfg.IdleShutdownTimeout = 0
	p := newPool(t, NewSystem(4), cfg)

	pids := warmPIDs(t, p, 2)
	require.Equal(t, uint64(2), p.Stats().Spawns)
	require.Equal(t, 2, p.Stats().Min)
	// The first call finds a worker started: no spawn.
	require.Contains(t, pids, callPID(t, p, `{}`))
	require.Equal(t, uint64(2), p.Stats().Spawns)
	// IdleShutdownTimeout 0 stops idle workers at once, but not below the
	// minimum: three at once leave two behind, as soon as the calls end.
	concurrentPIDs(t, p, 3, `{"ms":50}`)
	warmPIDs(t, p, 2)
	require.Never(t, func() bool { return p.Stats().Alive < 2 }, 200*time.Millisecond, 5*time.Millisecond)
}

func TestWarmPoolRefillsAfterAnIdleWorkerDies(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = 2
	cfg.MinWorkers = 2
	p := newPool(t, NewSystem(2), cfg)
	before := warmPIDs(t, p, 2)

	require.NoError(t, syscall.Kill(before[0], syscall.SIGKILL), "an idle worker killed from outside")
	eventually(t, "the pool to notice the exit", func() bool { return p.Stats().Crashes == 1 })
	after := warmPIDs(t, p, 2)
	require.NotContains(t, after, before[0])
	require.Contains(t, after, before[1])
	require.Equal(t, uint64(1), p.Stats().Crashes)
	require.Equal(t, uint64(3), p.Stats().Spawns)
}

func TestWarmPoolRefillsAfterACrashDuringACall(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "exit"
	cfg.MinWorkers = 1
	p := newPool(t, NewSystem(1), cfg)
	first := warmPIDs(t, p, 1)

	_, err := call(t, p, `{"code":3}`)
	requireTaskError(t, err, shared.ErrorNameWorkerCrashed, "exit status 3")
	after := warmPIDs(t, p, 1)
	require.NotEqual(t, first, after)
	require.False(t, testplugin.Alive(first[0]))
}

func TestWarmPoolRefillsAfterRecycle(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MinWorkers = 1
	cfg.MaxTasksPerWorker = 1
	p := newPool(t, NewSystem(1), cfg)
	first := warmPIDs(t, p, 1)

	require.Equal(t, first[0], callPID(t, p, `{}`))
	second := warmPIDs(t, p, 1)
	require.NotEqual(t, first, second)
	require.Equal(t, uint64(1), p.Stats().Recycled)
	require.Equal(t, second[0], callPID(t, p, `{}`), "the next call finds the replacement started")
}

func TestWarmPoolRefillsAfterMemoryKill(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "alloc"
	cfg.MemoryLimit = 64 << 20
	cfg.MinWorkers = 1
	p := newPool(t, NewSystem(1), cfg)
	first := warmPIDs(t, p, 1)

	_, err := call(t, p, `{"MB":300,"HoldMS":60000}`)
	requireTaskError(t, err, shared.ErrorNameMemoryLimit)
	second := warmPIDs(t, p, 1)
	require.NotEqual(t, first, second)
}

func TestWarmPoolIdleReapingStopsAtMin(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = 3
	cfg.MinWorkers = 1
	cfg.IdleShutdownTimeout = 50 * time.Millisecond
	p := newPool(t, NewSystem(3), cfg)
	warmPIDs(t, p, 1)

	require.GreaterOrEqual(t, len(distinct(concurrentPIDs(t, p, 3, `{"ms":300}`))), 2)
	left := warmPIDs(t, p, 1)
	// Every idle timer has fired by now and more; the last worker stays.
	require.Never(t, func() bool { return p.Stats().Alive != 1 }, 300*time.Millisecond, 10*time.Millisecond)
	require.True(t, testplugin.Alive(left[0]))
}

func TestWarmPoolsShareTheSystemCap(t *testing.T) {
	t.Parallel()
	sys := NewSystem(3)
	cfg := setup(t)
	cfg.MaxWorkerCount = 2
	cfg.MinWorkers = 2
	a := newPool(t, sys, cfg)
	cfg.Type = "other"
	b := newPool(t, sys, cfg)
	eventually(t, "the system cap to be full", func() bool { return a.Stats().Alive+b.Stats().Alive == 3 })
	require.Never(t, func() bool { return a.Stats().Alive+b.Stats().Alive+a.Stats().Starting+b.Stats().Starting > 3 },
		100*time.Millisecond, 5*time.Millisecond)

	// A call on the pool short of its minimum still runs: the warm pools
	// take only free slots and give an idle one up for a call.
	short := a
	if b.Stats().Alive < 2 {
		short = b
	}
	callPID(t, short, `{}`)
}

func TestMinWorkersAboveTheCapIsRefused(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = 2
	cfg.MinWorkers = 3
	_, err := New(context.Background(), NewSystem(8), cfg)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "min_workers 3 is more than the 2 workers it may run (max_worker_count 2")

	cfg.MaxWorkerCount = -1
	_, err = New(context.Background(), NewSystem(2), cfg)
	require.ErrorContains(t, err, "max_system_worker_count 2")

	cfg.MinWorkers = -1
	_, err = New(context.Background(), NewSystem(2), cfg)
	require.ErrorContains(t, err, "min_workers -1")
}
