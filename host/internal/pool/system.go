package pool

import (
	"runtime"
	"sync"

	"github.com/taskhost/taskhost/shared"
)

// System is the system-wide worker cap shared by every pool. A slot is
// held for the whole life of a worker process, from spawn to exit.
//
// Pools that find the system full queue a request; freed slots go to the
// requests in arrival order. So that one busy type cannot starve another,
// a pool holding more than its fair share gives a worker up when another
// pool is waiting (see [System.shouldYield]), and idle workers are stopped
// to make room ([System.reclaim]).
//
// Lock order: a pool's lock may be held while calling System; System never
// calls a pool while holding its own lock.
type System struct {
	cap int
	// identity is the host's side of the transport security every pool's
	// workers share: one key and certificate, made at the first start
	// that needs it.
	identity func() (*shared.Identity, error)

	// spare is a worker's transport security issued ahead of its start
	// (pluginTLS); refilling says a goroutine is making the next.
	tlsMu     sync.Mutex
	spare     *shared.PluginTLS
	refilling bool

	mu    sync.Mutex
	used  int
	held  map[*Pool]int
	queue []*Pool // one entry per requested slot, oldest first
	pools map[*Pool]struct{}
}

// NewSystem returns a system cap of n workers; n <= 0 means the number of
// CPUs.
func NewSystem(n int) *System {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return &System{
		cap: n, held: make(map[*Pool]int), pools: make(map[*Pool]struct{}),
		identity: sync.OnceValues(shared.NewIdentity),
	}
}

// pluginTLS issues the transport security of one new worker: the host's
// identity and a fresh key and certificate for the worker. One is kept
// made ahead, by a goroutine that makes the next as a start takes one, so
// that a start does not wait for a key and a certificate (about 0.2 ms of
// a 5–7 ms cold start).
func (s *System) pluginTLS() (shared.PluginTLS, error) {
	s.tlsMu.Lock()
	spare := s.spare
	s.spare = nil
	refill := !s.refilling
	s.refilling = true
	s.tlsMu.Unlock()
	if refill {
		go s.refill()
	}
	if spare != nil {
		return *spare, nil
	}
	return s.issue()
}

func (s *System) issue() (shared.PluginTLS, error) {
	host, err := s.identity()
	if err != nil {
		return shared.PluginTLS{}, err
	}
	return host.NewPluginTLS()
}

// refill makes the spare; an error is left for the next start to meet.
func (s *System) refill() {
	ch, err := s.issue()
	s.tlsMu.Lock()
	defer s.tlsMu.Unlock()
	s.refilling = false
	if err == nil && s.spare == nil {
		s.spare = &ch
	}
}

// Cap is the number of workers the system allows.
func (s *System) Cap() int { return s.cap }

func (s *System) register(p *Pool) {
	s.mu.Lock()
	s.pools[p] = struct{}{}
	s.mu.Unlock()
}

func (s *System) unregister(p *Pool) {
	s.mu.Lock()
	delete(s.pools, p)
	s.queue = removeAll(s.queue, p)
	s.mu.Unlock()
}

// tryAcquire takes a free slot for p, if there is one and nobody is queued
// ahead.
func (s *System) tryAcquire(p *Pool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used >= s.cap || len(s.queue) > 0 {
		return false
	}
	s.used++
	s.held[p]++
	return true
}

// request queues p for the next free slot; p.granted is called when it
// has one.
func (s *System) request(p *Pool) {
	s.mu.Lock()
	s.queue = append(s.queue, p)
	s.mu.Unlock()
}

// cancelRequest withdraws p's newest queued request; false if p has none
// queued (it may be on its way to p.granted).
func (s *System) cancelRequest(p *Pool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.queue) - 1; i >= 0; i-- {
		if s.queue[i] == p {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// release frees one of p's slots and hands it to the oldest request, or
// else to a pool that wants it for a warm worker.
func (s *System) release(p *Pool) {
	s.mu.Lock()
	s.held[p]--
	if s.held[p] == 0 {
		delete(s.held, p)
	}
	if len(s.queue) == 0 {
		s.used--
		var warm []*Pool
		for q := range s.pools {
			if q != p && q.wantWarm.Load() {
				warm = append(warm, q)
			}
		}
		s.mu.Unlock()
		// Pools below their MinWorkers that found the system full may
		// take the slot now.
		for _, q := range warm {
			go q.pump()
		}
		return
	}
	next := s.queue[0]
	s.queue = s.queue[1:]
	s.held[next]++
	s.mu.Unlock()
	// The slot now belongs to next; it starts a worker or gives it back.
	go next.granted()
}

// othersWaiting reports whether a pool other than p is queued for a slot.
func (s *System) othersWaiting(p *Pool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.othersWaitingLocked(p)
}

func (s *System) othersWaitingLocked(p *Pool) bool {
	for _, q := range s.queue {
		if q != p {
			return true
		}
	}
	return false
}

// shouldYield reports whether p, which has callers waiting, should stop a
// worker that just finished instead of giving it the next call: another
// pool is queued for a slot and p holds more than its fair share of the
// system (the cap divided among the pools holding or wanting slots).
func (s *System) shouldYield(p *Pool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.othersWaitingLocked(p) {
		return false
	}
	active := make(map[*Pool]struct{}, len(s.held)+len(s.queue))
	for q := range s.held {
		active[q] = struct{}{}
	}
	for _, q := range s.queue {
		active[q] = struct{}{}
	}
	share := max(1, s.cap/len(active))
	return s.held[p] > share
}

// reclaim asks pools other than requester to stop an idle worker, so a
// queued request can be served. It is called without any pool lock held.
func (s *System) reclaim(requester *Pool) {
	s.mu.Lock()
	pools := make([]*Pool, 0, len(s.pools))
	for p := range s.pools {
		if p != requester {
			pools = append(pools, p)
		}
	}
	s.mu.Unlock()
	for _, p := range pools {
		if p.retireOneIdle() {
			return
		}
	}
}

func removeAll(q []*Pool, p *Pool) []*Pool {
	out := q[:0]
	for _, x := range q {
		if x != p {
			out = append(out, x)
		}
	}
	return out
}
