package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/metrics"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

var testworker string

func TestMain(m *testing.M) {
	testplugin.Main(m, &testworker)
}

// env is a started host on a fresh Badger store, wired to its metrics as
// taskhost serve wires them.
type env struct {
	t  *testing.T
	m  *metrics.Metrics
	h  *host.Host
	st *badgerstore.Store
}

func setup(t *testing.T) *env {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: t.Output()})
	m := metrics.New(metrics.Options{Logger: logger})
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{
		Logger: logger, OnSync: m.StoreSynced, OnCommit: m.StoreCommitted,
	})
	require.NoError(t, err)
	// Enough system slots that no pool gives its worker up to another.
	h, err := host.New(st, host.Options{SystemWorkerCount: 8, TaskInterval: time.Hour, Logger: logger, Observer: m})
	require.NoError(t, err)
	require.NoError(t, m.Track(h, st))
	require.NoError(t, h.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Stop(ctx))
		require.NoError(t, st.Close())
	})
	return &env{t: t, m: m, h: h, st: st}
}

func (e *env) register(typ, method string) {
	e.t.Helper()
	require.NoError(e.t, e.h.RegisterHandler(context.Background(), typ, testworker, method, nil,
		host.HandlerOptions{IdleShutdownTimeout: host.KeepForever}))
}

func (e *env) create(typ, payload string, opts host.CreateOptions) {
	e.t.Helper()
	_, err := e.h.Create(context.Background(), typ, json.RawMessage(payload), opts)
	require.NoError(e.t, err)
}

