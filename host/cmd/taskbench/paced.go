package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
	"github.com/taskhost/taskhost/shared"
)

// pacedCreators is how many goroutines send the paced creates, so that
// one slow call does not hold back the next tick.
const pacedCreators = 4

// verifyEvery: one task in this many is read back with GET after its
// success callback.
const verifyEvery = 16

// paced runs the paced scenario cfg.slowRuns times on the backend.
func (b *bench) paced(ctx context.Context, be *backend) error {
	return repeat(ctx, b.cfg.slowRuns, be, b.pacedOnce)
}

// pacedOnce creates cfg.pacedRate tasks a second for cfg.pacedDur, one
// POST /v1/tasks each, on a host with warm workers, and measures for each
// task the time from just before its create call to its 'processing'
// callback (the handler has started it) and to its 'success' callback (the
// result is stored). Tasks are retained so that their results can be read
// back: one in verifyEvery is fetched with GET once its success is
// reported and must show it.
func (b *bench) pacedOnce(ctx context.Context, be *backend) error {
	bh, err := b.newHost(ctx, hostConfig{Handler: true, Backend: be})
	if err != nil {
		return err
	}
	defer bh.close()
	if err := bh.warm(ctx); err != nil {
		return err
	}

	n := int(float64(b.cfg.pacedRate) * b.cfg.pacedDur.Seconds())

	// Read-backs run off the callback goroutine, so that they delay no
	// callback.
	verify := make(chan string, n)
	var checked, bad atomic.Int64
	var firstBad atomic.Value
	var vwg sync.WaitGroup
	vwg.Go(func() {
		for id := range verify {
			t, err := bh.client.Get(ctx, id)
			checked.Add(1)
			if err == nil && (t.Status != shared.StatusSuccess || len(t.Result) == 0) {
				err = fmt.Errorf("task %s: status %s, result %s after its success callback", id, t.Status, t.Result)
			}
			if err != nil {
				bad.Add(1)
				firstBad.CompareAndSwap(nil, err.Error())
			}
		}
	})
	var seen atomic.Int64
	tr := bh.track(n, true, func(id string) {
		if seen.Add(1)%verifyEvery == 0 {
			verify <- id
		}
	})

	sends := make([]measure.Sent[string], n)
	measure.Paced(n, b.cfg.pacedRate, pacedCreators, func(i int) {
		at := time.Now()
		id, err := bh.client.Create(ctx, echoType, json.RawMessage(echoPayload), host.CreateOptions{RetainFor: host.RetainForever})
		sends[i] = measure.Sent[string]{Key: id, At: at, Err: err}
	})
	waitErr := tr.wait(ctx, time.Minute)
	bh.cur.Store(nil)
	close(verify)
	vwg.Wait()
	for _, s := range sends {
		if s.Err != nil {
			return fmt.Errorf("create: %w", s.Err)
		}
	}
	if waitErr != nil {
		return waitErr
	}
	if bad.Load() > 0 {
		return fmt.Errorf("%d of %d read-backs wrong, first: %v", bad.Load(), checked.Load(), firstBad.Load())
	}

	tr.mu.Lock()
	toStart, noStart, ok1 := measure.Until(sends, tr.processing)
	toResult, noResult, ok2 := measure.Until(sends, tr.success)
	tr.mu.Unlock()
	if !ok1 {
		return fmt.Errorf("task %s: no processing callback", noStart)
	}
	if !ok2 {
		return fmt.Errorf("task %s: no success callback", noResult)
	}
	span := sends[n-1].At.Sub(sends[0].At)
	b.res.add(be.key("paced.start.p50"), toStart.PMs(50))
	b.res.add(be.key("paced.start.p99"), toStart.PMs(99))
	b.res.add(be.key("paced.result.p50"), toResult.PMs(50))
	b.res.add(be.key("paced.result.p99"), toResult.PMs(99))
	b.res.add(be.key("paced.rate"), float64(n-1)/span.Seconds())
	b.logf("  paced: %d tasks over %v; %d read back with GET, all success", n, span.Round(time.Millisecond), checked.Load())
	return nil
}
