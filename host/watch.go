package host

import (
	"context"
	"errors"
	"time"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// watchBuffer is how many states a slow watcher may fall behind; past it,
// intermediate states (progress above all) are dropped, never the last.
const watchBuffer = 16

// watcher is one Watch call. Until it is primed with the stored state,
// changes queue in pending so that they reach the channel after it.
// Guarded by the host's lock.
type watcher struct {
	ch      chan shared.Task
	primed  bool
	pending []shared.Task
	ended   bool // the task ended before the watcher was primed
}

func newWatcher() *watcher {
	return &watcher{ch: make(chan shared.Task, watchBuffer)}
}

// Watch sends the task's current state and then every change of it
// (including progress) until it is terminal or removed, or ctx ends; then
// it closes the channel.
func (h *Host) Watch(ctx context.Context, rawID string) (<-chan shared.Task, error) {
	id, err := parseID(rawID)
	if err != nil {
		return nil, err
	}
	w := newWatcher()
	h.addWatcher(id, w)
	// Registered first, read second: no change can fall in between.
	current, err := h.Get(ctx, id)
	if err != nil {
		h.mu.Lock()
		h.removeWatcherLocked(id, w)
		h.mu.Unlock()
		return nil, err
	}
	h.prime(ctx, id, w, current)
	return w.ch, nil
}

// addWatcher registers w for task id; changes queue in it until it is
// primed.
func (h *Host) addWatcher(id string, w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers[id] == nil {
		h.watchers[id] = make(map[*watcher]struct{})
	}
	h.watchers[id][w] = struct{}{}
}

// prime sends w the task's state current, read after w was registered,
// then the changes queued since that are not older; from then on changes
// go straight to w until the task ends or ctx does.
func (h *Host) prime(ctx context.Context, id string, w *watcher, current shared.Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	deliver(w.ch, current)
	for _, t := range w.pending {
		if !t.DateModified.Before(current.DateModified) {
			deliver(w.ch, t)
		}
	}
	w.primed, w.pending = true, nil
	if w.ended || current.Status.Terminal() {
		h.removeWatcherLocked(id, w)
		return
	}
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.removeWatcherLocked(id, w)
	})
	if _, isShared := h.st.(store.NodeStore); isShared {
		go h.followRemote(id, w, current)
	}
}

// remotePoll is how often a watch on a shared store reads the task for
// the changes other nodes make.
const remotePoll = 200 * time.Millisecond

// followRemote passes on to w the changes other nodes make to task id, on
// a store shared with them, by reading it every remotePoll until the
// watch ends. While the task runs here, this host's own reports do.
func (h *Host) followRemote(id string, w *watcher, last shared.Task) {
	t := time.NewTicker(remotePoll)
	defer t.Stop()
	for range t.C {
		h.mu.Lock()
		_, watching := h.watchers[id][w]
		local := h.running[id] != nil
		h.mu.Unlock()
		if !watching {
			return
		}
		if local {
			continue
		}
		rec, err := h.st.Get(context.Background(), id)
		switch {
		case errors.Is(err, shared.ErrNotFound):
			// Removed: at once, if it finished elsewhere with retainFor
			// 0, and then its final state is on its way here.
			h.closeWatchers(id, h.finalOf(id))
			return
		case err != nil:
			continue
		case rec.Status == last.Status && rec.DateModified.Equal(last.DateModified) &&
			(rec.Progress == nil) == (last.Progress == nil) && (rec.Progress == nil || *rec.Progress == *last.Progress):
			continue // nothing new (progress included: the running node saves it)
		}
		last = h.view(rec)
		if last.Status.Terminal() {
			h.closeWatchers(id, &last)
			return
		}
		h.publish(last)
	}
}

// deliver sends t without blocking: when the buffer is full the oldest
// state is dropped to make room.
func deliver(ch chan shared.Task, t shared.Task) {
	for {
		select {
		case ch <- t:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

func (h *Host) publish(t shared.Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[t.ID] {
		if w.primed {
			deliver(w.ch, t)
		} else {
			w.pending = append(w.pending, t)
		}
	}
}

// closeWatchers ends every watch of a task, after a last state if given.
func (h *Host) closeWatchers(id string, last *shared.Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[id] {
		if !w.primed {
			if last != nil {
				w.pending = append(w.pending, *last)
			}
			w.ended = true // Watch closes it once primed
			continue
		}
		if last != nil {
			deliver(w.ch, *last)
		}
		h.removeWatcherLocked(id, w)
	}
}

// removeWatcherLocked unregisters w and closes its channel, once.
func (h *Host) removeWatcherLocked(id string, w *watcher) {
	ws := h.watchers[id]
	if _, ok := ws[w]; !ok {
		return
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(h.watchers, id)
	}
	close(w.ch)
}
