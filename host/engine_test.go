package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

func ms(n int64) *int64 { return &n }

func TestSuccessStoresResultAndFiresCallbacksInOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	id := e.create("echo", `{"hello":"world"}`, host.CreateOptions{RetryCount: 2, RetainFor: host.RetainForever})

	done := e.waitStatus(id, shared.StatusSuccess)
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusSuccess}, e.rec.statuses(id))
	require.JSONEq(t, `{"hello":"world"}`, string(done.Result))
	require.Nil(t, done.Error)
	require.Nil(t, done.RetriesRemaining, "success clears retry fields")
	require.Nil(t, done.RetryInterval)
	require.NotNil(t, done.DateCompleted)
	require.Nil(t, done.DateRetainUntil, "retainFor -1 keeps the task forever")

	stored := e.get(id)
	require.Equal(t, shared.StatusSuccess, stored.Status)
	require.Equal(t, "main", stored.ThreadID)
	require.Len(t, stored.ID, 32)
	require.JSONEq(t, string(done.Result), string(stored.Result))
}

func TestProcessingIsStoredBeforePluginRuns(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("sleep", "sleep")
	id := e.create("sleep", `{"ms":60000}`, host.CreateOptions{})
	first := e.waitStatus(id, shared.StatusProcessing)
	require.Equal(t, shared.StatusProcessing, e.get(id).Status)
	require.Equal(t, shared.StatusProcessing, first.Status)
	require.NoError(t, e.h.Cancel(context.Background(), id))
}

func TestRetainZeroRemovesFinishedTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	id := e.create("echo", `1`, host.CreateOptions{})
	e.waitStatus(id, shared.StatusSuccess)
	_, err := e.h.Get(context.Background(), id)
	require.ErrorIs(t, err, shared.ErrNotFound)
}

func TestRetainForKeepsUntilThenSweeps(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.CleanupInterval = time.Second })
	e.register("echo", "echo")
	kept := e.create("echo", `1`, host.CreateOptions{RetainFor: host.RetainForever})
	brief := e.create("echo", `2`, host.CreateOptions{RetainFor: 300 * time.Millisecond})

	done := e.waitStatus(brief, shared.StatusSuccess)
	require.NotNil(t, done.DateRetainUntil)
	require.Equal(t, done.DateModified.Add(300*time.Millisecond), *done.DateRetainUntil)
	require.Equal(t, int64(300), *e.get(brief).RetainFor)

	eventually(t, "the sweep to remove the expired task", func() bool {
		_, err := e.h.Get(context.Background(), brief)
		return errors.Is(err, shared.ErrNotFound)
	})
	e.waitStatus(kept, shared.StatusSuccess)
	require.Equal(t, shared.StatusSuccess, e.get(kept).Status, "retainFor -1 survives the sweep")
}

func TestFailureRetriesThenFails(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("fail", "fail")
	id := e.create("fail", `{"message":"disk full"}`, host.CreateOptions{
		RetryCount: 2, RetryInterval: 50 * time.Millisecond, RetainFor: host.RetainForever,
	})
	final := e.waitStatus(id, shared.StatusFailed)
	require.Equal(t, []shared.Status{
		shared.StatusProcessing, shared.StatusPending,
		shared.StatusProcessing, shared.StatusPending,
		shared.StatusProcessing, shared.StatusFailed,
	}, e.rec.statuses(id))
	require.Equal(t, &shared.TaskError{Name: "Error", Message: "disk full"}, final.Error)
	require.Equal(t, 0, *final.RetriesRemaining)
	require.NotNil(t, final.DateCompleted)

	retry := e.rec.all(id)[1]
	require.Equal(t, 1, *retry.RetriesRemaining)
	require.Equal(t, retry.DateModified.Add(50*time.Millisecond), *retry.DateNextProcess, "due at dateModified + retryInterval")
	require.Equal(t, "disk full", retry.Error.Message)
}

func TestDefaultRetryIntervalApplies(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.RetryInterval = 40 * time.Millisecond })
	e.register("fail", "fail")
	id := e.create("fail", `{"message":"x"}`, host.CreateOptions{RetryCount: 1, RetainFor: host.RetainForever})
	require.Equal(t, int64(40), *e.get(id).RetryInterval)
	e.waitStatus(id, shared.StatusFailed)
}

