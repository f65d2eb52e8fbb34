package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
)

// The scenarios mirror taskbench's bulk, paced and create-call ones
// (host/cmd/taskbench/bulk.go, paced.go, createcall.go): the same counts,
// batch sizes, pace and concurrency, River's Insert/InsertMany in place
// of POST /v1/tasks, its completion event in place of the success
// callback, and a fresh job table and client per run in place of a fresh
// host.

// bulkTimeout bounds the wait for one bulk run's jobs.
const bulkTimeout = 3 * time.Minute

// pacedInserters is how many goroutines send the paced inserts (as
// taskbench's pacedCreators).
const pacedInserters = 4

// createInserters is how many goroutines call Insert at once (as
// taskbench's createClients).
const createInserters = 8

func (p *peer) bulk(ctx context.Context) error {
	for run := range p.cfg.slowRuns {
		if err := p.bulkBacklog(ctx); err != nil {
			return fmt.Errorf("backlog run %d: %w", run+1, err)
		}
		if err := p.bulkOverlap(ctx); err != nil {
			return fmt.Errorf("insert-while-processing run %d: %w", run+1, err)
		}
	}
	return nil
}

// bulkBacklog inserts cfg.bulkJobs jobs with InsertMany while the warm
// client's queue is paused, then resumes it and lets it run them all.
func (p *peer) bulkBacklog(ctx context.Context) error {
	n := p.cfg.bulkJobs
	rc, err := p.freshClient(ctx, n)
	if err != nil {
		return err
	}
	defer rc.stop()
	if err := rc.c.QueuePause(ctx, river.QueueDefault, nil); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	select {
	case <-rc.paused:
	case <-time.After(10 * time.Second):
		return errors.New("pause: the client did not report the queue paused within 10s")
	case <-ctx.Done():
		return ctx.Err()
	}

	tr := rc.track(n, false)
	start := time.Now()
	if err := rc.insertMany(ctx, n, p.cfg.bulkBatch); err != nil {
		return err
	}
	inserted := time.Now()
	if s := tr.starts.Load(); s > 0 {
		return fmt.Errorf("%d jobs started while the queue was paused", s)
	}
	if err := rc.c.QueueResume(ctx, river.QueueDefault, nil); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := tr.wait(ctx, bulkTimeout); err != nil {
		return err
	}
	end := tr.lastDone()
	p.figs.add("bulk.backlog.e2e", "jobs/s", float64(n)/end.Sub(start).Seconds())
	p.figs.add("bulk.backlog.insert", "jobs/s", float64(n)/inserted.Sub(start).Seconds())
	p.figs.add("bulk.backlog.drain", "jobs/s", float64(n)/end.Sub(inserted).Seconds())
	p.logf("backlog: %d jobs inserted in %v, all completed %v later", n,
		inserted.Sub(start).Round(time.Millisecond), end.Sub(inserted).Round(time.Millisecond))
	return nil
}

// bulkOverlap inserts cfg.bulkJobs jobs in batches of cfg.overlapBatch
// from one goroutine while the warm client runs them.
func (p *peer) bulkOverlap(ctx context.Context) error {
	n := p.cfg.bulkJobs
	rc, err := p.freshClient(ctx, n)
	if err != nil {
		return err
	}
	defer rc.stop()
	tr := rc.track(n, false)
	start := time.Now()
	if err := rc.insertMany(ctx, n, p.cfg.overlapBatch); err != nil {
		return err
	}
	inserted := time.Now()
	if err := tr.wait(ctx, bulkTimeout); err != nil {
		return err
	}
	end := tr.lastDone()
	p.figs.add("bulk.overlap.e2e", "jobs/s", float64(n)/end.Sub(start).Seconds())
	p.figs.add("bulk.overlap.insert", "jobs/s", float64(n)/inserted.Sub(start).Seconds())
	p.logf("insert-while-processing: %d jobs inserted in %v, all completed %v after the first insert", n,
		inserted.Sub(start).Round(time.Millisecond), end.Sub(start).Round(time.Millisecond))
	return nil
}

func (p *peer) paced(ctx context.Context) error {
	for run := range p.cfg.slowRuns {
		if err := p.pacedOnce(ctx); err != nil {
			return fmt.Errorf("run %d: %w", run+1, err)
		}
	}
	return nil
}

