package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/shared"
)

// Counter counts stored tasks by type, in the given statuses (all of them
// when none is given); every type with a stored task is in the result.
// Both stores are one.
type Counter interface {
	Counts(ctx context.Context, statuses ...shared.Status) (map[string]map[shared.Status]int, error)
}

// Bounds of the count snapshot.
const (
	// countsFresh is the age below which a snapshot is served without
	// starting a new count.
	countsFresh = time.Second
	// countsDuty: a count starts no sooner than countsDuty times the last
	// count's duration after it ended, so that counting takes at most a
	// fifth of one core however many tasks are stored.
	countsDuty = 4
	// countsTimeout bounds one count.
	countsTimeout = time.Minute
)

// countCache serves GET /v1/counts from a snapshot. A count reads an index
// key of every stored task (badgerstore: about 0.6 µs a key), so with a
// million tasks it takes the better part of a second: no request waits
// for one, but the very first. A request finding the snapshot older than
// countsFresh starts a count in the background and is answered with the
// snapshot it has, whose asOf says how old it is.
type countCache struct {
	src  Counter
	log  hclog.Logger
	done <-chan struct{} // the server's: ends a count in flight

	mu      sync.Mutex
	snap    *CountsResponse
	err     error         // of the last count, when it failed
	running chan struct{} // closed when the count in flight ends; nil when none
	ended   time.Time     // when the last count ended
	took    time.Duration // how long it took
}

func newCountCache(src Counter, log hclog.Logger, done <-chan struct{}) *countCache {
	c := &countCache{src: src, log: log, done: done}
	// Counted at once, so that the first page shown need not wait.
	c.mu.Lock()
	c.startLocked()
	c.mu.Unlock()
	return c
}

// get returns the snapshot, starting a count if it is due; without a
// snapshot yet it waits for the count in flight.
func (c *countCache) get(ctx context.Context) (CountsResponse, error) {
	c.mu.Lock()
	now := time.Now()
	if c.running == nil && (c.snap == nil || now.Sub(c.ended) >= max(countsFresh, countsDuty*c.took)) {
		c.startLocked()
	}
	snap, running := c.snap, c.running
	c.mu.Unlock()
	if snap != nil {
		return *snap, nil
	}
	select {
	case <-running:
	case <-ctx.Done():
		return CountsResponse{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil {
		return CountsResponse{}, fmt.Errorf("count tasks: %w", c.err)
	}
	return *c.snap, nil
}

// startLocked starts a count in the background. Call with mu held.
func (c *countCache) startLocked() {
	running := make(chan struct{})
	c.running = running
	go func() {
		defer close(running)
		ctx, cancelTimeout := context.WithTimeout(context.Background(), countsTimeout)
		defer cancelTimeout()
		ctx, cancel := untilClosed(ctx, c.done)
		defer cancel()
		start := time.Now()
		counts, err := c.src.Counts(ctx)
		took := time.Since(start)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.running, c.ended, c.took, c.err = nil, time.Now(), took, err
		if err != nil {
			c.log.Warn("counting tasks failed", "error", err)
			return
		}
		if counts == nil {
			counts = map[string]map[shared.Status]int{}
		}
		c.snap = &CountsResponse{Counts: counts, AsOf: start.UTC(), TookMS: took.Milliseconds()}
	}()
}