func TestPermanentErrorSkipsRetries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("fail", "fail")
	id := e.create("fail", `{"message":"bad input","permanent":true}`, host.CreateOptions{RetryCount: 3, RetainFor: host.RetainForever})
	final := e.waitStatus(id, shared.StatusFailed)
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusFailed}, e.rec.statuses(id))
	require.True(t, final.Error.Permanent)
	require.Equal(t, 3, *final.RetriesRemaining)
}

func TestPluginFailureModesNameTheError(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("panic", "panic")
	e.register("exit", "exit")
	e.register("hang", "hang", func(o *host.HandlerOptions) { o.ExecutionTimeout = 200 * time.Millisecond })
	e.register("echo", "echo")
	keep := host.CreateOptions{RetainFor: host.RetainForever}
	for _, tc := range []struct{ typ, payload, name, contains string }{
		{"panic", `{"message":"boom"}`, shared.ErrorNamePanic, "testworker: boom"},
		{"exit", `{"code":7}`, shared.ErrorNameWorkerCrashed, "exit status 7"},
		{"hang", `{}`, shared.ErrorNameExecutionTimeout, "200ms"},
	} {
		id := e.create(tc.typ, tc.payload, keep)
		final := e.waitStatus(id, shared.StatusFailed)
		require.Equal(t, tc.name, final.Error.Name, final.Error.Message)
		require.Contains(t, final.Error.Message, tc.contains)
	}
	// The host and other types go on.
	id := e.create("echo", `"still here"`, keep)
	require.JSONEq(t, `"still here"`, string(e.waitStatus(id, shared.StatusSuccess).Result))
}

func TestCreateForIdleHandlerStartsWithoutPolling(t *testing.T) {
	t.Parallel()
	e := setup(t) // TaskInterval is an hour: only events can start tasks
	e.register("echo", "echo")
	for range 5 {
		id := e.create("echo", `1`, host.CreateOptions{})
		e.waitStatus(id, shared.StatusSuccess)
	}
}

func TestTasksStartInDueOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []string
	for range 6 {
		ids = append(ids, e.create("ordered", `{}`, host.CreateOptions{}))
	}
	// One worker, registered after the tasks exist: the order of the
	// processing transitions is the start order.
	e.register("ordered", "echo")
	for _, id := range ids {
		e.waitStatus(id, shared.StatusSuccess)
	}
	require.Equal(t, ids, e.rec.order(shared.StatusProcessing))
}

func TestSweepRunsAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, dir, func(o *host.Options) { o.CleanupInterval = time.Hour })
	first.register("echo", "echo")
	id := first.create("echo", `1`, host.CreateOptions{RetainFor: time.Millisecond})
	first.waitStatus(id, shared.StatusSuccess)
	require.Equal(t, shared.StatusSuccess, first.get(id).Status)
	first.shutdown()

	second := start(t, dir, func(o *host.Options) { o.CleanupInterval = time.Hour })
	_, err := second.h.Get(context.Background(), id)
	require.ErrorIs(t, err, shared.ErrNotFound, "the expired task is swept when the host starts")
}

func TestTasksWithoutHandlerWaitForRegistration(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.create("later", `"x"`, host.CreateOptions{RetainFor: host.RetainForever})
	require.Equal(t, shared.StatusPending, e.get(id).Status)
	e.register("later", "echo")
	e.waitStatus(id, shared.StatusSuccess)
}

func TestCancelPendingTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.create("nohandler", `{}`, host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, e.h.Cancel(context.Background(), "background-task:test:"+id))
	got := e.get(id)
	require.Equal(t, shared.StatusCancelled, got.Status)
	require.NotNil(t, got.DateCancelled)
	require.ErrorIs(t, e.h.Cancel(context.Background(), id), shared.ErrInvalidState)
	require.ErrorIs(t, e.h.Retry(context.Background(), id), shared.ErrInvalidState)
}

func TestCancelProcessingTaskCancelsMethod(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("sleep", "sleep")
	id := e.create("sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 3})
	eventually(t, "the task to run on a worker", func() bool { return e.h.Handlers()[0].Pool.Busy == 1 })
	require.NoError(t, e.h.Cancel(context.Background(), id))
	// Cancel returns once the task is cancelled.
	got := e.get(id)
	require.Equal(t, shared.StatusCancelled, got.Status)
	require.NotNil(t, got.DateCancelled)
	e.waitStatus(id, shared.StatusCancelled)
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusCancelled}, e.rec.statuses(id))
	// The worker honoured its context and lives on.
	pool := e.h.Handlers()[0].Pool
	require.Equal(t, 1, pool.Alive)
	require.Zero(t, pool.Kills)
}