// pacedOnce inserts cfg.pacedRate jobs a second for cfg.pacedDur, one
// Insert each, and measures for each job the time from just before its
// Insert to the worker starting it, and to its completion event (River
// has recorded it completed).
func (p *peer) pacedOnce(ctx context.Context) error {
	n := int(float64(p.cfg.pacedRate) * p.cfg.pacedDur.Seconds())
	rc, err := p.freshClient(ctx, n)
	if err != nil {
		return err
	}
	defer rc.stop()
	tr := rc.track(n, true)
	sends := make([]measure.Sent[int64], n)
	measure.Paced(n, p.cfg.pacedRate, pacedInserters, func(i int) {
		at := time.Now()
		res, err := rc.c.Insert(ctx, noopArgs{N: 1}, nil)
		sends[i] = measure.Sent[int64]{At: at, Err: err}
		if err == nil {
			sends[i].Key = res.Job.ID
		}
	})
	for _, s := range sends {
		if s.Err != nil {
			return fmt.Errorf("insert: %w", s.Err)
		}
	}
	if err := tr.wait(ctx, time.Minute); err != nil {
		return err
	}
	tr.mu.Lock()
	toStart, noStart, ok1 := measure.Until(sends, tr.startAt)
	toDone, noDone, ok2 := measure.Until(sends, tr.doneAt)
	tr.mu.Unlock()
	if !ok1 {
		return fmt.Errorf("job %d: its worker never started it", noStart)
	}
	if !ok2 {
		return fmt.Errorf("job %d: no completion event", noDone)
	}
	span := sends[n-1].At.Sub(sends[0].At)
	p.figs.add("paced.start.p50", "ms", toStart.PMs(50))
	p.figs.add("paced.start.p99", "ms", toStart.PMs(99))
	p.figs.add("paced.result.p50", "ms", toDone.PMs(50))
	p.figs.add("paced.result.p99", "ms", toDone.PMs(99))
	p.figs.add("paced.rate", "jobs/s", float64(n-1)/span.Seconds())
	p.logf("paced: %d jobs over %v: insert → start p50 %.3f ms, → completed p50 %.3f ms",
		n, span.Round(time.Millisecond), toStart.PMs(50), toDone.PMs(50))
	return nil
}

func (p *peer) createCall(ctx context.Context) error {
	for run := range p.cfg.runs {
		if err := p.createCallOnce(ctx); err != nil {
			return fmt.Errorf("run %d: %w", run+1, err)
		}
	}
	return nil
}

// createCallOnce measures Insert on an insert-only client (no queue
// worked, as taskbench creates a type without a handler): createInserters
// goroutines in a loop for cfg.createDur, then one for half that.
func (p *peer) createCallOnce(ctx context.Context) error {
	if err := p.truncate(ctx); err != nil {
		return err
	}
	c, err := river.NewClient(riverpgxv5.New(p.pool), &river.Config{Schema: p.schema, Logger: p.slog})
	if err != nil {
		return fmt.Errorf("new insert-only client: %w", err)
	}
	insert := func(int, int) error {
		if _, err := c.Insert(ctx, noopArgs{N: 1}, nil); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		return nil
	}
	if err := insert(0, 0); err != nil { // the first: connections, statements
		return err
	}
	rate, lat, err := measure.ClosedLoop(createInserters, p.cfg.createDur, 0, insert)
	if err != nil {
		return err
	}
	p.figs.add("create.c8.p50", "ms", lat.PMs(50))
	p.figs.add("create.c8.p99", "ms", lat.PMs(99))
	p.figs.add("create.c8.rate", "jobs/s", rate)
	rate1, lat1, err := measure.ClosedLoop(1, p.cfg.createDur/2, 0, insert)
	if err != nil {
		return err
	}
	p.figs.add("create.c1.p50", "ms", lat1.PMs(50))
	p.figs.add("create.c1.p99", "ms", lat1.PMs(99))
	p.figs.add("create.c1.rate", "jobs/s", rate1)
	p.logf("create call: Insert p50 %.3f ms with %d inserters (%.0f jobs/s), %.3f ms with 1 (%.0f jobs/s)",
		lat.PMs(50), createInserters, rate, lat1.PMs(50), rate1)
	return nil
}
