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
	for run := range b.cfg.slowRuns {
		if err := b.pacedOnce(ctx, be); err != nil {
			return fmt.Errorf("run %d: %w", run+1, err)
		}
	}
	return nil
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

	type sent struct {
		id  string
		at  time.Time
		err error
	}
	sends := make([]sent, n)
	measure.Paced(n, b.cfg.pacedRate, pacedCreators, func(i int) {
		at := time.Now()
		id, err := bh.client.Create(ctx, echoType, json.RawMessage(echoPayload), host.CreateOptions{RetainFor: host.RetainForever})
		sends[i] = sent{id: id, at: at, err: err}
	})
	waitErr := tr.wait(ctx, time.Minute)
	bh.cur.Store(nil)
	close(verify)
	vwg.Wait()
	for _, s := range sends {
		if s.err != nil {
			return fmt.Errorf("create: %w", s.err)
		}
	}
	if waitErr != nil {
		return waitErr
	}
	if bad.Load() > 0 {
		return fmt.Errorf("%d of %d read-backs wrong, first: %v", bad.Load(), checked.Load(), firstBad.Load())
	}

	var toStart, toResult measure.Latencies
	tr.mu.Lock()
	for _, s := range sends {
		p, ok1 := tr.processing[s.id]
		r, ok2 := tr.success[s.id]
		if !ok1 || !ok2 {
			tr.mu.Unlock()
			return fmt.Errorf("task %s: no processing or success callback", s.id)
		}
		toStart = append(toStart, p.Sub(s.at))
		toResult = append(toResult, r.Sub(s.at))
	}
	tr.mu.Unlock()
	span := sends[n-1].at.Sub(sends[0].at)
	b.res.add(be.key("paced.start.p50"), toStart.PMs(50))
	b.res.add(be.key("paced.start.p99"), toStart.PMs(99))
	b.res.add(be.key("paced.result.p50"), toResult.PMs(50))
	b.res.add(be.key("paced.result.p99"), toResult.PMs(99))
	b.res.add(be.key("paced.rate"), float64(n-1)/span.Seconds())
	b.logf("  paced: %d tasks over %v; %d read back with GET, all success", n, span.Round(time.Millisecond), checked.Load())
	return nil
}