func TestCancelHangingTaskKillsWorker(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("hang", "hang")
	id := e.create("hang", `{}`, host.CreateOptions{RetainFor: host.RetainForever})
	var pid int
	eventually(t, "the hang to run on a worker", func() bool {
		ws := e.h.Handlers()[0].Pool.Workers
		if len(ws) == 1 && ws[0].Busy {
			pid = ws[0].PID
			return true
		}
		return false
	})
	require.NoError(t, e.h.Cancel(context.Background(), id))
	require.Equal(t, shared.StatusCancelled, e.get(id).Status)
	require.False(t, testplugin.Alive(pid))
}

func TestRemoveRunningTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("sleep", "sleep")
	id := e.create("sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusProcessing)
	require.NoError(t, e.h.Remove(context.Background(), id))
	_, err := e.h.Get(context.Background(), id)
	require.ErrorIs(t, err, shared.ErrNotFound)
	require.ErrorIs(t, e.h.Remove(context.Background(), id), shared.ErrNotFound)
	require.Zero(t, e.h.Handlers()[0].Running)
}

func TestRemoveFinishedAndPendingTasks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	pending := e.create("nohandler", `{}`, host.CreateOptions{})
	require.NoError(t, e.h.Remove(context.Background(), pending))
	_, err := e.h.Get(context.Background(), pending)
	require.ErrorIs(t, err, shared.ErrNotFound)
}

func TestRetryPendingMakesItDueNow(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("fail", "fail")
	id := e.create("fail", `{"message":"x"}`, host.CreateOptions{RetryCount: 1, RetryInterval: time.Hour, RetainFor: host.RetainForever})
	waiting := e.waitStatus(id, shared.StatusPending)
	require.True(t, waiting.DateNextProcess.After(time.Now().Add(50*time.Minute)))
	require.NoError(t, e.h.Retry(context.Background(), id))
	e.waitStatus(id, shared.StatusFailed)
}

func TestRetryFailedRequeues(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("fail", "fail")
	id := e.create("fail", `{"message":"x"}`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusFailed)
	require.NoError(t, e.h.Retry(context.Background(), id))
	eventually(t, "second attempt to fail", func() bool {
		return len(e.rec.statuses(id)) == 5 // processing failed pending processing failed
	})
	require.Equal(t, []shared.Status{
		shared.StatusProcessing, shared.StatusFailed, shared.StatusPending, shared.StatusProcessing, shared.StatusFailed,
	}, e.rec.statuses(id))
}

func TestRetryOfSuccessIsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	id := e.create("echo", `1`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusSuccess)
	require.ErrorIs(t, e.h.Retry(context.Background(), id), shared.ErrInvalidState)
}

func TestProgressVisibleWhileRunning(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("progress", "progress")
	id := e.create("progress", `{"steps":4,"delayMs":100}`, host.CreateOptions{RetainFor: host.RetainForever})
	watch, err := e.h.Watch(context.Background(), id)
	require.NoError(t, err)
	var seen []float64
	var last shared.Task
	for t := range watch {
		if t.Progress != nil {
			seen = append(seen, t.Progress.Percent)
		}
		last = t
	}
	require.Equal(t, shared.StatusSuccess, last.Status)
	require.Contains(t, seen, float64(50))
	require.Nil(t, e.get(id).Progress, "a finished task shows no progress")

	id = e.create("progress", `{"steps":2,"delayMs":3000}`, host.CreateOptions{RetainFor: host.RetainForever})
	eventually(t, "progress on the stored task", func() bool {
		p := e.get(id).Progress
		return p != nil && p.Percent == 0 && p.Message == "step 0 of 2"
	})
	require.NoError(t, e.h.Cancel(context.Background(), id))
}

func TestCallbackErrorsAndPanicsChangeNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.rec.fail = func(t shared.Task) error {
		if t.Status == shared.StatusProcessing {
			return errors.New("callback refused")
		}
		panic("callback exploded")
	}
	e.register("echo", "echo")
	id := e.create("echo", `1`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusSuccess)
	require.Equal(t, shared.StatusSuccess, e.get(id).Status)
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusSuccess}, e.rec.statuses(id))
}

