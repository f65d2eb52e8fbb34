package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// noopArgs is the bench job; its payload is taskbench's echo payload,
// {"n":1}.
type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "taskbench_noop" }

// noopWorker notes when it starts each job and does nothing else.
type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	cur *atomic.Pointer[tracker]
}

func (w *noopWorker) Work(_ context.Context, job *river.Job[noopArgs]) error {
	if tr := w.cur.Load(); tr != nil {
		tr.started(job.ID, time.Now())
	}
	return nil
}

// tracker follows one phase: how many jobs started, when each started
// and completed (when asked to record), and when the last completed.
type tracker struct {
	want   int
	record bool
	starts atomic.Int64
	done   chan struct{}

	mu        sync.Mutex
	completed int
	failed    int
	last      time.Time
	startAt   map[int64]time.Time
	doneAt    map[int64]time.Time
}

func newTracker(want int, record bool) *tracker {
	tr := &tracker{want: want, record: record, done: make(chan struct{})}
	if record {
		tr.startAt = make(map[int64]time.Time, want)
		tr.doneAt = make(map[int64]time.Time, want)
	}
	return tr
}

func (tr *tracker) started(id int64, at time.Time) {
	tr.starts.Add(1)
	if tr.record {
		tr.mu.Lock()
		tr.startAt[id] = at
		tr.mu.Unlock()
	}
}

// ended counts a completed (ok) or failed job.
func (tr *tracker) ended(id int64, at time.Time, ok bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if ok {
		tr.completed++
	} else {
		tr.failed++
	}
	if tr.record && ok {
		tr.doneAt[id] = at
	}
	tr.last = at
	if tr.completed+tr.failed == tr.want {
		close(tr.done)
	}
}

// wait waits until every job of the phase has ended; a failed job is an
// error.
func (tr *tracker) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tr.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return fmt.Errorf("timed out after %v: %d of %d jobs ended", timeout, tr.completed+tr.failed, tr.want)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.failed > 0 {
		return fmt.Errorf("%d of %d jobs failed", tr.failed, tr.want)
	}
	return nil
}

func (tr *tracker) lastDone() time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.last
}

// riverClient is a started River client working the default queue with
// the no-op worker; its job starts and completions go to the current
// tracker.
type riverClient struct {
	c      *river.Client[pgx.Tx]
	cur    atomic.Pointer[tracker]
	paused chan struct{}
	unsub  func()
	events sync.WaitGroup
}

// startClient starts a client whose completion subscription holds up to
// backlog events, so that none is dropped while a bulk phase runs.
func (p *peer) startClient(ctx context.Context, backlog int) (*riverClient, error) {
	rc := &riverClient{paused: make(chan struct{}, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{cur: &rc.cur})
	c, err := river.NewClient(riverpgxv5.New(p.pool), &river.Config{
		FetchCooldown:     p.cfg.fetchCooldown,
		FetchPollInterval: p.cfg.fetchPollInterval,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: p.cfg.workers}},
		Schema:            p.schema,
		Workers:           workers,
		Logger:            p.slog,
	})
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	rc.c = c
	events, unsub := c.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: backlog + 1000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindQueuePaused},
	})
	rc.unsub = unsub
	rc.events.Go(func() {
		for ev := range events {
			at := time.Now()
			switch ev.Kind {
			case river.EventKindQueuePaused:
				select {
				case rc.paused <- struct{}{}:
				default:
				}
			default:
				if tr := rc.cur.Load(); tr != nil {
					tr.ended(ev.Job.ID, at, ev.Kind == river.EventKindJobCompleted)
				}
			}
		}
	})
	if err := c.Start(ctx); err != nil {
		rc.unsub()
		rc.events.Wait()
		return nil, fmt.Errorf("start client: %w", err)
	}
	return rc, nil
}

func (rc *riverClient) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = rc.c.Stop(ctx)
	rc.unsub()
	rc.events.Wait()
}

// track starts a phase of want jobs.
func (rc *riverClient) track(want int, record bool) *tracker {
	tr := newTracker(want, record)
	rc.cur.Store(tr)
	return tr
}

// insertMany inserts n jobs in batches of batch.
func (rc *riverClient) insertMany(ctx context.Context, n, batch int) error {
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{N: 1}}
	}
	for i := 0; i < n; i += batch {
		if _, err := rc.c.InsertMany(ctx, params[i:min(i+batch, n)]); err != nil {
			return fmt.Errorf("insert many: %w", err)
		}
	}
	return nil
}

// freshClient empties the job table, so that each run starts as on a
// fresh store, and starts a warm client for a phase of up to backlog
// jobs.
func (p *peer) freshClient(ctx context.Context, backlog int) (*riverClient, error) {
	if err := p.truncate(ctx); err != nil {
		return nil, err
	}
	rc, err := p.startClient(ctx, backlog)
	if err != nil {
		return nil, err
	}
	if err := rc.warm(ctx, p.cfg.workers); err != nil {
		rc.stop()
		return nil, err
	}
	return rc, nil
}

// warm runs a few batches of jobs through the client, so that its
// connections and statements are ready before a measurement.
func (rc *riverClient) warm(ctx context.Context, workers int) error {
	for range 3 {
		n := 4 * workers
		tr := rc.track(n, false)
		if err := rc.insertMany(ctx, n, n); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
		if err := tr.wait(ctx, 30*time.Second); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}
	rc.cur.Store(nil)
	return nil
}
