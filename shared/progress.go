package shared

import (
	"context"
	"sync"
)

// ProgressRouter delivers a worker's progress stream to the calls it
// belongs to. The protocol it implements: the first event on the stream,
// with call id 0, says the watch is in place; a call's Outcome says how
// many events it sent, so the caller can wait for the last one before
// treating the call as finished.
type ProgressRouter struct {
	ready     chan struct{}
	readyOnce sync.Once

	mu    sync.Mutex
	calls map[uint64]*routedCall
}

type routedCall struct {
	fn       func(Progress)
	received uint64
	want     uint64
	done     chan struct{} // closed when received reaches want, once End has set it
}

// NewProgressRouter returns an empty router.
func NewProgressRouter() *ProgressRouter {
	return &ProgressRouter{ready: make(chan struct{}), calls: make(map[uint64]*routedCall)}
}

// Watch runs w's progress stream until ctx is done or the stream ends.
func (r *ProgressRouter) Watch(ctx context.Context, w Worker) error {
	return w.WatchProgress(ctx, r.deliver)
}

// Ready is closed once the watch is in place.
func (r *ProgressRouter) Ready() <-chan struct{} { return r.ready }

// Begin routes the events of call id to fn (which may be nil).
func (r *ProgressRouter) Begin(id uint64, fn func(Progress)) {
	r.mu.Lock()
	r.calls[id] = &routedCall{fn: fn}
	r.mu.Unlock()
}

// End waits until n events of call id have been delivered, or ctx is done,
// then forgets the call.
func (r *ProgressRouter) End(ctx context.Context, id, n uint64) {
	r.mu.Lock()
	c := r.calls[id]
	if c == nil || c.received >= n {
		delete(r.calls, id)
		r.mu.Unlock()
		return
	}
	c.want, c.done = n, make(chan struct{})
	r.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	r.mu.Lock()
	delete(r.calls, id)
	r.mu.Unlock()
}

func (r *ProgressRouter) deliver(ev ProgressEvent) {
	if ev.CallID == 0 {
		r.readyOnce.Do(func() { close(r.ready) })
		return
	}
	// Events come one at a time from the stream's goroutine.
	r.mu.Lock()
	c := r.calls[ev.CallID]
	r.mu.Unlock()
	if c == nil {
		return
	}
	if c.fn != nil {
		c.fn(Progress{Percent: ev.Percent, Message: ev.Message})
	}
	r.mu.Lock()
	c.received++
	if c.done != nil && c.received == c.want {
		close(c.done)
	}
	r.mu.Unlock()
}
