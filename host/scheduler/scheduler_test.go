package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper()
		return
	}
	os.Exit(m.Run())
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testWriter{t}})
}

// openStore opens a Badger store in dir, closed when the test ends
// (after the schedulers made later are stopped).
func openStore(t *testing.T, dir string) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(dir, badgerstore.Options{Logger: testLogger(t), GCInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// newScheduler makes a scheduler on st, stopped when the test ends.
func newScheduler(t *testing.T, st scheduler.Store) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(st, scheduler.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Stop(ctx))
	})
	return s
}

// setup is a started scheduler on a fresh store.
func setup(t *testing.T) (*scheduler.Scheduler, *recorder) {
	t.Helper()
	s := newScheduler(t, openStore(t, t.TempDir()))
	require.NoError(t, s.Start(t.Context()))
	return s, newRecorder()
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder is a callback that keeps the trigger time of every firing,
// by schedule, and checks that runs of one schedule never overlap.
type recorder struct {
	mu      sync.Mutex
	firings map[string][]time.Time
	running map[string]int
	overlap bool
}

func newRecorder() *recorder {
	return &recorder{firings: map[string][]time.Time{}, running: map[string]int{}}
}

// callback records the firing, then calls then (if not nil).
func (r *recorder) callback(then func(ctx context.Context, f scheduler.Firing) error) scheduler.Callback {
	return func(ctx context.Context) error {
		f, ok := scheduler.FiringFrom(ctx)
		if !ok {
			return errors.New("no firing in the context")
		}
		r.mu.Lock()
		r.firings[f.ID] = append(r.firings[f.ID], f.TriggerTime)
		r.running[f.ID]++
		if r.running[f.ID] > 1 {
			r.overlap = true
		}
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.running[f.ID]--
			r.mu.Unlock()
		}()
		if then != nil {
			return then(ctx, f)
		}
		return nil
	}
}

func (r *recorder) times(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.firings[id]...)
}

func (r *recorder) waitFirings(t *testing.T, id string, n int) []time.Time {
	t.Helper()
	eventually(t, fmt.Sprintf("%d firings of %s", n, id), func() bool { return len(r.times(id)) >= n })
	return r.times(id)
}

// barrier adds a one-shot schedule due after d and waits for it to
// fire: whatever was due before it has had its chance to fire too.
func (r *recorder) barrier(t *testing.T, s *scheduler.Scheduler, d time.Duration) {
	t.Helper()
	id := fmt.Sprintf("barrier-%d", time.Now().UnixNano())
	at := time.Now().Add(d)
	require.NoError(t, s.AddTask(t.Context(), id, []shared.ScheduledTaskTime{{NextTriggerTime: &at}}, r.callback(nil)))
	r.waitFirings(t, id, 1)
	require.NoError(t, s.RemoveTask(t.Context(), id))
}

// msTime is t as the scheduler keeps it: UTC, whole milliseconds.
func msTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// everySecondSoon is an "@every 1s" rule that first fires in 50ms, so
// that a test does not wait for the next whole second.
func everySecondSoon() []shared.ScheduledTaskTime {
	at := time.Now().Add(50 * time.Millisecond)
	return []shared.ScheduledTaskTime{{NextTriggerTime: &at, Cron: "@every 1s"}}
}

func info(t *testing.T, s *scheduler.Scheduler, id string) []shared.ScheduledTaskTimeInfo {
	t.Helper()
	in, err := s.TasksInfo(t.Context())
	require.NoError(t, err)
	return in.Tasks[id]
}

func TestOneShotFiresOnceAtItsTime(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	at := msTime(time.Now().Add(300 * time.Millisecond))
	require.NoError(t, s.AddTask(t.Context(), "once", []shared.ScheduledTaskTime{{NextTriggerTime: &at}}, rec.callback(nil)))
	require.Equal(t, []shared.ScheduledTaskTimeInfo{{ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &at}}}, info(t, s, "once"))

	got := rec.waitFirings(t, "once", 1)
	require.Equal(t, []time.Time{at}, got, "fired with its planned time")
	require.False(t, time.Now().Before(at), "not before its time")
	eventually(t, "the last run to be listed", func() bool { return info(t, s, "once")[0].LastRunTime != nil })
	require.Equal(t, []shared.ScheduledTaskTimeInfo{{LastRunTime: &at}}, info(t, s, "once"),
		"still listed, without a next trigger")
	rec.barrier(t, s, 300*time.Millisecond)
	require.Len(t, rec.times("once"), 1)
}

