package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// HandlerLister lists the registered handlers with their pools' stats. A
// *host.Host is one.
type HandlerLister interface {
	Handlers() []host.HandlerInfo
	HasHandler(typ string) bool
}

// QueueCounter counts stored tasks by type, in the given statuses. Every
// type with a stored task must be in the result. A *badgerstore.Store is
// one.
type QueueCounter interface {
	Counts(ctx context.Context, statuses ...shared.Status) (map[string]map[shared.Status]int, error)
}

var _ HandlerLister = (*host.Host)(nil)

// queueStatuses are the statuses of taskhost_queue_depth: the queue, not
// the retained history, whose count would grow without bound.
var queueStatuses = []shared.Status{shared.StatusPending, shared.StatusProcessing}

// stateCollector reads the pools and the queue at each scrape.
type stateCollector struct {
	handlers HandlerLister
	queue    QueueCounter
	timeout  time.Duration
	label    func(typ string) string

	workers, spawns, spawnFailures, crashes, timeouts, kills, queueDepth *prometheus.Desc
}

var _ prometheus.Collector = (*stateCollector)(nil)

func newStateCollector(handlers HandlerLister, queue QueueCounter, timeout time.Duration, label func(string) string) *stateCollector {
	byType := []string{"type"}
	return &stateCollector{
		handlers: handlers,
		queue:    queue,
		timeout:  timeout,
		label:    label,
		workers: prometheus.NewDesc("taskhost_workers",
			"Worker processes of a handler, by type and state (alive = busy + idle).", []string{"type", "state"}, nil),
		spawns: prometheus.NewDesc("taskhost_worker_spawns_total",
			"Workers started, by type.", byType, nil),
		spawnFailures: prometheus.NewDesc("taskhost_worker_spawn_failures_total",
			"Workers that failed to start (spawn, handshake or initialise), by type.", byType, nil),
		crashes: prometheus.NewDesc("taskhost_worker_crashes_total",
			"Workers lost to a crash, exit or hang, by type.", byType, nil),
		timeouts: prometheus.NewDesc("taskhost_worker_timeouts_total",
			"Calls that ran past their execution timeout, by type.", byType, nil),
		kills: prometheus.NewDesc("taskhost_worker_kills_total",
			"Workers killed because a cancelled call did not return in time or the pool closed, by type.", byType, nil),
		queueDepth: prometheus.NewDesc("taskhost_queue_depth",
			"Stored tasks by type and status (pending, processing).", []string{"type", "status"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.workers, c.spawns, c.spawnFailures, c.crashes, c.timeouts, c.kills, c.queueDepth} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	var infos []host.HandlerInfo
	if c.handlers != nil {
		infos = c.handlers.Handlers()
	}
	for _, hi := range infos {
		st := hi.Pool
		gauge := func(state string, v int) {
			ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(v), hi.Type, state)
		}
		gauge("alive", st.Alive)
		gauge("busy", st.Busy)
		gauge("idle", st.Idle)
		for d, v := range map[*prometheus.Desc]uint64{
			c.spawns: st.Spawns, c.spawnFailures: st.SpawnFailures,
			c.crashes: st.Crashes, c.timeouts: st.Timeouts, c.kills: st.Kills,
		} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), hi.Type)
		}
	}
	if c.queue != nil {
		c.collectQueue(ch, infos)
	}
}

// collectQueue reports the depth of every stored type and every handler's
// type.
func (c *stateCollector) collectQueue(ch chan<- prometheus.Metric, infos []host.HandlerInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.queue.Counts(ctx, queueStatuses...)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.queueDepth, err)
		return
	}
	byLabel := make(map[string]map[shared.Status]int)
	for _, hi := range infos {
		byLabel[hi.Type] = make(map[shared.Status]int)
	}
	for typ, byStatus := range counts {
		l := c.label(typ)
		if byLabel[l] == nil {
			byLabel[l] = make(map[shared.Status]int)
		}
		for status, n := range byStatus {
			byLabel[l][status] += n
		}
	}
	for typ, byStatus := range byLabel {
		for _, status := range queueStatuses {
			ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(byStatus[status]), typ, string(status))
		}
	}
}
