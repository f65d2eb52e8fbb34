package metrics

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/taskhost/taskhost/host"
)

// Defaults of [Options], and the bound on concurrent scrapes.
const (
	DefaultQueueTimeout = 5 * time.Second
	// MaxConcurrentScrapes is how many scrapes [Metrics.Handler] serves
	// at once; more get 503, so that a crowd of scrapers cannot run a
	// crowd of queue counts.
	MaxConcurrentScrapes = 4
)

// Bucket upper bounds, in seconds or commits.
var (
	// taskBuckets span a millisecond to ten minutes: a no-op task starts
	// within a millisecond of being due, real work runs for minutes.
	taskBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	// storeBuckets span 50µs to 2.5s: an fsync takes about 0.1ms on an
	// SSD, a durable commit about a millisecond; seconds mean trouble.
	storeBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// batchBuckets are powers of two up to 2048 commits per sync.
	batchBuckets = prometheus.ExponentialBuckets(1, 2, 12)
)

// Options configure [New]. The zero value is ready to use.
type Options struct {
	// QueueTimeout bounds counting the queue at a scrape; past it the
	// scrape reports taskhost_queue_depth as failed and serves the rest.
	// 0 means DefaultQueueTimeout.
	QueueTimeout time.Duration
	// Logger receives errors of scrapes (a failed queue count, say); nil
	// discards them.
	Logger hclog.Logger
}

// Metrics holds the host's metrics in a registry of its own. Make one
// with [New], pass it as host.Options.Observer, give its
// [Metrics.StoreSynced] and [Metrics.StoreCommitted] to the store's
// hooks, then [Metrics.Track] the host and the store. Safe for
// concurrent use.
type Metrics struct {
	opts    Options
	reg     *prometheus.Registry
	handler http.Handler

	created  *prometheus.CounterVec
	finished *prometheus.CounterVec
	wait     *prometheus.HistogramVec
	run      *prometheus.HistogramVec

	syncSeconds   prometheus.Histogram
	syncBatch     prometheus.Histogram
	commitSeconds prometheus.Histogram

	// byType caches each type's series (string → *typeSeries), so that
	// the hot path skips hashing label values.
	byType sync.Map

	mu        sync.Mutex
	handlers  HandlerLister       // set by Track
	unhandled map[string]struct{} // types without a handler that have a label
}

// MaxUnhandledTypes is how many task types without a registered handler
// get a type label of their own; tasks of further such types (typos,
// made-up names) are counted under OtherType, so that clients cannot
// grow the number of series without bound.
const MaxUnhandledTypes = 32

// OtherType is the type label of the task types past MaxUnhandledTypes.
// No task type can have it: type names start with a letter or digit.
const OtherType = "_other"

// label is the type label of typ: typ itself if it has a handler or is
// one of the first MaxUnhandledTypes types seen without one, else
// OtherType.
func (m *Metrics) label(typ string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if typ == OtherType || m.handlers == nil || m.handlers.HasHandler(typ) {
		return typ
	}
	if _, ok := m.unhandled[typ]; ok {
		return typ
	}
	if len(m.unhandled) < MaxUnhandledTypes {
		m.unhandled[typ] = struct{}{}
		return typ
	}
	return OtherType
}

// outcomes are the outcomes whose series a type gets at once, at zero.
var outcomes = []host.Outcome{host.OutcomeSuccess, host.OutcomeRetry, host.OutcomeFailed, host.OutcomeCancelled, host.OutcomeRequeued, host.OutcomeLost}

// typeSeries are the engine's series of one task type.
type typeSeries struct {
	created   prometheus.Counter
	wait, run prometheus.Observer
	finished  map[host.Outcome]prometheus.Counter // read-only once made
}

// series returns typ's series, made on first use.
func (m *Metrics) series(typ string) *typeSeries {
	if ts, ok := m.byType.Load(typ); ok {
		return ts.(*typeSeries)
	}
	if m.label(typ) != typ {
		// Not cached under typ: made-up names must not grow the cache
		// either.
		return m.series(OtherType)
	}
	ts := &typeSeries{
		created:  m.created.WithLabelValues(typ),
		wait:     m.wait.WithLabelValues(typ),
		run:      m.run.WithLabelValues(typ),
		finished: make(map[host.Outcome]prometheus.Counter, len(outcomes)),
	}
	for _, o := range outcomes {
		ts.finished[o] = m.finished.WithLabelValues(typ, string(o))
	}
	actual, _ := m.byType.LoadOrStore(typ, ts)
	return actual.(*typeSeries)
}