// samples gathers g and flattens it: a counter or gauge is
// `name{label="value",...}` (labels sorted by name, as exposed), a
// histogram gives name_count and name_sum.
func samples(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(suffix string) string {
				if len(labels) == 0 {
					return mf.GetName() + suffix
				}
				return mf.GetName() + suffix + "{" + strings.Join(labels, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key("_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key("_sum")] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// waitFor scrapes until every wanted sample has its value, or fails
// after a deadline showing what differs.
func waitFor(t *testing.T, g prometheus.Gatherer, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := samples(t, g)
		var diff []string
		for k, v := range want {
			if got[k] != v {
				diff = append(diff, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
			}
		}
		if len(diff) == 0 {
			return got
		}
		select {
		case <-deadline.C:
			slices.Sort(diff)
			t.Fatalf("metrics never reached their values:\n%s", strings.Join(diff, "\n"))
		case <-tick.C:
		}
	}
}

func TestHostMetrics(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	e.register("flaky", "fail")
	e.register("crash", "exit")

	for i := range 3 {
		e.create("echo", fmt.Sprintf(`{"n":%d}`, i), host.CreateOptions{})
	}
	e.create("flaky", `{"message":"try again"}`, host.CreateOptions{RetryCount: 1, RetryInterval: time.Millisecond})
	e.create("crash", `{"code":3}`, host.CreateOptions{})
	// No handler: it waits, and shows in the queue.
	e.create("orphan", `{}`, host.CreateOptions{})

	got := waitFor(t, e.m.Registry(), map[string]float64{
		`taskhost_tasks_created_total{type="echo"}`:   3,
		`taskhost_tasks_created_total{type="flaky"}`:  1,
		`taskhost_tasks_created_total{type="crash"}`:  1,
		`taskhost_tasks_created_total{type="orphan"}`: 1,

		`taskhost_tasks_finished_total{outcome="success",type="echo"}`: 3,
		`taskhost_tasks_finished_total{outcome="retry",type="flaky"}`:  1,
		`taskhost_tasks_finished_total{outcome="failed",type="flaky"}`: 1,
		`taskhost_tasks_finished_total{outcome="failed",type="crash"}`: 1,

		`taskhost_task_wait_seconds_count{type="echo"}`:  3,
		`taskhost_task_wait_seconds_count{type="flaky"}`: 2,
		`taskhost_task_run_seconds_count{type="echo"}`:   3,
		`taskhost_task_run_seconds_count{type="flaky"}`:  2,
		`taskhost_task_run_seconds_count{type="crash"}`:  1,

		// Each handler kept its one worker, idle now; the crash lost its.
		`taskhost_workers{state="alive",type="echo"}`:  1,
		`taskhost_workers{state="busy",type="echo"}`:   0,
		`taskhost_workers{state="idle",type="echo"}`:   1,
		`taskhost_workers{state="alive",type="flaky"}`: 1,
		`taskhost_workers{state="alive",type="crash"}`: 0,
		`taskhost_worker_spawns_total{type="echo"}`:    1,
		`taskhost_worker_spawns_total{type="flaky"}`:   1,
		`taskhost_worker_spawns_total{type="crash"}`:   1,
		`taskhost_worker_crashes_total{type="crash"}`:  1,
		`taskhost_worker_crashes_total{type="echo"}`:   0,
		`taskhost_worker_timeouts_total{type="echo"}`:  0,
		`taskhost_worker_kills_total{type="echo"}`:     0,

		// Finished tasks are removed at once (retainFor 0); the orphan
		// waits; handler types are listed even when empty.
		`taskhost_queue_depth{status="pending",type="orphan"}`:    1,
		`taskhost_queue_depth{status="processing",type="orphan"}`: 0,
		`taskhost_queue_depth{status="pending",type="echo"}`:      0,
		`taskhost_queue_depth{status="processing",type="echo"}`:   0,
		`taskhost_queue_depth{status="pending",type="flaky"}`:     0,
	})
	// A type's outcomes start at zero, so rates work from the first one.
	require.Contains(t, got, `taskhost_tasks_finished_total{outcome="success",type="flaky"}`)
	require.Zero(t, got[`taskhost_tasks_finished_total{outcome="success",type="flaky"}`])
	require.Zero(t, got[`taskhost_tasks_finished_total{outcome="requeued",type="echo"}`])

	// Every durable write was counted, and every one of them was in a
	// transaction of exactly one group sync; a transaction may carry
	// several writes (outcomes made together), so the syncs count no
	// more transactions than there were writes.
	commits := got["taskhost_store_commit_seconds_count"]
	require.Positive(t, commits)
	require.Positive(t, got["taskhost_store_sync_batch_size_sum"])
	require.LessOrEqual(t, got["taskhost_store_sync_batch_size_sum"], commits)
	require.Positive(t, got["taskhost_store_sync_seconds_count"])
	require.LessOrEqual(t, got["taskhost_store_sync_seconds_count"], commits)

	// The runtime and process collectors share the registry.
	require.Contains(t, got, "go_goroutines")
	require.Contains(t, got, "process_open_fds")
}

func TestHandlerServesText(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	m.TasksCreated("echo", 2)
	m.TaskStarted("echo", 3*time.Millisecond)
	m.TaskFinished("echo", host.OutcomeSuccess, 40*time.Millisecond)
	m.TaskFinished("echo", host.OutcomeRequeued, 0) // never got a worker: counted, no run
	m.StoreSynced(5, 200*time.Microsecond)
	m.StoreCommitted(900 * time.Microsecond)

	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	for _, line := range []string{
		`taskhost_tasks_created_total{type="echo"} 2`,
		`taskhost_tasks_finished_total{outcome="success",type="echo"} 1`,
		`taskhost_task_wait_seconds_bucket{type="echo",le="0.005"} 1`,
		`taskhost_task_run_seconds_bucket{type="echo",le="0.025"} 0`,
		`taskhost_task_run_seconds_bucket{type="echo",le="0.05"} 1`,
		`taskhost_task_run_seconds_count{type="echo"} 1`,
		`taskhost_tasks_finished_total{outcome="requeued",type="echo"} 1`,
		`taskhost_store_sync_batch_size_sum 5`,
		`taskhost_store_commit_seconds_bucket{le="0.001"} 1`,
	} {
		require.Contains(t, string(body), line+"\n")
	}
}

// fakeState is a HandlerLister and QueueCounter with set answers.
type fakeState struct {
	handlers []host.HandlerInfo
	counts   map[string]map[shared.Status]int
	err      error
}

func (f fakeState) Handlers() []host.HandlerInfo { return f.handlers }

func (f fakeState) HasHandler(typ string) bool {
	return slices.ContainsFunc(f.handlers, func(h host.HandlerInfo) bool { return h.Type == typ })
}

func (f fakeState) Counts(context.Context, ...shared.Status) (map[string]map[shared.Status]int, error) {
	return f.counts, f.err
}

func TestQueueCountFailureKeepsTheRest(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	f := fakeState{
		handlers: []host.HandlerInfo{{Type: "echo", Pool: host.PoolStats{Alive: 2, Busy: 1, Idle: 1, Spawns: 7, Kills: 1}}},
		err:      errors.New("disk on fire"),
	}
	require.NoError(t, m.Track(f, f))
	require.Error(t, m.Track(f, f), "tracking twice would report everything twice")

	_, err := m.Registry().Gather()
	require.ErrorContains(t, err, "disk on fire")

	// Served anyway, without the queue.
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `taskhost_workers{state="busy",type="echo"} 1`)
	require.Contains(t, string(body), `taskhost_worker_spawns_total{type="echo"} 7`)
	require.Contains(t, string(body), `taskhost_worker_kills_total{type="echo"} 1`)
	require.NotContains(t, string(body), "taskhost_queue_depth{")
}

func TestTrackWithoutSources(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	require.NoError(t, m.Track(nil, nil))
	got := samples(t, m.Registry())
	for k := range got {
		require.False(t, strings.HasPrefix(k, "taskhost_workers") || strings.HasPrefix(k, "taskhost_queue_depth"), k)
	}
}

// BenchmarkObserver measures what one task costs the engine's hot path:
// a create, a start and a finish, from parallel goroutines.
func BenchmarkObserver(b *testing.B) {
	m := metrics.New(metrics.Options{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.TasksCreated("echo", 1)
			m.TaskStarted("echo", time.Millisecond)
			m.TaskFinished("echo", host.OutcomeSuccess, 2*time.Millisecond)
		}
	})
}

// Task types without a handler get labels of their own up to a cap; past
// it they share one, in the created counter and in the queue depth.
func TestTypesWithoutHandlerHaveBoundedLabels(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	for i := range metrics.MaxUnhandledTypes + 10 {
		e.create(fmt.Sprintf("typo-%02d", i), `1`, host.CreateOptions{})
		e.create(fmt.Sprintf("typo-%02d", i), `1`, host.CreateOptions{})
	}
	e.create("echo", `1`, host.CreateOptions{})

	got := waitFor(t, e.m.Registry(), map[string]float64{
		`taskhost_tasks_created_total{type="echo"}`:                                                1,
		`taskhost_tasks_created_total{type="typo-00"}`:                                             2,
		fmt.Sprintf(`taskhost_tasks_created_total{type="typo-%02d"}`, metrics.MaxUnhandledTypes-1): 2,
		`taskhost_tasks_created_total{type="_other"}`:                                              20,
		`taskhost_queue_depth{status="pending",type="_other"}`:                                     20,
		`taskhost_queue_depth{status="pending",type="typo-00"}`:                                    2,
	})
	var createdSeries, depthSeries int
	for k := range got {
		if strings.HasPrefix(k, "taskhost_tasks_created_total{") {
			createdSeries++
		}
		if strings.HasPrefix(k, `taskhost_queue_depth{status="pending"`) {
			depthSeries++
		}
	}
	// echo, the first MaxUnhandledTypes typos, and _other.
	require.Equal(t, metrics.MaxUnhandledTypes+2, createdSeries)
	require.Equal(t, metrics.MaxUnhandledTypes+2, depthSeries)
	_, ok := got[fmt.Sprintf(`taskhost_tasks_created_total{type="typo-%02d"}`, metrics.MaxUnhandledTypes)]
	require.False(t, ok, "the typo past the cap has no series of its own")
}
