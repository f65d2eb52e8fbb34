package host

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// renewLoop renews the leases of the tasks running here every third of
// the lease. A task whose lease the store says is lost has its method
// cancelled and its outcome dropped; on a store other nodes share, when
// renewals fail for a whole lease, every task running here counts as
// lost, since other nodes may have taken them.
func (h *Host) renewLoop() {
	every := h.opts.Lease / 3
	t := time.NewTicker(every)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-h.stopped:
			return
		case <-t.C:
		}
		leases := h.runningLeases()
		h.heartbeat(len(leases))
		start := time.Now()
		if len(leases) == 0 {
			renewed = start
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		lost, err := h.st.Renew(ctx, h.opts.NodeID, start.Add(h.opts.Lease), leases)
		cancel()
		if err != nil {
			h.log.Warn("renewing the leases of running tasks failed", "running", len(leases), "error", err)
			// On a store other nodes share, they may have taken the tasks
			// by now: stop working on them. Alone, this host keeps them.
			if _, shared := h.st.(store.NodeStore); shared && start.Sub(renewed) >= h.opts.Lease {
				ids := make([]string, len(leases))
				for i, l := range leases {
					ids[i] = l.ID
				}
				h.loseRuns(ids, false, "its lease could not be renewed for a whole lease")
			}
			continue
		}
		renewed = start
		h.loseRuns(lost, false, "the store no longer has it processing under this claim")
	}
}

// progressEvery is how often the progress of tasks running here is
// saved to a store other nodes share, so that they show it too.
const progressEvery = 250 * time.Millisecond

// progressLoop saves, every progressEvery, the progress reported since
// the last save of each task running here, in one call. What a lost
// claim reports is dropped by the store; the lease loop stops the task.
func (h *Host) progressLoop(ps store.ProgressStore) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stopped:
			return
		case <-t.C:
		}
		var batch []store.Progress
		var saved []*shared.Progress
		h.mu.Lock()
		for id, r := range h.running {
			if r.progress != nil && r.progress != r.saved && !r.finishing {
				batch = append(batch, store.Progress{Lease: store.Lease{ID: id, Attempt: r.rec.Attempts}, Progress: *r.progress})
				saved = append(saved, r.progress)
			}
		}
		h.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.Lease/3)
		_, err := ps.SaveProgress(ctx, batch)
		cancel()
		if err != nil {
			h.log.Warn("saving the progress of running tasks failed; other nodes show it later", "running", len(batch), "error", err)
			continue
		}
		h.mu.Lock()
		for i, p := range batch {
			if r := h.running[p.ID]; r != nil && r.rec.Attempts == p.Attempt {
				r.saved = saved[i]
			}
		}
		h.mu.Unlock()
	}
}

// runningLeases lists the claims of the tasks running here, in id order.
func (h *Host) runningLeases() []store.Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	leases := make([]store.Lease, 0, len(h.running))
	for id, r := range h.running {
		leases = append(leases, store.Lease{ID: id, Attempt: r.rec.Attempts})
	}
	slices.SortFunc(leases, func(a, b store.Lease) int { return strings.Compare(a.ID, b.ID) })
	return leases
}

// loseRuns cancels the methods of the runs of ids, whose leases are lost
// (why says how), so that nothing of them is written. Expected, for a
// task cancelled through another node, it is logged at INFO; else at
// WARN.
func (h *Host) loseRuns(ids []string, expected bool, why string) {
	level := hclog.Warn
	if expected {
		level = hclog.Info
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		r := h.running[id]
		if r == nil || r.finishing {
			continue
		}
		if r.intent != intentLost {
			h.log.Log(level, "a running task is no longer this node's: its method is cancelled and its outcome will be dropped",
				"task_type", r.rec.Type, "task_id", id, "attempt", r.rec.Attempts, "why", why)
		}
		r.intent = intentLost
		r.cancel()
	}
}

// self is this node as Nodes shows it.
func (h *Host) self(running int) store.Node {
	h.mu.Lock()
	types := slices.Sorted(maps.Keys(h.handlers))
	started := h.startedAt
	h.mu.Unlock()
	return store.Node{
		ID: h.opts.NodeID, Address: h.opts.Address, Started: started,
		LastHeartbeat: now(), Handlers: types, Running: running,
	}
}

// heartbeat records this node in a store that nodes share.
func (h *Host) heartbeat(running int) {
	ns, ok := h.st.(store.NodeStore)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.Lease/3)
	defer cancel()
	if err := ns.Heartbeat(ctx, h.self(running)); err != nil {
		h.log.Warn("recording this node's heartbeat failed", "error", err)
	}
}

// Nodes lists the nodes sharing the store, by id: those whose last
// heartbeat is less than three leases old. On a store that only this host
// uses, that is this host.
func (h *Host) Nodes(ctx context.Context) ([]Node, error) {
	ns, ok := h.st.(store.NodeStore)
	if !ok {
		h.mu.Lock()
		running := len(h.running)
		h.mu.Unlock()
		return []Node{h.self(running)}, nil
	}
	nodes, err := ns.Nodes(ctx, time.Now().Add(-3*h.opts.Lease))
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}