var _ host.Observer = (*Metrics)(nil)

// New returns the metrics in a new registry, which also holds the Go
// runtime and process collectors.
func New(opts Options) *Metrics {
	if opts.QueueTimeout <= 0 {
		opts.QueueTimeout = DefaultQueueTimeout
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	m := &Metrics{
		opts:      opts,
		reg:       prometheus.NewRegistry(),
		unhandled: make(map[string]struct{}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_tasks_created_total",
			Help: "Tasks stored by create, by type.",
		}, []string{"type"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskhost_tasks_finished_total",
			Help: "Attempts ended, by type and outcome (success, retry, failed, cancelled, requeued, lost).",
		}, []string{"type", "outcome"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskhost_task_wait_seconds",
			Help:    "Time from a task being due (created, or its retry due) to its attempt starting on a worker, by type.",
			Buckets: taskBuckets,
		}, []string{"type"}),
		run: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskhost_task_run_seconds",
			Help:    "Run time of an attempt on its worker, whatever its outcome, by type.",
			Buckets: taskBuckets,
		}, []string{"type"}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskhost_store_sync_seconds",
			Help:    "Duration of one group sync of the store (one fsync for a batch of commits).",
			Buckets: storeBuckets,
		}),
		syncBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskhost_store_sync_batch_size",
			Help:    "Durable commits (transactions, each of one or more writes) acknowledged by one group sync.",
			Buckets: batchBuckets,
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskhost_store_commit_seconds",
			Help:    "Latency of a durable store write, from the call until the change is on disk.",
			Buckets: storeBuckets,
		}),
	}
	m.reg.MustRegister(
		m.created, m.finished, m.wait, m.run,
		m.syncSeconds, m.syncBatch, m.commitSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog{m.opts.Logger.Named("metrics")},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: MaxConcurrentScrapes,
	})
	return m
}

// Registry is the registry the metrics live in; register more
// collectors on it to serve them from the same handler.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// TasksCreated implements host.Observer.
func (m *Metrics) TasksCreated(typ string, n int) {
	m.series(typ).created.Add(float64(n))
}

// TaskStarted implements host.Observer.
func (m *Metrics) TaskStarted(typ string, wait time.Duration) {
	m.series(typ).wait.Observe(wait.Seconds())
}

// TaskFinished implements host.Observer.
func (m *Metrics) TaskFinished(typ string, outcome host.Outcome, d time.Duration) {
	ts := m.series(typ)
	if c, ok := ts.finished[outcome]; ok {
		c.Inc()
	} else {
		m.finished.WithLabelValues(typ, string(outcome)).Inc() // an outcome added later
	}
	if d > 0 { // 0: the attempt never got a worker, so it has no run
		ts.run.Observe(d.Seconds())
	}
}

// StoreSynced records one group sync of the store; it has the shape of
// badgerstore.Options.OnSync.
func (m *Metrics) StoreSynced(commits int, d time.Duration) {
	m.syncSeconds.Observe(d.Seconds())
	m.syncBatch.Observe(float64(commits))
}

// StoreCommitted records one durable store write; it has the shape of
// badgerstore.Options.OnCommit.
func (m *Metrics) StoreCommitted(d time.Duration) {
	m.commitSeconds.Observe(d.Seconds())
}

// Track adds the metrics read at each scrape: the workers of handlers'
// pools, and the queue depth counted by queue. Either may be nil to
// leave its metrics out. Call it once; a second call fails.
func (m *Metrics) Track(handlers HandlerLister, queue QueueCounter) error {
	m.mu.Lock()
	m.handlers = handlers
	m.mu.Unlock()
	if err := m.reg.Register(newStateCollector(handlers, queue, m.opts.QueueTimeout, m.label)); err != nil {
		return fmt.Errorf("track host state: %w", err)
	}
	return nil
}

// errorLog passes promhttp's errors to an hclog logger.
type errorLog struct{ log hclog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("scrape failed", "error", fmt.Sprint(v...)) }