func TestCallbacksNeverOverlapForATask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo", func(o *host.HandlerOptions) { o.MaxWorkerCount = 4 })
	e.register("fail", "fail", func(o *host.HandlerOptions) { o.MaxWorkerCount = 2 })
	var ids []string
	for i := range 40 {
		if i%4 == 0 {
			ids = append(ids, e.create("fail", `{"message":"x"}`, host.CreateOptions{RetryCount: 1, RetryInterval: time.Millisecond}))
		} else {
			ids = append(ids, e.create("echo", `1`, host.CreateOptions{}))
		}
	}
	for i, id := range ids {
		if i%4 == 0 {
			e.waitStatus(id, shared.StatusFailed)
			require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusPending, shared.StatusProcessing, shared.StatusFailed}, e.rec.statuses(id))
		} else {
			e.waitStatus(id, shared.StatusSuccess)
			require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusSuccess}, e.rec.statuses(id))
		}
	}
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	require.False(t, e.rec.overlap)
}

func TestUnregisterStopsDispatchAndWorkers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	id := e.create("echo", `1`, host.CreateOptions{})
	e.waitStatus(id, shared.StatusSuccess)
	pid := e.h.Handlers()[0].Pool.Workers[0].PID
	require.NoError(t, e.h.UnregisterHandler(context.Background(), "echo"))
	require.False(t, testplugin.Alive(pid))
	require.Empty(t, e.h.Handlers())

	id = e.create("echo", `2`, host.CreateOptions{RetainFor: host.RetainForever})
	require.Equal(t, shared.StatusPending, e.get(id).Status)
	require.ErrorIs(t, e.h.UnregisterHandler(context.Background(), "echo"), shared.ErrNotFound)
	e.register("echo", "echo")
	e.waitStatus(id, shared.StatusSuccess)
}

func TestRegisterRefusesBadHandlers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	err := e.h.RegisterHandler(ctx, "x", testworker, "nope", nil, host.HandlerOptions{})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, `exports no method "nope"`)
	err = e.h.RegisterHandler(ctx, "bad type!", testworker, "echo", nil, host.HandlerOptions{})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	e.register("dup", "echo")
	require.ErrorIs(t, e.h.RegisterHandler(ctx, "dup", testworker, "echo", nil, host.HandlerOptions{}), shared.ErrInvalidState)
}

func TestCreateValidatesInput(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.MaxPayloadSize = 64 })
	ctx := context.Background()
	for _, tc := range []struct {
		typ     string
		payload string
		opts    host.CreateOptions
		want    error
		says    string
	}{
		{"", `1`, host.CreateOptions{}, shared.ErrInvalidArgument, "task type is empty"},
		{"a b", `1`, host.CreateOptions{}, shared.ErrInvalidArgument, `character ' '`},
		{"ok", `{`, host.CreateOptions{}, shared.ErrInvalidArgument, "not valid JSON"},
		{"ok", `"` + strings.Repeat("x", 100) + `"`, host.CreateOptions{}, shared.ErrPayloadTooLarge, "limit is 64"},
		{"ok", `1`, host.CreateOptions{RetryCount: -1}, shared.ErrInvalidArgument, "retryCount -1"},
		{"ok", `1`, host.CreateOptions{RetryInterval: -time.Second}, shared.ErrInvalidArgument, "retryInterval"},
		{"ok", `1`, host.CreateOptions{RetainFor: -2 * time.Second}, shared.ErrInvalidArgument, "retainFor"},
	} {
		_, err := e.h.Create(ctx, tc.typ, json.RawMessage(tc.payload), tc.opts)
		require.ErrorIs(t, err, tc.want, tc.says)
		require.ErrorContains(t, err, tc.says)
	}
	_, err := e.h.CreateMany(ctx, []host.NewTask{{Type: "ok"}, {Type: "bad type"}})
	require.ErrorContains(t, err, "task 1:")
	page, err := e.h.Query(ctx, host.Query{})
	require.NoError(t, err)
	require.Empty(t, page.Tasks, "a refused batch writes nothing")
}

func TestGetAcceptsURNAndRejectsGarbage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.create("nohandler", `{"a":1}`, host.CreateOptions{})
	got, err := e.h.Get(context.Background(), "background-task:default:"+id)
	require.NoError(t, err)
	require.Equal(t, id, got.ID)
	_, err = e.h.Get(context.Background(), "../etc/passwd")
	require.ErrorIs(t, err, shared.ErrNotFound)
}

