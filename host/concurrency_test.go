package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// concurrent sets a handler's concurrency to n, its plugin declaring n.
func concurrent(n int) func(*host.HandlerOptions) {
	return func(o *host.HandlerOptions) {
		o.Concurrency = n
		o.Env = map[string]string{"TESTWORKER_CONCURRENCY": fmt.Sprint(n)}
	}
}

func TestConcurrencyAboveOneNeedsAPluginThatDeclaresIt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	err := e.h.RegisterHandler(context.Background(), "echo", testworker, "echo", nil, host.HandlerOptions{Concurrency: 2})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "concurrency 2")
	require.ErrorContains(t, err, "runs one call at a time")
	require.Empty(t, e.h.Handlers())
}

func TestConcurrencyRunsSeveralTasksOnOneWorker(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("meet", "meet", concurrent(4))
	info := e.h.Handlers()[0]
	require.Equal(t, 4, info.Concurrency)
	raw, err := json.Marshal(info)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"concurrency":4`)

	// Each task waits until four have arrived in its process: they can
	// only all succeed if the one worker runs four at once.
	var ids []string
	for range 4 {
		ids = append(ids, e.create("meet", `{"key":"k","n":4}`, host.CreateOptions{RetainFor: host.RetainForever}))
	}
	pids := map[float64]bool{}
	for _, id := range ids {
		task := e.waitStatus(id, shared.StatusSuccess)
		var r struct{ PID float64 }
		require.NoError(t, json.Unmarshal(task.Result, &r))
		pids[r.PID] = true
	}
	require.Len(t, pids, 1)
	require.Equal(t, uint64(1), e.h.Handlers()[0].Pool.Spawns)
}

func TestConcurrencyStopLetsEveryTaskOnTheWorkerFinish(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, dir)
	e.register("sleep", "sleep", concurrent(3))
	var ids []string
	for range 3 {
		ids = append(ids, e.create("sleep", `{"ms":300}`, host.CreateOptions{RetainFor: host.RetainForever}))
	}
	eventually(t, "three tasks on the worker", func() bool { return e.h.Handlers()[0].Pool.Running == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.h.Stop(ctx))
	for _, id := range ids {
		require.Equal(t, shared.StatusSuccess, e.get(id).Status)
	}
}

func TestConcurrencyStopOutOfTimeLeavesEveryTaskOnTheWorkerToResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, dir)
	e.register("sleep", "sleep", concurrent(2))
	a := e.create("sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 1})
	b := e.create("sleep", `{"ms":60000,"stubborn":true}`, host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 1})
	eventually(t, "two tasks on the worker", func() bool { return e.h.Handlers()[0].Pool.Running == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.Error(t, e.h.Stop(ctx))
	for _, id := range []string{a, b} {
		got := e.get(id)
		require.Equal(t, shared.StatusPending, got.Status, "an interrupted task is left to run again")
		require.Equal(t, 1, *got.RetriesRemaining, "without using a retry")
	}
}

func TestConcurrencyCancelOfOneTaskLeavesTheOthersRunning(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("sleep", "sleep", concurrent(3))
	victim := e.create("sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever})
	a := e.create("sleep", `{"ms":1000}`, host.CreateOptions{RetainFor: host.RetainForever})
	b := e.create("sleep", `{"ms":1000}`, host.CreateOptions{RetainFor: host.RetainForever})
	eventually(t, "three tasks on the worker", func() bool { return e.h.Handlers()[0].Pool.Running == 3 })
	require.NoError(t, e.h.Cancel(context.Background(), victim))
	e.waitStatus(victim, shared.StatusCancelled)
	e.waitStatus(a, shared.StatusSuccess)
	e.waitStatus(b, shared.StatusSuccess)
	p := e.h.Handlers()[0].Pool
	require.Equal(t, uint64(1), p.Spawns)
	require.Equal(t, uint64(0), p.Kills)
}

// Tasks that each take longer than the claim-ahead window are claimed
// only as slots free: a handler of one worker never has two claimed.
func TestSlowTasksAreNotClaimedAhead(t *testing.T) {
	t.Parallel()
	require.Equal(t, 1, mostClaimed(t, 1, 5, 100), "tasks claimed and not finished at once")
}

// Slow tasks that start together end together: that says nothing of a
// fast pace, and the dispatcher still claims only as slots free.
func TestSlowTasksEndingTogetherAreNotClaimedAhead(t *testing.T) {
	t.Parallel()
	require.Equal(t, 4, mostClaimed(t, 4, 12, 200), "tasks claimed and not finished at once, with 4 slots")
}

// mostClaimed runs n tasks sleeping ms each on a handler of one worker
// running conc at once, and returns the most it had claimed and not
// finished at once, sampled until every task has succeeded.
func mostClaimed(t *testing.T, conc, n, ms int) int {
	t.Helper()
	e := setup(t)
	e.register("sleep", "sleep", concurrent(conc))
	var ids []string
	for range n {
		ids = append(ids, e.create("sleep", fmt.Sprintf(`{"ms":%d}`, ms), host.CreateOptions{RetainFor: host.RetainForever}))
	}
	most := 0
	eventually(t, "every task to succeed", func() bool {
		most = max(most, e.h.Handlers()[0].Running)
		for _, id := range ids {
			if e.get(id).Status != shared.StatusSuccess {
				return false
			}
		}
		return true
	})
	return most
}
