// Package metrics exposes the task host in the Prometheus text format:
// [Metrics] is the engine's [host.Observer], takes the store's commit
// hooks, reads the handlers' pools and the queue at each scrape, and
// serves all of it from its own registry ([Metrics.Handler], which
// host/api mounts at GET /metrics).
//
// # Metrics
//
// Counted as the engine works (the Observer and the store hooks):
//
//	taskhost_tasks_created_total{type}              counter: tasks stored by Create and CreateMany
//	taskhost_tasks_finished_total{type,outcome}     counter: attempts ended; outcome success|retry|failed|cancelled|requeued|lost (all six from a type's first task on)
//	taskhost_task_wait_seconds{type}                histogram: from due (creation, or the retry's due time) to the start of an attempt on a worker
//	taskhost_task_run_seconds{type}                 histogram: the run of an attempt on its worker, every outcome; an attempt that never got a worker (its worker failed to start, or it was requeued at a stop) has none, as it has no wait
//	taskhost_store_sync_seconds                     histogram: one group sync (db.Sync)
//	taskhost_store_sync_batch_size                  histogram: durable commits one group sync acknowledged
//	taskhost_store_commit_seconds                   histogram: a durable write, from the call until it is on disk
//
// Read at each scrape ([Metrics.Track]):
//
//	taskhost_workers{type,state}                    gauge: state alive|busy|idle (alive = busy + idle; do not sum over state)
//	taskhost_worker_spawns_total{type}              counter: workers started
//	taskhost_worker_spawn_failures_total{type}      counter: workers that failed to start
//	taskhost_worker_crashes_total{type}             counter: workers lost to a crash
//	taskhost_worker_timeouts_total{type}            counter: workers killed after an execution timeout
//	taskhost_worker_kills_total{type}               counter: workers killed (cancel grace over, shutdown)
//	taskhost_queue_depth{type,status}               gauge: stored tasks; status pending|processing
//
// plus the Go runtime (go_*) and process (process_*) collectors and
// promhttp_metric_handler_errors_total.
//
// The type label is the task type, but task types without a registered
// handler get labels of their own only up to [MaxUnhandledTypes]; tasks
// of further such types (typos, made-up names) are counted under
// type="_other" ([OtherType]), so that clients cannot grow the series
// without bound.
//
// The worker counters come from the pools, which count from their
// creation: unregistering a handler and registering it again starts them
// at zero, which Prometheus reads as a counter reset.
//
// # Cost
//
// The Observer and store hooks run on hot paths: a type's series are
// looked up once and cached, so a call is a map read and a few atomic
// adds (about 0.1µs for a task's create, start and finish together,
// BenchmarkObserver), and never blocks. A scrape snapshots every pool
// (a short lock each) and counts the queue with [QueueCounter]: for
// badgerstore a key-only scan of the pending and processing tasks plus a
// few seeks per stored type, so it grows with the queue, not with the
// retained history: about 70ms for 100,000 queued tasks on a 2-core VM.
// It is bounded by [Options.QueueTimeout], and at most
// [MaxConcurrentScrapes] scrapes run at once.
//
// Queue depth is reported for every type that has a stored task and for
// every registered handler's type (zero when it has none), so a type
// whose tasks wait without a handler shows up too. Every type is a
// label value: a host that is sent tasks of unboundedly many type names
// gets that many series.
//
// The package knows the engine, the store and the pools only through
// [host.Observer], [HandlerLister], [QueueCounter] and plain hook
// functions; it starts no goroutine and keeps no package-level state.
package metrics