func TestQueryPagesThroughTasks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var want []string
	for range 7 {
		want = append(want, e.create("q", `{}`, host.CreateOptions{}))
	}
	e.create("other", `{}`, host.CreateOptions{})
	var got []string
	q := host.Query{Type: "q", Status: shared.StatusPending, Limit: 3}
	for {
		page, err := e.h.Query(context.Background(), q)
		require.NoError(t, err)
		for _, task := range page.Tasks {
			got = append(got, task.ID)
		}
		if page.Cursor == "" {
			break
		}
		q.Cursor = page.Cursor
	}
	require.Equal(t, want, got)

	_, err := e.h.Query(context.Background(), host.Query{SortBy: "name"})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	_, err = e.h.Query(context.Background(), host.Query{Status: "done"})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
}

func TestStopLeavesRunningTaskToResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, dir)
	e.register("slow", "slowfirst", func(o *host.HandlerOptions) {
		o.ShutdownMethod = "shutdown"
	})
	id := e.create("slow", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 1})
	eventually(t, "the task to run on a worker", func() bool { return e.h.Handlers()[0].Pool.Busy == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.Error(t, e.h.Stop(ctx), "the running task outlives the stop deadline")
	got := e.get(id)
	require.Equal(t, shared.StatusPending, got.Status, "an interrupted task is left to run again")
	require.Equal(t, 1, *got.RetriesRemaining, "without using a retry")
	require.Empty(t, e.h.Handlers()[0].Pool.Workers)
}

func TestConcurrentCreatesAllComplete(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.SystemWorkerCount = 4 })
	e.register("echo", "echo", func(o *host.HandlerOptions) { o.MaxWorkerCount = -1 })
	var wg sync.WaitGroup
	ids := make([]string, 100)
	for i := range ids {
		wg.Go(func() { ids[i] = e.create("echo", `1`, host.CreateOptions{}) })
	}
	wg.Wait()
	for _, id := range ids {
		e.waitStatus(id, shared.StatusSuccess)
	}
	require.LessOrEqual(t, e.h.Handlers()[0].Pool.Spawns, uint64(4))
}

func TestCancelRightAfterCreateNeverLeavesMethodRunning(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("sleep", "sleep")
	for range 15 {
		id := e.create("sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever})
		require.NoError(t, e.h.Cancel(context.Background(), id))
		require.Equal(t, shared.StatusCancelled, e.get(id).Status)
	}
	eventually(t, "no method left running", func() bool {
		hs := e.h.Handlers()
		return hs[0].Running == 0 && hs[0].Pool.Busy == 0
	})
}

// observer records what the engine reports for metrics.
type observer struct {
	mu       sync.Mutex
	created  map[string]int
	started  int
	waits    []time.Duration
	runs     []time.Duration
	outcomes []host.Outcome
}

func (o *observer) TasksCreated(typ string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.created[typ] += n
}

func (o *observer) TaskStarted(_ string, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.started++
	o.waits = append(o.waits, wait)
}

func (o *observer) TaskFinished(_ string, out host.Outcome, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outcomes = append(o.outcomes, out)
	o.runs = append(o.runs, d)
}

// waitFinished waits until n attempts have been reported finished.
func (o *observer) waitFinished(t *testing.T, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d attempts to be reported", n), func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.outcomes) == n
	})
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	t.Parallel()
	obs := &observer{created: map[string]int{}}
	e := setup(t, func(o *host.Options) { o.Observer = obs })
	e.register("fail", "fail")
	e.register("echo", "echo")
	_, err := e.h.CreateMany(context.Background(), []host.NewTask{
		{Type: "echo", Payload: json.RawMessage(`1`)},
		{Type: "echo", Payload: json.RawMessage(`2`)},
	})
	require.NoError(t, err)
	id := e.create("fail", `{"message":"x"}`, host.CreateOptions{RetryCount: 1, RetryInterval: time.Millisecond})
	e.waitStatus(id, shared.StatusFailed)
	obs.waitFinished(t, 4)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Equal(t, map[string]int{"echo": 2, "fail": 1}, obs.created)
	require.Equal(t, 4, obs.started)
	require.ElementsMatch(t, []host.Outcome{host.OutcomeSuccess, host.OutcomeSuccess, host.OutcomeRetry, host.OutcomeFailed}, obs.outcomes)
}

