package host

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// ChangeKind says what happened to a task in a [Change].
type ChangeKind string

// The kinds of change.
const (
	// ChangeCreated: the task was stored.
	ChangeCreated ChangeKind = "created"
	// ChangeUpdated: the task has a new state (a claim, an outcome, a
	// retry, a cancel).
	ChangeUpdated ChangeKind = "updated"
	// ChangeProgress: the running method reported its progress.
	ChangeProgress ChangeKind = "progress"
	// ChangeRemoved: the task is gone (removed, or retention removed it
	// as it finished); Task holds its id, type and last status.
	ChangeRemoved ChangeKind = "removed"
	// ChangeResync: changes were left out (the subscriber fell behind,
	// or a sweep removed tasks it does not list one by one): read again
	// whatever is shown. It has no Task.
	ChangeResync ChangeKind = "resync"
)

// Change is one change of a task made by this host, as [Host.Subscribe]
// gives it. Task is the task's state after it, without its payload and
// result (Get the task for those), so that a stream of every change stays
// small whatever the tasks carry.
type Change struct {
	Kind ChangeKind   `json:"kind"`
	Task *shared.Task `json:"task,omitempty"`
}

// changeBuffer is how many changes a subscriber may fall behind; past
// it they are dropped for one ChangeResync. Progress changes of a task
// replace its earlier one still queued instead of adding to the queue.
const changeBuffer = 1024

// Changes is a subscription to every change of every task this host
// makes; see [Host.Subscribe].
type Changes struct {
	feed *changeFeed

	mu       sync.Mutex
	queue    []Change
	progress map[string]int // a task's progress change still queued: its index
	lagged   bool
	ended    bool
	signal   chan struct{} // buffered 1
}

// changeFeed is the host's list of subscribers.
type changeFeed struct {
	mu   sync.Mutex
	subs map[*Changes]struct{}
	n    atomic.Int32 // len(subs), read without the lock on the hot path
}

// Subscribe returns a subscription to every change of every task this
// host makes from now on, until ctx ends. On a store shared by several
// nodes, the changes the other nodes make are not in it (each node has
// its own); per task, [Host.Watch] follows those too.
func (h *Host) Subscribe(ctx context.Context) *Changes {
	c := &Changes{feed: &h.changes, progress: make(map[string]int), signal: make(chan struct{}, 1)}
	f := &h.changes
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*Changes]struct{})
	}
	f.subs[c] = struct{}{}
	f.n.Store(int32(len(f.subs)))
	f.mu.Unlock()
	context.AfterFunc(ctx, c.end)
	return c
}

// Next waits for changes and returns those queued, oldest first; a
// subscriber that fell behind gets one ChangeResync in place of what it
// missed. It fails with ctx's error when ctx ends first, and with
// shared.ErrClosed once the subscription's own context has ended.
func (c *Changes) Next(ctx context.Context) ([]Change, error) {
	for {
		c.mu.Lock()
		switch {
		case c.lagged:
			c.lagged = false
			c.mu.Unlock()
			return []Change{{Kind: ChangeResync}}, nil
		case len(c.queue) > 0:
			out := c.queue
			c.queue = nil
			clear(c.progress)
			c.mu.Unlock()
			return out, nil
		case c.ended:
			c.mu.Unlock()
			return nil, shared.ErrClosed
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// end unsubscribes c.
func (c *Changes) end() {
	f := c.feed
	f.mu.Lock()
	delete(f.subs, c)
	f.n.Store(int32(len(f.subs)))
	f.mu.Unlock()
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	c.wake()
}

func (c *Changes) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// push queues ch: a progress change replaces the task's progress change
// still queued; a full queue is dropped for a resync.
func (c *Changes) push(ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ended || c.lagged:
		return
	case ch.Kind == ChangeProgress:
		if i, ok := c.progress[ch.Task.ID]; ok {
			c.queue[i] = ch
			return
		}
	case ch.Task != nil:
		// Later progress must follow this change, not replace the one
		// before it.
		delete(c.progress, ch.Task.ID)
	}
	if len(c.queue) >= changeBuffer {
		c.queue, c.lagged = nil, true
		clear(c.progress)
		c.wake()
		return
	}
	if ch.Kind == ChangeProgress {
		c.progress[ch.Task.ID] = len(c.queue)
	}
	c.queue = append(c.queue, ch)
	c.wake()
}

// changed tells the subscribers that task t changed as kind says. It
// costs an atomic load when there are none.
func (h *Host) changed(kind ChangeKind, t *shared.Task) {
	f := &h.changes
	if f.n.Load() == 0 {
		return
	}
	var ch Change
	ch.Kind = kind
	if t != nil {
		lite := *t
		lite.Payload, lite.Result = nil, nil
		ch.Task = &lite
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.subs {
		c.push(ch)
	}
}

// changedRecord is changed for a stored task.
func (h *Host) changedRecord(kind ChangeKind, rec *store.Record) {
	if h.changes.n.Load() == 0 {
		return
	}
	h.changed(kind, &rec.Task)
}