func TestIntervalFiresAtItsTimeThenAfterTheInterval(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	at := msTime(time.Now().Add(200 * time.Millisecond))
	rule := shared.ScheduledTaskTime{NextTriggerTime: &at, IntervalMinutes: 1}
	require.NoError(t, s.AddTask(t.Context(), "minutely", []shared.ScheduledTaskTime{rule}, rec.callback(nil)))
	require.Equal(t, []time.Time{at}, rec.waitFirings(t, "minutely", 1))
	next := at.Add(time.Minute)
	eventually(t, "the last run to be listed", func() bool { return info(t, s, "minutely")[0].LastRunTime != nil })
	require.Equal(t, []shared.ScheduledTaskTimeInfo{{
		ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &next, IntervalMinutes: 1},
		LastRunTime:       &at,
	}}, info(t, s, "minutely"))
}

func TestIntervalWithoutTriggerTimeStartsFromNow(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	before := msTime(time.Now())
	require.NoError(t, s.AddTask(t.Context(), "two-hourly", []shared.ScheduledTaskTime{{IntervalHours: 2}}, rec.callback(nil)))
	after := msTime(time.Now())
	got := info(t, s, "two-hourly")
	require.Len(t, got, 1)
	require.Nil(t, got[0].LastRunTime)
	require.Equal(t, 2, got[0].IntervalHours)
	next := *got[0].NextTriggerTime
	require.False(t, next.Before(before.Add(2*time.Hour)) || next.After(after.Add(2*time.Hour)), "next %v", next)
}

func TestEverySecondFiresAtConsecutiveSeconds(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	require.NoError(t, s.AddTask(t.Context(), "tick", []shared.ScheduledTaskTime{{Cron: "@every 1s"}}, rec.callback(nil)))
	got := rec.waitFirings(t, "tick", 3)
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[i-1].Add(time.Second), got[i], "firing %d", i)
	}
	in := info(t, s, "tick")
	require.Equal(t, "@every 1s", in[0].Cron)
}

func TestManyTimesInOneSchedule(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	a := msTime(time.Now().Add(200 * time.Millisecond))
	b := a.Add(300 * time.Millisecond)
	require.NoError(t, s.AddTask(t.Context(), "pair", []shared.ScheduledTaskTime{{NextTriggerTime: &b}, {NextTriggerTime: &a}}, rec.callback(nil)))
	require.Equal(t, []time.Time{a, b}, rec.waitFirings(t, "pair", 2), "each rule fires, in time order")
	eventually(t, "both last runs", func() bool {
		in := info(t, s, "pair")
		return in[0].LastRunTime != nil && in[1].LastRunTime != nil
	})
	require.Equal(t, []shared.ScheduledTaskTimeInfo{{LastRunTime: &b}, {LastRunTime: &a}}, info(t, s, "pair"))
}

func TestRemoveTaskStopsIt(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	require.NoError(t, s.AddTask(t.Context(), "tick", everySecondSoon(), rec.callback(nil)))
	rec.waitFirings(t, "tick", 1)
	require.NoError(t, s.RemoveTask(t.Context(), "tick"))
	removed := time.Now()
	require.NotContains(t, func() map[string][]shared.ScheduledTaskTimeInfo {
		in, err := s.TasksInfo(t.Context())
		require.NoError(t, err)
		return in.Tasks
	}(), "tick")
	rec.barrier(t, s, 1200*time.Millisecond) // past the next trigger it had
	for _, at := range rec.times("tick") {
		require.True(t, at.Before(removed), "fired for %v after its removal at %v", at, removed)
	}
	require.ErrorIs(t, s.RemoveTask(t.Context(), "tick"), shared.ErrNotFound)
}