// A task claimed while its worker starts waits until the worker is up:
// the start counts as the task's queue wait, not as its run.
func TestWaitForAWorkerIsQueueWait(t *testing.T) {
	t.Parallel()
	obs := &observer{created: map[string]int{}}
	e := setup(t, func(o *host.Options) { o.Observer = obs })
	e.register("slowstart", "echo", func(o *host.HandlerOptions) {
		o.InitialiseMethod = "initialise"
		o.Config = json.RawMessage(`{"initialiseDelayMs":1000}`)
	})
	id := e.create("slowstart", `"done"`, host.CreateOptions{})
	e.waitStatus(id, shared.StatusProcessing)
	obs.waitFinished(t, 1)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Equal(t, []host.Outcome{host.OutcomeSuccess}, obs.outcomes)
	require.Len(t, obs.waits, 1)
	require.GreaterOrEqual(t, obs.waits[0], time.Second, "the worker's initialise is part of the wait")
	require.Less(t, obs.runs[0], obs.waits[0], "and not of the run")
}

// A task claimed while its worker is still starting is part of the drain:
// it starts and finishes within Stop's deadline instead of going back to
// pending at once.
func TestStopRunsClaimedTaskWhoseWorkerIsStarting(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("slowstart", "echo", func(o *host.HandlerOptions) {
		o.InitialiseMethod = "initialise"
		o.Config = json.RawMessage(`{"initialiseDelayMs":1500}`)
	})
	id := e.create("slowstart", `"done"`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusProcessing)
	require.Equal(t, 1, e.h.Handlers()[0].Pool.Starting, "the worker is still starting when the drain begins")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.h.Stop(ctx))
	got := e.get(id)
	require.Equal(t, shared.StatusSuccess, got.Status)
	require.JSONEq(t, `"done"`, string(got.Result))
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusSuccess}, e.rec.statuses(id))
}

// CreateWatch sees the final state of tasks that end at once and are
// removed at once (retainFor 0), every time.
func TestCreateWatchSeesTheEndOfFastTasks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	e.register("fail", "fail")
	for i := range 40 {
		typ, payload, want := "echo", `"hi"`, shared.StatusSuccess
		if i%2 == 1 {
			typ, payload, want = "fail", `{"message":"no"}`, shared.StatusFailed
		}
		// A watch that missed the end would never close: bound it.
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		id, ch, err := e.h.CreateWatch(ctx, typ, json.RawMessage(payload), host.CreateOptions{})
		require.NoError(t, err)
		var states []shared.Status
		var last shared.Task
		for s := range ch {
			states = append(states, s.Status)
			last = s
		}
		require.Equal(t, id, last.ID)
		require.Equal(t, shared.StatusPending, states[0], "the first state is the task as created")
		require.Equal(t, want, last.Status, "states seen: %v", states)
		_, err = e.h.Get(t.Context(), id)
		require.ErrorIs(t, err, shared.ErrNotFound, "retainFor 0 removed it")
	}
}

func TestCreateWatchOfARefusedTaskLeavesNoWatcher(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, ch, err := e.h.CreateWatch(t.Context(), "bad type!", nil, host.CreateOptions{})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.Nil(t, ch)
}

func TestStrictTypesRefusesTypesWithoutHandler(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.StrictTypes = true })
	_, err := e.h.Create(t.Context(), "nosuch", nil, host.CreateOptions{})
	require.ErrorIs(t, err, shared.ErrNoHandler)
	require.ErrorContains(t, err, `task type "nosuch" has no handler`)
	require.ErrorContains(t, err, "none is registered")

	e.register("echo", "echo")
	e.register("alpha", "echo")
	require.True(t, e.h.HasHandler("echo"))
	require.False(t, e.h.HasHandler("nosuch"))
	_, err = e.h.CreateMany(t.Context(), []host.NewTask{{Type: "echo"}, {Type: "nosuch"}})
	require.ErrorIs(t, err, shared.ErrNoHandler)
	require.ErrorContains(t, err, "task 1: ")
	require.ErrorContains(t, err, "want one of alpha, echo")
	page, err := e.h.Query(t.Context(), host.Query{})
	require.NoError(t, err)
	require.Empty(t, page.Tasks, "a refused batch stores nothing")

	id := e.create("echo", `1`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusSuccess)
}

func TestTypesWithoutHandlerAreAcceptedByDefault(t *testing.T) {
	t.Parallel()
	e := setup(t)
	require.False(t, e.h.HasHandler("later"))
	id := e.create("later", `1`, host.CreateOptions{})
	require.Equal(t, shared.StatusPending, e.get(id).Status)
}
