package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/store"
)

// bulkTimeout bounds the wait for one bulk run's tasks.
const bulkTimeout = 3 * time.Minute

func echoTasks(n int) []host.NewTask {
	tasks := make([]host.NewTask, n)
	for i := range tasks {
		tasks[i] = host.NewTask{Type: echoType, Payload: json.RawMessage(echoPayload)}
	}
	return tasks
}

// bulkVariant is how the bulk scenarios' handler runs its tasks, and
// where their figures go.
type bulkVariant struct {
	// key starts the figure keys: "bulk." for one task per worker.
	key string
	// concurrency is the tasks one worker runs at once; 0 means one.
	concurrency int
}

// oneTaskPerWorker is the bulk scenario's variant; concurrency8 the
// bulk-conc scenario's.
var (
	oneTaskPerWorker = bulkVariant{key: "bulk."}
	concurrency8     = bulkVariant{key: "bulkc8.", concurrency: 8}
)

// handler sets up a host's handler for the variant. A handler with
// concurrency keeps all its workers started (min_workers): tasks are
// packed onto the busiest worker, so a warm-up by tasks would start only
// as many as the warm-up tasks fill.
func (v bulkVariant) handler(hc hostConfig) hostConfig {
	hc.Handler = true
	hc.Concurrency = v.concurrency
	if v.concurrency > 1 {
		hc.MinWorkers = workers
	}
	return hc
}

// bulk runs both bulk variants cfg.slowRuns times on the backend.
func (b *bench) bulk(ctx context.Context, be *backend) error {
	return b.bulkOf(ctx, be, oneTaskPerWorker)
}

// bulkConc runs both bulk variants with 8 tasks per worker on Badger.
func (b *bench) bulkConc(ctx context.Context) error {
	return b.bulkOf(ctx, b.badger(), concurrency8)
}

func (b *bench) bulkOf(ctx context.Context, be *backend, v bulkVariant) error {
	for run := range b.cfg.slowRuns {
		if err := b.bulkBacklog(ctx, be, v); err != nil {
			return fmt.Errorf("backlog run %d: %w", run+1, err)
		}
		if err := b.bulkOverlap(ctx, be, v); err != nil {
			return fmt.Errorf("create-while-processing run %d: %w", run+1, err)
		}
	}
	return nil
}

// bulkBacklog creates cfg.bulkTasks echo tasks through POST
// /v1/tasks/batch while nothing dispatches them, then lets the host run
// them all.
//
// The host API has no "pause dispatch", and a host with warm workers
// dispatches each batch as soon as it is stored. So the tasks are created
// through the HTTP API of a second engine over the same store that has no
// handler (a real host.Host, never started). On a store whose creates
// wake nobody else (Badger), the engine with the warm workers sleeps
// meanwhile (its safety-net poll is an hour away), and one task created
// on it then wakes its dispatcher. On a store whose creates notify every
// host listening (pgstore: store.WorkNotifier), a warm engine would be
// woken by each batch; so the engine that runs them starts only once the
// backlog is in, and its workers start cold: "drain" runs from its Start.
func (b *bench) bulkBacklog(ctx context.Context, be *backend, v bulkVariant) error {
	st, closeStore, err := be.open(ctx)
	if err != nil {
		return fmt.Errorf("open the %s store: %w", be.name, err)
	}
	_, notifies := st.(store.WorkNotifier)
	hc := v.handler(hostConfig{NoAPI: true, Backend: be, Store: st, NoStart: notifies})
	if !notifies {
		hc.TaskInterval = time.Hour
	}
	runner, err := b.newHost(ctx, hc)
	if err != nil {
		closeStore()
		return err
	}
	runner.closeStore = closeStore
	defer runner.close()
	if !notifies {
		if err := runner.warm(ctx); err != nil {
			return err
		}
	}
	front, err := b.newHost(ctx, hostConfig{Store: st, Backend: be, NoStart: true})
	if err != nil {
		return err
	}
	defer front.close()

	n := b.cfg.bulkTasks
	tasks := echoTasks(n)
	want := n
	if !notifies {
		want++ // the wake-up task
	}
	tr := runner.track(want, false, nil)
	start := time.Now()
	for i := 0; i < n; i += b.cfg.bulkBatch {
		if _, err := front.client.CreateMany(ctx, tasks[i:min(i+b.cfg.bulkBatch, n)]); err != nil {
			return fmt.Errorf("batch create: %w", err)
		}
	}
	created := time.Now()
	if s := tr.started.Load(); s > 0 {
		return fmt.Errorf("%d tasks were dispatched while the backlog was being created", s)
	}
	if notifies {
		if err := runner.h.Start(ctx); err != nil {
			return err
		}
	} else if _, err := runner.h.Create(ctx, echoType, json.RawMessage(echoPayload), host.CreateOptions{}); err != nil {
		return fmt.Errorf("create the wake-up task: %w", err)
	}
	occ := sampleOccupancy(runner, tr.done)
	if err := tr.wait(ctx, bulkTimeout); err != nil {
		return err
	}
	end := tr.lastDone()
	b.logf("  backlog drain: on average %s", <-occ)
	b.res.add(be.key(v.key+"backlog.e2e"), float64(want)/end.Sub(start).Seconds())
	b.res.add(be.key(v.key+"backlog.create"), float64(n)/created.Sub(start).Seconds())
	b.res.add(be.key(v.key+"backlog.drain"), float64(want)/end.Sub(created).Seconds())
	b.logf("  backlog: %d tasks created in %v, all finished %v later", n, created.Sub(start).Round(time.Millisecond), end.Sub(created).Round(time.Millisecond))
	return nil
}