func TestMissedTriggersFireOnceAtStart(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	s := newScheduler(t, st)
	rec := newRecorder()
	// Three and a half periods ago: as if the host had been down since.
	due := msTime(time.Now().Add(-210 * time.Second))
	rule := shared.ScheduledTaskTime{NextTriggerTime: &due, IntervalMinutes: 1}
	require.NoError(t, s.AddTask(t.Context(), "late", []shared.ScheduledTaskTime{rule}, rec.callback(nil)))
	require.NoError(t, s.Start(t.Context()))

	require.Equal(t, []time.Time{due}, rec.waitFirings(t, "late", 1), "the missed trigger, with its planned time")
	rec.barrier(t, s, 300*time.Millisecond)
	require.Len(t, rec.times("late"), 1, "once, not a burst")
	next := due.Add(4 * time.Minute)
	require.Equal(t, &next, info(t, s, "late")[0].NextTriggerTime, "then the first trigger after now, on the series")
}

// TestRestartKeepsSchedule stops a scheduler and starts another on the
// same store: the same rules keep their state, other rules replace it.
func TestRestartKeepsSchedule(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	rec := newRecorder()
	at := msTime(time.Now().Add(200 * time.Millisecond))
	once := []shared.ScheduledTaskTime{{NextTriggerTime: &at}}
	later := msTime(time.Now().Add(time.Hour))
	hourly := []shared.ScheduledTaskTime{{NextTriggerTime: &later, IntervalHours: 1}}

	first, err := scheduler.New(st, scheduler.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, first.AddTask(t.Context(), "once", once, rec.callback(nil)))
	require.NoError(t, first.AddTask(t.Context(), "hourly", hourly, rec.callback(nil)))
	require.NoError(t, first.Start(t.Context()))
	rec.waitFirings(t, "once", 1)
	require.NoError(t, first.Stop(t.Context()))
	require.ErrorIs(t, first.AddTask(t.Context(), "x", once, rec.callback(nil)), shared.ErrClosed)
	require.ErrorIs(t, first.Start(t.Context()), shared.ErrInvalidState)

	second := newScheduler(t, st)
	require.NoError(t, second.AddTask(t.Context(), "once", once, rec.callback(nil)))
	require.NoError(t, second.AddTask(t.Context(), "hourly", []shared.ScheduledTaskTime{{IntervalMinutes: 30}}, rec.callback(nil)))
	require.NoError(t, second.Start(t.Context()))
	require.Equal(t, []shared.ScheduledTaskTimeInfo{{LastRunTime: &at}}, info(t, second, "once"), "fired before the restart: not again")
	in := info(t, second, "hourly")
	require.Equal(t, 30, in[0].IntervalMinutes, "other rules replace the stored ones")
	require.True(t, in[0].NextTriggerTime.Before(later))
	rec.barrier(t, second, 300*time.Millisecond)
	require.Len(t, rec.times("once"), 1)
}

// TestTwoSchedulersOneStore runs the same schedule in two schedulers on
// one store: each trigger fires in one of them only.
func TestTwoSchedulersOneStore(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	rec := newRecorder()
	var (
		mu  sync.Mutex
		all = map[time.Time][]string{}
	)
	count := func(name string) scheduler.Callback {
		return rec.callback(func(_ context.Context, f scheduler.Firing) error {
			mu.Lock()
			all[f.TriggerTime] = append(all[f.TriggerTime], name)
			mu.Unlock()
			return nil
		})
	}
	a, b := newScheduler(t, st), newScheduler(t, st)
	rule := []shared.ScheduledTaskTime{{Cron: "@every 1s"}}
	require.NoError(t, a.AddTask(t.Context(), "tick", rule, count("a")))
	require.NoError(t, b.AddTask(t.Context(), "tick", rule, count("b")))
	require.NoError(t, a.Start(t.Context()))
	require.NoError(t, b.Start(t.Context()))
	rec.waitFirings(t, "tick", 3)
	require.NoError(t, a.Stop(t.Context()))
	require.NoError(t, b.Stop(t.Context()))

	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(all), 3)
	for at, who := range all {
		require.Len(t, who, 1, "trigger %v fired in %v", at, who)
	}
}

