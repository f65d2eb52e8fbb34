package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/shared"
)

// worker serves Methods as a [shared.Worker].
type worker struct {
	methods Methods
	logger  hclog.Logger
	// slots holds one token per call that may run at once (the declared
	// concurrency, 1 by default): the host never sends more, and a plugin
	// keeps the promise of one call at a time unless it declared more.
	slots       chan struct{}
	concurrency int

	mu      sync.Mutex
	running map[uint64]context.CancelFunc
	// The host numbers a worker's calls 1, 2, 3… with none skipped, but
	// Invokes in flight together may arrive in any order, and a Cancel
	// may overtake its Invoke. next is the lowest id not seen yet, seen
	// the ids above it already seen: an id below next or in seen has
	// started (a Cancel for it, not running, came too late), any other is
	// still to come, and a Cancel for it is kept in early until it starts.
	next     uint64
	seen     map[uint64]struct{}
	early    map[uint64]struct{}
	watchers map[chan shared.ProgressEvent]chan struct{} // event channel → closed when the watch ends
}

// maxSeen bounds seen: a host that skips ids (older hosts numbered calls
// per handler, one at a time) would grow it forever. Past it, every id up
// to the highest seen counts as seen, the rule of those hosts.
const maxSeen = 4096

// NewWorker returns the [shared.Worker] that [Serve] serves, with the
// same options. Tests and custom servers use it; plugins call Serve. A nil
// logger discards.
func NewWorker(methods Methods, logger hclog.Logger, opts ...ServeOption) shared.Worker {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	o := newServeOptions(opts)
	return &worker{
		methods:     methods,
		logger:      logger,
		slots:       make(chan struct{}, o.concurrency),
		concurrency: o.concurrency,
		running:     make(map[uint64]context.CancelFunc),
		next:        1,
		seen:        make(map[uint64]struct{}),
		early:       make(map[uint64]struct{}),
		watchers:    make(map[chan shared.ProgressEvent]chan struct{}),
	}
}

func (w *worker) Describe(context.Context) (shared.PluginInfo, error) {
	names := make([]string, 0, len(w.methods))
	for name := range w.methods {
		names = append(names, name)
	}
	slices.Sort(names)
	return shared.PluginInfo{Methods: names, MaxConcurrency: w.concurrency}, nil
}

func (w *worker) Invoke(ctx context.Context, call shared.Call) (shared.Outcome, error) {
	m, ok := w.methods[call.Method]
	if !ok {
		w.mu.Lock()
		w.markSeenLocked(call.ID)
		delete(w.early, call.ID) // a cancel that overtook it: nothing to cancel
		w.mu.Unlock()
		return shared.Outcome{Error: &shared.TaskError{
			Name:      shared.ErrorNameMethodNotFound,
			Message:   fmt.Sprintf("plugin exports no method %q", call.Method),
			Permanent: true,
		}}, nil
	}

	var cancel context.CancelFunc
	if call.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, call.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	w.mu.Lock()
	w.running[call.ID] = cancel
	w.markSeenLocked(call.ID)
	if _, ok := w.early[call.ID]; ok {
		delete(w.early, call.ID)
		cancel()
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, call.ID)
		w.mu.Unlock()
	}()

	if !w.takeSlot(ctx) {
		return shared.Outcome{Error: toTaskError(fmt.Errorf("method %q: %w before it started", call.Method, context.Cause(ctx)))}, nil
	}
	defer func() { <-w.slots }()

	logger := w.logger
	if call.Task.ID != "" {
		logger = logger.With("task_id", call.Task.ID, "method", call.Method)
	}
	ci := &callInfo{id: call.ID, worker: w, logger: logger}
	ctx = context.WithValue(ctx, callKey{}, ci)

	result, err := w.run(ctx, m, call)
	out := shared.Outcome{Result: result, ProgressEvents: ci.sent.Load()}
	if err != nil {
		out.Result, out.Error = nil, toTaskError(err)
	}
	return out, nil
}

// takeSlot waits for one of the calls that may run at once, or until ctx
// is done; a free slot is taken even then, so that a method cancelled
// before it started still sees its call, as without a limit.
func (w *worker) takeSlot(ctx context.Context) bool {
	select {
	case w.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case w.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// markSeenLocked records that call id has arrived.
func (w *worker) markSeenLocked(id uint64) {
	switch {
	case id < w.next:
		return
	case id > w.next:
		w.seen[id] = struct{}{}
		if len(w.seen) > maxSeen {
			for s := range w.seen {
				w.next = max(w.next, s+1)
			}
			clear(w.seen)
			for e := range w.early {
				if e < w.next {
					delete(w.early, e)
				}
			}
		}
		return
	}
	w.next++
	for {
		if _, ok := w.seen[w.next]; !ok {
			return
		}
		delete(w.seen, w.next)
		w.next++
	}
}

// seenLocked reports whether call id has arrived.
func (w *worker) seenLocked(id uint64) bool {
	if id < w.next {
		return true
	}
	_, ok := w.seen[id]
	return ok
}

// run calls the method, turning a panic into an error.
func (w *worker) run(ctx context.Context, m Method, call shared.Call) (result json.RawMessage, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError(call.Method, v)
		}
	}()
	return m.invoke(ctx, call.Method, Task(call.Task), call.Payload)
}

func (w *worker) Cancel(_ context.Context, callID uint64) (bool, error) {
	w.mu.Lock()
	cancel, ok := w.running[callID]
	if !ok && !w.seenLocked(callID) {
		w.early[callID] = struct{}{} // its Invoke has not arrived yet
		ok = true
	}
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return ok, nil
}

func (w *worker) WatchProgress(ctx context.Context, fn func(shared.ProgressEvent)) error {
	ch := make(chan shared.ProgressEvent, 64)
	done := make(chan struct{})
	w.mu.Lock()
	w.watchers[ch] = done
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.watchers, ch)
		w.mu.Unlock()
		close(done)
	}()
	// The first event, with call id 0, tells the host the watch is in
	// place, so no report of its first call can be lost.
	fn(shared.ProgressEvent{})
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			fn(ev)
		}
	}
}

// publish hands ev to every watcher and reports whether any took it. A
// method that reports faster than the host reads waits for it.
func (w *worker) publish(ctx context.Context, ev shared.ProgressEvent) bool {
	w.mu.Lock()
	watchers := make(map[chan shared.ProgressEvent]chan struct{}, len(w.watchers))
	maps.Copy(watchers, w.watchers)
	w.mu.Unlock()
	sent := false
	for ch, done := range watchers {
		select {
		case ch <- ev:
			sent = true
		case <-done:
		case <-ctx.Done():
		}
	}
	return sent
}

type callKey struct{}

type callInfo struct {
	id     uint64
	worker *worker
	logger hclog.Logger
	sent   atomic.Uint64 // progress events handed to a watcher
}

// Progress reports how far the running method is (percent in 0..100) to
// the host, which shows it on the task. Outside a method call it does
// nothing.
func Progress(ctx context.Context, percent float64, message string) {
	ci, ok := ctx.Value(callKey{}).(*callInfo)
	if !ok {
		return
	}
	if ci.worker.publish(ctx, shared.ProgressEvent{CallID: ci.id, Percent: min(max(percent, 0), 100), Message: message}) {
		ci.sent.Add(1)
	}
}

// Logger returns a logger for the running method; its lines reach the
// host's log, tagged with the task. Outside a method call it returns a
// logger that discards.
func Logger(ctx context.Context) hclog.Logger {
	if ci, ok := ctx.Value(callKey{}).(*callInfo); ok {
		return ci.logger
	}
	return hclog.NewNullLogger()
}