// bulkOverlap creates cfg.bulkTasks echo tasks in batches of
// cfg.overlapBatch from one goroutine while the warm host runs them.
func (b *bench) bulkOverlap(ctx context.Context, be *backend, v bulkVariant) error {
	bh, err := b.newHost(ctx, v.handler(hostConfig{Backend: be}))
	if err != nil {
		return err
	}
	defer bh.close()
	if err := bh.warm(ctx); err != nil {
		return err
	}
	n := b.cfg.bulkTasks
	tasks := echoTasks(n)
	tr := bh.track(n, false, nil)
	start := time.Now()
	for i := 0; i < n; i += b.cfg.overlapBatch {
		if _, err := bh.client.CreateMany(ctx, tasks[i:min(i+b.cfg.overlapBatch, n)]); err != nil {
			return fmt.Errorf("batch create: %w", err)
		}
	}
	created := time.Now()
	doneByThen := tr.succeeded.Load()
	if err := tr.wait(ctx, bulkTimeout); err != nil {
		return err
	}
	end := tr.lastDone()
	b.res.add(be.key(v.key+"overlap.e2e"), float64(n)/end.Sub(start).Seconds())
	b.logf("  create-while-processing: %d tasks created in %v (%d finished by then), all finished %v after the first create",
		n, created.Sub(start).Round(time.Millisecond), doneByThen, end.Sub(start).Round(time.Millisecond))
	return nil
}

// sampleOccupancy samples, every 10 ms until done, how many of the
// handler's tasks are in flight (claimed, not yet settled) and how many
// of its workers are running a call, and then sends the averages: with
// 8 workers, fewer than 8 busy means the workers wait for work.
func sampleOccupancy(bh *benchHost, done <-chan struct{}) <-chan string {
	out := make(chan string, 1)
	go func() {
		var n, running, busy int
		// Not faster: Handlers reads every worker's RSS from /proc, which
		// every millisecond took 3% of the host's CPU in the bulk runs.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if n == 0 {
					n = 1
				}
				out <- fmt.Sprintf("%.1f tasks in flight and %.1f of %d workers running some (%d samples)",
					float64(running)/float64(n), float64(busy)/float64(n), workers, n)
				return
			case <-tick.C:
				if hs := bh.h.Handlers(); len(hs) > 0 {
					n++
					running += hs[0].Running
					busy += hs[0].Pool.Busy
				}
			}
		}
	}()
	return out
}