func TestCallbackErrorAndPanicKeepTheSchedule(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	require.NoError(t, s.AddTask(t.Context(), "failing", everySecondSoon(), rec.callback(
		func(context.Context, scheduler.Firing) error { return errors.New("callback failed") })))
	require.NoError(t, s.AddTask(t.Context(), "panicking", everySecondSoon(), rec.callback(
		func(context.Context, scheduler.Firing) error { panic("callback panicked") })))
	for _, id := range []string{"failing", "panicking"} {
		got := rec.waitFirings(t, id, 2)
		require.Equal(t, got[0].Add(time.Second), got[1], "%s goes on", id)
	}
}

// TestSlowCallback: a slow callback delays no other schedule, and runs
// of one schedule do not overlap: triggers that come due meanwhile fire
// once when the run ends.
func TestSlowCallback(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	release := make(chan struct{})
	require.NoError(t, s.AddTask(t.Context(), "slow", everySecondSoon(), rec.callback(
		func(ctx context.Context, f scheduler.Firing) error {
			if len(rec.times("slow")) > 1 {
				return nil
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})))
	rec.waitFirings(t, "slow", 1)
	require.NoError(t, s.AddTask(t.Context(), "fast", everySecondSoon(), rec.callback(nil)))
	rec.waitFirings(t, "fast", 2)
	require.Len(t, rec.times("slow"), 1, "no second run while the first is going")
	close(release)
	released := msTime(time.Now())

	got := rec.waitFirings(t, "slow", 2)
	require.Equal(t, got[0].Add(time.Second), got[1], "the trigger that came due meanwhile fires once, with its time")
	eventually(t, "the catch-up's last run", func() bool { return info(t, s, "slow")[0].LastRunTime.Equal(got[1]) })
	next := *info(t, s, "slow")[0].NextTriggerTime
	require.True(t, next.After(released), "then the next one to come: %v after %v", next, released)
	rec.barrier(t, s, 100*time.Millisecond)
	for _, at := range rec.times("slow")[2:] {
		require.False(t, at.Before(next), "not a burst: %v", rec.times("slow"))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.False(t, rec.overlap)
}

func TestStopWaitsForCallbacks(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	release := make(chan struct{})
	ctxDone := make(chan error, 1)
	require.NoError(t, s.AddTask(t.Context(), "slow", everySecondSoon(), rec.callback(
		func(ctx context.Context, _ scheduler.Firing) error {
			select {
			case <-release:
				ctxDone <- nil
			case <-ctx.Done():
				ctxDone <- ctx.Err()
			}
			return nil
		})))
	rec.waitFirings(t, "slow", 1)

	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background()) }()
	close(release)
	require.NoError(t, <-ctxDone)
	require.NoError(t, <-stopped)
	require.NoError(t, s.Stop(context.Background()), "twice is harmless")

	// Stop that gives up cancels the callbacks' context.
	s2, rec2 := setup(t)
	require.NoError(t, s2.AddTask(t.Context(), "stuck", everySecondSoon(), rec2.callback(
		func(ctx context.Context, _ scheduler.Firing) error {
			<-ctx.Done()
			ctxDone <- ctx.Err()
			return ctx.Err()
		})))
	rec2.waitFirings(t, "stuck", 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s2.Stop(ctx), context.Canceled)
	require.ErrorIs(t, <-ctxDone, context.Canceled)
}

