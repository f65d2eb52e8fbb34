package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/host"
)

// sleepType is the task type of the I/O-bound scenario: the testworker's
// sleep method, 10 ms a task, standing for a call that waits on a network
// or a disk.
const (
	sleepType    = "bench-sleep"
	sleepPayload = `{"ms":10}`
	// ioConcurrency is the concurrency compared with one task per worker.
	ioConcurrency = 32
)

// ioBound runs cfg.ioTasks sleeping tasks on 8 workers, created while the
// warm host runs them, with one task per worker and with ioConcurrency,
// cfg.slowRuns times each.
func (b *bench) ioBound(ctx context.Context) error {
	for run := range b.cfg.slowRuns {
		for _, c := range []int{1, ioConcurrency} {
			rate, err := b.ioRun(ctx, c)
			if err != nil {
				return fmt.Errorf("run %d, concurrency %d: %w", run+1, c, err)
			}
			b.res.add(fmt.Sprintf("io.c%d.rate", c), rate)
		}
	}
	return nil
}

func (b *bench) ioRun(ctx context.Context, concurrency int) (float64, error) {
	bh, err := b.newHost(ctx, hostConfig{
		Handler: true, HandlerType: sleepType, Method: "sleep", Concurrency: concurrency, MinWorkers: workers, NoAPI: true,
	})
	if err != nil {
		return 0, err
	}
	defer bh.close()
	deadline := time.Now().Add(30 * time.Second)
	for bh.h.Handlers()[0].Pool.Alive < workers {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the handler's %d warm workers did not start", workers)
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := b.cfg.ioTasks
	tasks := make([]host.NewTask, n)
	for i := range tasks {
		tasks[i] = host.NewTask{Type: sleepType, Payload: json.RawMessage(sleepPayload)}
	}
	tr := bh.track(n, false, nil)
	occ := sampleOccupancy(bh, tr.done)
	start := time.Now()
	for i := 0; i < n; i += b.cfg.bulkBatch {
		if _, err := bh.h.CreateMany(ctx, tasks[i:min(i+b.cfg.bulkBatch, n)]); err != nil {
			return 0, fmt.Errorf("batch create: %w", err)
		}
	}
	if err := tr.wait(ctx, bulkTimeout); err != nil {
		return 0, err
	}
	took := tr.lastDone().Sub(start)
	b.logf("  concurrency %d: %d tasks of 10 ms in %v; on average %s", concurrency, n, took.Round(time.Millisecond), <-occ)
	return float64(n) / took.Seconds(), nil
}
