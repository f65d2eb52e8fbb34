package store

import (
	"context"
	"sync"

	"github.com/taskhost/taskhost/shared"
)

// Batches groups the single-task writes of concurrent callers, so that a
// backend commits the writes that wait together in one transaction and
// one sync: the outcomes of tasks that finish at once, as River marks its
// jobs completed in batches. Unlike River's, a batch goes as soon as a
// flusher is free: an idle store adds no delay, and each write is still
// durable when its call returns.
//
// W is the backend's description of one write. flush commits a batch and
// sets each Write's N (rows changed, for backends that count them) or Err;
// it may rely on Ctx not being done yet, but the batch must not depend on
// any one caller's context.
type Batches[W any] struct {
	flush    func(batch []*Write[W])
	max      int
	queue    chan *Write[W]
	stop     chan struct{}
	stopOnce sync.Once
	stopped  sync.WaitGroup
}

// Write is one write of a batch and, once flushed, its result.
type Write[W any] struct {
	Ctx context.Context
	W   W
	N   int64
	Err error

	done chan struct{}
}

// NewBatches starts flushers goroutines that each flush up to max writes
// at a time.
func NewBatches[W any](flushers, max int, flush func(batch []*Write[W])) *Batches[W] {
	b := &Batches[W]{flush: flush, max: max, queue: make(chan *Write[W], 4*max), stop: make(chan struct{})}
	for range flushers {
		b.stopped.Go(b.loop)
	}
	return b
}

// Do queues w for the next batch and returns its result once the batch is
// committed, or ctx's error (the write may still happen), or
// shared.ErrClosed once Close has begun.
func (b *Batches[W]) Do(ctx context.Context, w W) (int64, error) {
	wr := &Write[W]{Ctx: ctx, W: w, done: make(chan struct{})}
	select {
	case b.queue <- wr:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-b.stop:
		return 0, shared.ErrClosed
	}
	select {
	case <-wr.done:
		return wr.N, wr.Err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-b.stop:
		// Close waits for the batches in flight; a write still queued
		// then never runs.
		b.stopped.Wait()
		select {
		case <-wr.done:
			return wr.N, wr.Err
		default:
			return 0, shared.ErrClosed
		}
	}
}

// Close stops the flushers after the batches they are running. Closing
// twice is harmless.
func (b *Batches[W]) Close() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.stopped.Wait()
}

func (b *Batches[W]) loop() {
	for {
		var batch []*Write[W]
		select {
		case wr := <-b.queue:
			batch = append(batch, wr)
		case <-b.stop:
			return
		}
	drain:
		for len(batch) < b.max {
			select {
			case wr := <-b.queue:
				batch = append(batch, wr)
			default:
				break drain
			}
		}
		live := batch[:0:0]
		for _, wr := range batch {
			if err := wr.Ctx.Err(); err != nil {
				wr.Err = err // its caller has gone: don't write
				continue
			}
			live = append(live, wr)
		}
		if len(live) > 0 {
			b.flush(live)
		}
		for _, wr := range batch {
			close(wr.done)
		}
	}
}