func TestAddTaskInvalid(t *testing.T) {
	t.Parallel()
	s, rec := setup(t)
	cb := rec.callback(nil)
	for _, tc := range []struct {
		id    string
		times []shared.ScheduledTaskTime
		cb    scheduler.Callback
		msg   string
	}{
		{"", []shared.ScheduledTaskTime{{IntervalHours: 1}}, cb, "schedule id must have 1 to 255 bytes"},
		{strings.Repeat("x", 256), []shared.ScheduledTaskTime{{IntervalHours: 1}}, cb, "schedule id must have 1 to 255 bytes"},
		{"a\nb", []shared.ScheduledTaskTime{{IntervalHours: 1}}, cb, "control character"},
		{"a", nil, cb, "schedule a: no times"},
		{"a", []shared.ScheduledTaskTime{{IntervalHours: 1}}, nil, "schedule a: no callback"},
		{"a", []shared.ScheduledTaskTime{{IntervalHours: 1}, {}}, cb, "schedule a: time 1: invalid argument: a time has no trigger"},
		{"a", []shared.ScheduledTaskTime{{Cron: "@daily", IntervalDays: 1}}, cb, "give one or the other"},
		{"a", []shared.ScheduledTaskTime{{Cron: "every day"}}, cb, `cron "every day"`},
		{"a", []shared.ScheduledTaskTime{{IntervalMinutes: -5}}, cb, "must not be negative"},
	} {
		err := s.AddTask(t.Context(), tc.id, tc.times, tc.cb)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, tc.msg)
		require.ErrorContains(t, err, tc.msg)
	}
	in, err := s.TasksInfo(t.Context())
	require.NoError(t, err)
	require.Empty(t, in.Tasks)
}

func TestTasksInfoJSON(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	now := time.UnixMilli(1_900_000_000_000).UTC()
	s, err := scheduler.New(st, scheduler.Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	at := now.Add(90 * time.Second)
	cb := func(context.Context) error { return nil }
	require.NoError(t, s.AddTask(t.Context(), "b", []shared.ScheduledTaskTime{{IntervalDays: 1, IntervalHours: 2, IntervalMinutes: 3}}, cb))
	require.NoError(t, s.AddTask(t.Context(), "a", []shared.ScheduledTaskTime{{NextTriggerTime: &at, Cron: "@every 30s"}, {NextTriggerTime: &at}}, cb))
	in, err := s.TasksInfo(t.Context())
	require.NoError(t, err)
	b, err := json.Marshal(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"tasks":{
		"a":[{"nextTriggerTime":1900000090000,"cron":"@every 30s"},{"nextTriggerTime":1900000090000}],
		"b":[{"nextTriggerTime":1900093780000,"intervalDays":1,"intervalHours":2,"intervalMinutes":3}]
	}}`, string(b))
	require.NoError(t, s.Stop(t.Context()))
}

// flakyClaims fails the first claim of each trigger, as a crash between a
// callback and its claim would leave it: unclaimed.
type flakyClaims struct {
	scheduler.Store
	mu     sync.Mutex
	failed map[time.Time]bool
}

func (f *flakyClaims) ClaimTrigger(ctx context.Context, id string, index int, due time.Time, next *time.Time) error {
	f.mu.Lock()
	first := !f.failed[due]
	f.failed[due] = true
	f.mu.Unlock()
	if first {
		return errors.New("connection reset")
	}
	return f.Store.ClaimTrigger(ctx, id, index, due, next)
}

// An idempotent callback runs before its trigger is claimed: when the
// claim fails, the firing is not lost but runs again. Others run only
// once claimed.
func TestIdempotentCallbackRunsBeforeTheClaim(t *testing.T) {
	t.Parallel()
	for _, idempotent := range []bool{true, false} {
		st := &flakyClaims{Store: openStore(t, t.TempDir()), failed: map[time.Time]bool{}}
		s := newScheduler(t, st)
		rec := newRecorder()
		due := msTime(time.Now().Add(-time.Second))
		var opts []scheduler.TaskOption
		if idempotent {
			opts = append(opts, scheduler.Idempotent())
		}
		require.NoError(t, s.AddTask(t.Context(), "once", []shared.ScheduledTaskTime{{NextTriggerTime: &due}}, rec.callback(nil), opts...))
		require.NoError(t, s.Start(t.Context()))
		runs := 1
		if idempotent {
			runs = 2
		}
		rec.waitFirings(t, "once", runs)
		eventually(t, "the trigger to be claimed", func() bool { return info(t, s, "once")[0].LastRunTime != nil })
		require.NoError(t, s.Stop(t.Context())) // no run is left in flight
		if idempotent {
			require.Equal(t, []time.Time{due, due}, rec.times("once"), "run before the failed claim, and again before the one that held")
		} else {
			require.Equal(t, []time.Time{due}, rec.times("once"), "run once, after the claim that held")
		}
	}
}
