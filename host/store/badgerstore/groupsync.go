package badgerstore

import (
	"fmt"
	"sync"
	"time"
)

// groupSync makes commits durable in groups. Badger commits without
// syncing (SyncWrites=false); a writer is acknowledged only after a sync
// (logSync) that started after its commit had finished, and one sync
// covers every writer waiting for it.
//
// Writers are grouped in epochs. A writer joins the open epoch before its
// transaction starts (enter) and leaves it after committing (leave). The
// first writer of an epoch to commit closes it (later writers join the
// next one); the epoch's sync starts once every writer that joined it (and
// every earlier epoch) has left, and no other sync runs. So a sync never
// starts while a transaction it could have covered is still committing:
// syncing as soon as the first writer of a burst arrives would leave the
// rest of the burst for the next fsync. Writers of the next epoch commit
// while a sync runs.
//
// There is no goroutine of its own: the writer that completes an epoch
// runs its sync (leader/follower).
type groupSync struct {
	sync func() error
	// onSync, if set, is told of each successful sync: how many commits
	// it made durable and how long it took. Set before first use.
	onSync func(commits int, d time.Duration)

	mu   sync.Mutex
	cond sync.Cond
	// open is the epoch that new writers join.
	open uint64
	// inflight counts the writers of each epoch that have not left yet.
	inflight map[uint64]int
	// committed counts the writers of each epoch not yet synced that
	// committed, for onSync.
	committed map[uint64]int
	// synced: every epoch up to and including it is on disk.
	synced  uint64
	running bool
	// failed is the first epoch a failed sync was to cover, and err the
	// failure: after a failed fsync what is on disk is unknown, so that
	// epoch and every later one fail.
	failed uint64
	err    error
}

func newGroupSync(sync func() error) *groupSync {
	g := &groupSync{sync: sync, open: 1, inflight: make(map[uint64]int), committed: make(map[uint64]int)}
	g.cond.L = &g.mu
	return g
}

// enter registers a writer about to start a transaction and returns its
// epoch.
func (g *groupSync) enter() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight[g.open]++
	return g.open
}

// leave ends the writer's transaction. A writer that committed waits
// until its epoch is on disk; one that did not just leaves.
//
// It takes no context: the commit has happened, and a caller told
// "cancelled" would wrongly believe its change was not made.
func (g *groupSync) leave(epoch uint64, committed bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[epoch]--; g.inflight[epoch] == 0 {
		delete(g.inflight, epoch)
	}
	if !committed {
		g.cond.Broadcast() // the epoch may be complete now
		return nil
	}
	if epoch == g.open {
		g.open++
	}
	if g.err == nil {
		g.committed[epoch]++
	}
	for g.synced < epoch && g.err == nil {
		if g.running || !g.complete(epoch) {
			g.cond.Wait()
			continue
		}
		g.running = true
		// Every writer of the epochs this sync covers has left: their
		// count is final.
		commits := g.covered(epoch)
		g.mu.Unlock()
		var start time.Time
		if g.onSync != nil {
			start = time.Now()
		}
		err := g.sync()
		if err == nil && g.onSync != nil {
			g.onSync(commits, time.Since(start))
		}
		g.mu.Lock()
		g.running = false
		if err != nil {
			g.failed, g.err = g.synced+1, fmt.Errorf("sync: %w", err)
		} else {
			g.synced = epoch
		}
		g.cond.Broadcast()
	}
	if g.err != nil && epoch >= g.failed {
		return g.err
	}
	return nil
}

// complete reports whether every writer of epoch and earlier has left.
func (g *groupSync) complete(epoch uint64) bool {
	for e := range g.inflight {
		if e <= epoch {
			return false
		}
	}
	return true
}

// covered takes the count of committed writers of epoch and earlier out
// of committed.
func (g *groupSync) covered(epoch uint64) int {
	n := 0
	for e, c := range g.committed {
		if e <= epoch {
			n += c
			delete(g.committed, e)
		}
	}
	return n
}
