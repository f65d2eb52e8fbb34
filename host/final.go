package host

import (
	"context"
	"encoding/json"
	"time"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// On a store shared by several nodes, a task removed as it finishes
// (retainFor 0) leaves nothing for a watch on another node to read: the
// node that ran it sends its final state to all of them instead
// (store.FinalNotifier), and each keeps what it hears for a while. A node
// that cancels a task running on another sends its final state too: the
// node running it stops the method at once.

// Bounds of the final states in flight and kept.
const (
	finalQueue = 1024             // final states waiting to be sent; more are dropped
	finalBatch = 256              // sent in one round trip
	finalKeep  = 30 * time.Second // how long a heard final state is kept
	finalWait  = time.Second      // how long a watch of a vanished task waits for one
)

// announceFinal queues t, just removed as it finished, for the other
// nodes; a full queue drops it (watches elsewhere then end without it).
func (h *Host) announceFinal(t shared.Task) {
	if h.finals == nil {
		return
	}
	data, ok := finalJSON(t)
	if !ok {
		return
	}
	select {
	case h.finals <- data:
	default:
		h.log.Debug("final-state queue full: a watch on another node may miss this end", "task_id", t.ID)
	}
}

// finalJSON encodes t within store.MaxFinalSize, leaving out its payload,
// then its result, if it must.
func finalJSON(t shared.Task) ([]byte, bool) {
	for _, trim := range []func(){func() {}, func() { t.Payload = nil }, func() { t.Result = nil }} {
		trim()
		data, err := json.Marshal(t)
		if err == nil && len(data) <= store.MaxFinalSize {
			return data, true
		}
	}
	return nil, false
}

// sendFinals sends the queued final states in batches until the host
// stops.
func (h *Host) sendFinals(fn store.FinalNotifier) {
	for {
		var batch [][]byte
		select {
		case <-h.stopped:
			return
		case data := <-h.finals:
			batch = append(batch, data)
		}
	drain:
		for len(batch) < finalBatch {
			select {
			case data := <-h.finals:
				batch = append(batch, data)
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.Lease/3)
		if err := fn.NotifyFinal(ctx, batch...); err != nil {
			h.log.Warn("sending final states to the other nodes failed; their watches of these tasks end without them", "count", len(batch), "error", err)
		}
		cancel()
	}
}

// heardFinal keeps a final state another node sent and ends the watches
// of its task here with it.
func (h *Host) heardFinal(data []byte) {
	var t shared.Task
	if err := json.Unmarshal(data, &t); err != nil || t.ID == "" {
		h.log.Debug("a final state that does not decode was dropped", "error", err)
		return
	}
	h.mu.Lock()
	now := time.Now()
	// Forget in the order heard: the oldest first, each once.
	for len(h.heardOrder) > 0 && now.Sub(h.heardOrder[0].at) > finalKeep {
		old := h.heardOrder[0]
		h.heardOrder = h.heardOrder[1:]
		if f, ok := h.heard[old.id]; ok && !f.at.After(old.at) {
			delete(h.heard, old.id)
		}
	}
	h.heard[t.ID] = heardFinal{task: t, at: now}
	h.heardOrder = append(h.heardOrder, heardAt{id: t.ID, at: now})
	h.mu.Unlock()
	if t.Status.Terminal() {
		// Cancelled through another node while it runs here.
		h.loseRuns([]string{t.ID}, true, "it was "+string(t.Status)+" through another node")
	}
	h.closeWatchers(t.ID, &t)
}

// heardFinal is a final state another node sent.
type heardFinal struct {
	task shared.Task
	at   time.Time
}

// heardAt is when the final state of a task was heard, in Host.heardOrder.
type heardAt struct {
	id string
	at time.Time
}

// finalOf waits up to finalWait for the final state of task id, which is
// gone from the store: another node removed it as it finished, and its
// final state may still be on its way.
func (h *Host) finalOf(id string) *shared.Task {
	deadline := time.Now().Add(finalWait)
	for {
		h.mu.Lock()
		f, ok := h.heard[id]
		h.mu.Unlock()
		if ok {
			return &f.task
		}
		if h.finals == nil || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-h.stopped:
			return nil
		}
	}
}

// startFinals starts sending and hearing final states on a store that
// passes them.
func (h *Host) startFinals() {
	fn, ok := h.st.(store.FinalNotifier)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.loops.Go(func() { <-h.stopped; cancel() })
	h.loops.Go(func() { h.sendFinals(fn) })
	h.loops.Go(func() { fn.ListenFinal(ctx, h.heardFinal) })
}
