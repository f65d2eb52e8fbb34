package pool

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/shared"
)

// KeepForever as IdleShutdownTimeout keeps idle workers until the pool closes.
const KeepForever time.Duration = -1

// Defaults for the Config fields whose zero value means "default".
const (
	DefaultShutdownTimeout = 10 * time.Second
	DefaultCancelGrace     = 5 * time.Second
	DefaultStartTimeout    = 30 * time.Second
	DefaultMaxResultSize   = 16 << 20
	// MemorySampleInterval is how often a busy worker's memory is read.
	MemorySampleInterval = 100 * time.Millisecond
)

// Config describes one handler's workers.
type Config struct {
	// Type is the task type the pool serves; it names the pool in logs.
	Type string
	// Path is the plugin binary, or with Args the interpreter (node) that
	// runs them. It must exist and be executable.
	Path string
	// Args are the plugin command's arguments: an interpreter's options
	// and script. None for a plugin binary.
	Args []string
	// Script is the file the interpreter runs, which SHA256 pins instead
	// of Path: a regular file that nobody but its owner may write,
	// checked at registration and at every start like a binary (it need
	// not be executable). Empty with Args means the first argument that
	// does not start with "-"; relative, it is relative to Dir.
	Script string
	// Dir is the workers' working directory; empty means the host's.
	Dir string
	// Method is the method every call runs; it must be exported.
	Method string
	// InitialiseMethod, if set, runs once on each new worker before its
	// first call, with InitConfig as its payload.
	InitialiseMethod string
	// ShutdownMethod, if set, runs before a worker is stopped, with
	// InitConfig as its payload, bounded by ShutdownTimeout.
	ShutdownMethod string
	// InitConfig is the JSON object given to the initialise and shutdown
	// methods; empty means {}.
	InitConfig json.RawMessage
	// MaxWorkerCount caps this pool's workers: 0 means 1, -1 means up to
	// the system cap.
	MaxWorkerCount int
	// Concurrency is how many calls one worker runs at once: 0 means 1.
	// Above 1 the plugin must declare that many (see
	// [shared.PluginInfo]); New refuses it otherwise. MaxWorkerCount and
	// MinWorkers still count processes, and so does the system cap: a
	// process holds one system slot whatever its concurrency.
	Concurrency int
	// MinWorkers is how many workers the pool keeps started (a warm pool):
	// from New on, and again after a worker crashes, is recycled, killed
	// or reaped. Idle reaping never goes below it; a warm start takes only
	// a free system slot, and another pool with a call waiting may still
	// reclaim an idle warm worker. 0 (the default) starts workers only for
	// calls. It may not exceed the pool's cap.
	MinWorkers int
	// IdleShutdownTimeout is how long an idle worker is kept: 0 stops it as
	// soon as it is idle and no call waits, KeepForever keeps it.
	IdleShutdownTimeout time.Duration
	// ExecutionTimeout bounds each call: the method's context carries the
	// deadline, and a worker that has not returned CancelGrace after it is
	// killed. 0 means no limit.
	ExecutionTimeout time.Duration
	// SHA256 pins the checksum (hex) of Script, or of the binary when
	// there is no script; empty means no pin.
	SHA256 string
	// ShutdownTimeout bounds the shutdown method; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// CancelGrace is how long a cancelled or timed-out method may take to
	// return before its worker is killed; 0 means DefaultCancelGrace.
	CancelGrace time.Duration
	// StartTimeout bounds spawn, handshake and initialise; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// MaxTasksPerWorker replaces a worker after it has been handed that
	// many calls: it takes no more, and stops once those have returned.
	// 0 means never.
	MaxTasksPerWorker int
	// MemoryLimit, in bytes, kills a worker whose resident memory goes
	// above it while it runs calls (sampled every MemorySampleInterval):
	// every call on it fails with MemoryLimitExceeded. Go plugins also get
	// GOMEMLIMIT a little below it. 0 means none.
	MemoryLimit int64
	// Env is the plugin's whole environment (besides what go-plugin
	// itself passes, the transport security's variables, and GOMAXPROCS
	// and GOMEMLIMIT unless Env sets them; see Pool.env): the host's own
	// variables never reach it. It may not set the transport security's
	// variables.
	Env map[string]string
	// DisableMTLS turns off the mutual TLS on the host-plugin channel (on
	// by default): no certificate reaches the plugin, which then serves
	// plain gRPC. See [shared.PluginTLS].
	DisableMTLS bool
	// MaxResultSize bounds a method's JSON result in bytes; 0 means
	// DefaultMaxResultSize.
	MaxResultSize int
	// Logger receives the pool's and the plugins' logs; nil discards.
	Logger hclog.Logger

	// maxProtocol, when set, is the newest worker protocol the pool
	// offers (tests of an older plugin's protocol).
	maxProtocol int
}

// protocols is the plugin set of every worker protocol the pool offers.
func (c Config) protocols() map[int]plugin.PluginSet {
	vs := shared.VersionedPlugins(nil)
	if c.maxProtocol > 0 {
		maps.DeleteFunc(vs, func(v int, _ plugin.PluginSet) bool { return v > c.maxProtocol })
	}
	return vs
}

// Request is one call: the payload and what the method knows of its task.
type Request struct {
	Payload json.RawMessage
	Task    shared.CallTask
	// Started, if set, is called when the call has its worker, just
	// before the method is invoked, on the goroutine that called Call.
	Started func()
}

// Pool runs calls of one handler on its workers. It is safe for
// concurrent use.
type Pool struct {
	cfg    Config
	sys    *System
	log    hclog.Logger
	max    int
	conc   int // calls per worker
	nextID atomic.Int64
	// rssMaxAge is how old a worker's RSS in Stats may be: reading it
	// from /proc costs ~45 µs (a tenth of a task's CPU), and Stats serves
	// every /v1/handlers, metrics scrape and dashboard refresh.
	rssMaxAge time.Duration

	mu      sync.Mutex
	waiters list.List // of *waiter, oldest first
	idle    []*worker // no call in flight; most recently used last
	// open are the workers running calls that may take another (with
	// Concurrency above 1 only).
	open     []*worker
	all      map[*worker]struct{}
	starting int // spawns in flight, each holding a system slot
	stopping int // workers shutting down, each still holding its slot
	queued   int // slot requests queued at the system
	closed   bool
	// warmFailures counts warm starts that failed and idle workers that
	// exited since the last call that ended well; while warmHold is set,
	// warm starts wait out their backoff.
	warmFailures int
	warmHold     bool
	// wantWarm: the pool is below MinWorkers and found the system full;
	// the system pumps it when a slot frees up.
	wantWarm atomic.Bool
	drained  chan struct{} // closed when closed and no worker is left
	// aborted is cancelled when Close runs out of time: every running
	// call is then cancelled as if by its caller.
	aborted context.Context
	abort   context.CancelFunc
	stats   counters
}

type counters struct {
	calls, crashes, timeouts, kills, spawns, spawnFailures, recycled, memoryKills uint64
}

type waiter struct {
	ch      chan grant // buffered; receives exactly one grant
	granted bool
}

type grant struct {
	w   *worker
	err error
}

// New checks the handler (the binary exists, is executable, matches its
// pinned checksum, speaks the taskhost handshake and exports every named
// method) and returns its pool. No worker runs until the first call,
// except the MinWorkers it starts at once (in the background).
func New(ctx context.Context, sys *System, cfg Config) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:       cfg,
		sys:       sys,
		log:       cfg.Logger.Named("pool").With("task_type", cfg.Type),
		all:       make(map[*worker]struct{}),
		drained:   make(chan struct{}),
		rssMaxAge: StatsRSSMaxAge,
	}
	p.aborted, p.abort = context.WithCancel(context.Background())
	p.max = cfg.MaxWorkerCount
	p.conc = max(cfg.Concurrency, 1)
	if p.max < 0 || p.max > sys.Cap() {
		p.max = sys.Cap()
	}
	if cfg.MinWorkers > p.max {
		return nil, fmt.Errorf("%w: handler %q: min_workers %d is more than the %d workers it may run (max_worker_count %d, max_system_worker_count %d)",
			shared.ErrInvalidArgument, cfg.Type, cfg.MinWorkers, p.max, cfg.MaxWorkerCount, sys.Cap())
	}
	if err := p.probe(ctx); err != nil {
		return nil, err
	}
	sys.register(p)
	p.pump()
	return p, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Method == "" {
		return c, fmt.Errorf("%w: handler %q: method is required", shared.ErrInvalidArgument, c.Type)
	}
	if c.MaxWorkerCount == 0 {
		c.MaxWorkerCount = 1
	}
	if c.MaxWorkerCount < -1 {
		return c, fmt.Errorf("%w: handler %q: max worker count %d: want -1 (system cap) or more than 0",
			shared.ErrInvalidArgument, c.Type, c.MaxWorkerCount)
	}
	if c.Concurrency < 0 {
		return c, fmt.Errorf("%w: handler %q: concurrency %d: want 1 (one call per worker) or more",
			shared.ErrInvalidArgument, c.Type, c.Concurrency)
	}
	if c.MinWorkers < 0 {
		return c, fmt.Errorf("%w: handler %q: min_workers %d: want 0 (start workers for tasks only) or more",
			shared.ErrInvalidArgument, c.Type, c.MinWorkers)
	}
	if c.IdleShutdownTimeout < 0 && c.IdleShutdownTimeout != KeepForever {
		return c, fmt.Errorf("%w: handler %q: idle shutdown timeout %v: want 0, a positive duration or KeepForever",
			shared.ErrInvalidArgument, c.Type, c.IdleShutdownTimeout)
	}
	if c.ExecutionTimeout < 0 {
		return c, fmt.Errorf("%w: handler %q: execution timeout %v must not be negative",
			shared.ErrInvalidArgument, c.Type, c.ExecutionTimeout)
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	if c.Script == "" {
		for _, a := range c.Args {
			if !strings.HasPrefix(a, "-") {
				c.Script = a
				break
			}
		}
		if len(c.Args) > 0 && c.Script == "" {
			return c, fmt.Errorf("%w: handler %q: args %q name no script: want the script's path as the first argument that does not start with \"-\"",
				shared.ErrInvalidArgument, c.Type, c.Args)
		}
	}
	if c.Script != "" && !filepath.IsAbs(c.Script) {
		abs, err := filepath.Abs(filepath.Join(c.Dir, c.Script))
		if err != nil {
			return c, fmt.Errorf("%w: handler %q: script %q: %v", shared.ErrInvalidArgument, c.Type, c.Script, err)
		}
		c.Script = abs
	}
	if len(c.InitConfig) == 0 {
		c.InitConfig = json.RawMessage("{}")
	}
	if !json.Valid(c.InitConfig) {
		return c, fmt.Errorf("%w: handler %q: config is not valid JSON", shared.ErrInvalidArgument, c.Type)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.CancelGrace <= 0 {
		c.CancelGrace = DefaultCancelGrace
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.MaxResultSize <= 0 {
		c.MaxResultSize = DefaultMaxResultSize
	}
	if c.MaxTasksPerWorker < 0 {
		return c, fmt.Errorf("%w: handler %q: max tasks per worker %d: want 0 (no limit) or more",
			shared.ErrInvalidArgument, c.Type, c.MaxTasksPerWorker)
	}
	if c.MemoryLimit < 0 {
		return c, fmt.Errorf("%w: handler %q: memory limit %d must not be negative", shared.ErrInvalidArgument, c.Type, c.MemoryLimit)
	}
	for k := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return c, fmt.Errorf("%w: handler %q: env name %q: want a name without '=' or NUL", shared.ErrInvalidArgument, c.Type, k)
		}
		if k == shared.EnvHostCert || k == shared.EnvPluginCert || k == shared.EnvPluginKey {
			return c, fmt.Errorf("%w: handler %q: env %s is the host's to set (transport security)", shared.ErrInvalidArgument, c.Type, k)
		}
	}
	return c, nil
}

// Script is the script a command plugin runs, absolute; empty for a
// plugin binary.
func (p *Pool) Script() string { return p.cfg.Script }

// Max is the most workers the pool runs at once.
func (p *Pool) Max() int { return p.max }

// Capacity is the most calls the pool runs at once: Max workers times
// their concurrency.
func (p *Pool) Capacity() int { return p.max * p.conc }

// Call runs the pool's method with req on a worker and returns its JSON
// result. onProgress, if not nil, receives the method's progress reports.
//
// A failed attempt returns a *shared.TaskError: the plugin's own error, or
// one named WorkerCrashed, ExecutionTimeout, Cancelled, Panic,
// InitialiseFailed or WorkerStartFailed. Any other error (ctx's, shared.ErrClosed) means the
// method never started.
func (p *Pool) Call(ctx context.Context, req Request, onProgress func(shared.Progress)) (json.RawMessage, error) {
	w, err := p.acquire(ctx)
	for err == nil && w.exited() {
		// It died while idle, before its exit was noticed: the method never
		// ran, so another worker may take the call.
		p.discard(w)
		w, err = p.acquire(ctx)
	}
	if err != nil {
		return nil, err
	}
	if req.Started != nil {
		req.Started()
	}
	result, err, healthy := p.run(ctx, w, req, onProgress)
	if healthy {
		p.release(w)
	} else {
		p.discard(w)
	}
	return result, err
}

// acquire waits for a worker, in arrival order.
func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %q: %w", p.cfg.Type, shared.ErrClosed)
	}
	wt := &waiter{ch: make(chan grant, 1)}
	elem := p.waiters.PushBack(wt)
	p.pumpLocked()
	p.mu.Unlock()

	select {
	case g := <-wt.ch:
		return g.w, g.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	if !wt.granted {
		p.waiters.Remove(elem)
		p.pumpLocked()
		p.mu.Unlock()
		return nil, ctx.Err()
	}
	p.mu.Unlock()
	// Granted just as ctx ended: hand the worker back; the call it was
	// handed for never ran.
	if g := <-wt.ch; g.w != nil {
		p.mu.Lock()
		g.w.assigned--
		if g.w.recycle && g.w.assigned < uint64(p.cfg.MaxTasksPerWorker) {
			g.w.recycle, g.w.draining = false, false
		}
		p.mu.Unlock()
		p.release(g.w)
	}
	return nil, ctx.Err()
}

// grantLocked hands w (or a start error) to the oldest waiter, if any.
func (p *Pool) grantLocked(g grant) bool {
	front := p.waiters.Front()
	if front == nil {
		return false
	}
	wt := p.waiters.Remove(front).(*waiter)
	wt.granted = true
	wt.ch <- g
	return true
}

// assignLocked counts a call handed to w; a worker handed its
// MaxTasksPerWorker-th call takes no more.
func (p *Pool) assignLocked(w *worker) {
	w.inflight++
	w.assigned++
	if p.cfg.MaxTasksPerWorker > 0 && w.assigned >= uint64(p.cfg.MaxTasksPerWorker) {
		w.recycle, w.draining = true, true
	}
	p.setOpenLocked(w)
}

// setOpenLocked puts w in open, or takes it out, as it may take another
// call while running some.
func (p *Pool) setOpenLocked(w *worker) {
	want := w.inflight > 0 && w.inflight < p.conc && !w.draining && !w.dead
	if want == w.open {
		return
	}
	w.open = want
	if want {
		p.open = append(p.open, w)
		return
	}
	p.open = slices.DeleteFunc(p.open, func(x *worker) bool { return x == w })
}

// offerLocked hands w's free slots to the oldest waiters; a worker left
// without a call goes idle.
func (p *Pool) offerLocked(w *worker) {
	for w.inflight < p.conc && !w.draining && p.waiters.Len() > 0 {
		p.assignLocked(w)
		p.grantLocked(grant{w: w})
	}
	if w.inflight == 0 && !w.draining {
		p.idleLocked(w)
	}
	p.setOpenLocked(w)
}

// nextFreeLocked picks the worker for the next call: the open worker
// running the most calls (calls are packed, so that other workers go idle
// and may be reaped), else the most recently used idle one.
func (p *Pool) nextFreeLocked() *worker {
	var best *worker
	for _, w := range p.open {
		if best == nil || w.inflight > best.inflight {
			best = w
		}
	}
	if best != nil {
		return best
	}
	if len(p.idle) == 0 {
		return nil
	}
	w := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	w.idleGen++ // disarms its idle timer
	return w
}

// slotsLocked is how many workers the pool has or is getting.
func (p *Pool) slotsLocked() int {
	return len(p.all) + p.starting + p.stopping + p.queued
}

// pumpLocked matches waiters with idle workers and starts (or queues for)
// as many new workers as the remaining waiters need, within the caps.
func (p *Pool) pumpLocked() {
	for p.waiters.Len() > 0 {
		w := p.nextFreeLocked()
		if w == nil {
			break
		}
		p.assignLocked(w)
		p.grantLocked(grant{w: w})
	}
	// Workers starting or queued for will take conc waiters each.
	short := p.waiters.Len() - (p.starting+p.queued)*p.conc
	need := short / p.conc
	if short > 0 && short%p.conc != 0 {
		need++
	}
	reclaim := false
	for ; need > 0 && p.slotsLocked() < p.max; need-- {
		if p.sys.tryAcquire(p) {
			p.starting++
			go p.start()
		} else {
			p.sys.request(p)
			p.queued++
			reclaim = true
		}
	}
	for ; need < 0 && p.queued > 0; need++ {
		if !p.sys.cancelRequest(p) {
			break
		}
		p.queued--
	}
	if reclaim {
		go p.sys.reclaim(p)
	}
	p.warmLocked()
}

// pump runs pumpLocked; the system calls it when a slot frees up.
func (p *Pool) pump() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pumpLocked()
}

// warmLocked starts workers until MinWorkers are started or starting,
// on free system slots only: a warm start never queues ahead of another
// pool's calls. Found full, the system pumps the pool again when a slot
// frees up.
func (p *Pool) warmLocked() {
	if p.cfg.MinWorkers == 0 {
		return // it runs at every pump: most pools keep no warm workers
	}
	p.wantWarm.Store(false)
	for !p.closed && !p.warmHold && len(p.all)+p.starting < p.cfg.MinWorkers && p.slotsLocked() < p.max {
		if !p.sys.tryAcquire(p) {
			p.wantWarm.Store(true)
			return
		}
		p.starting++
		go p.start()
	}
}

// warmBackoff bounds the wait after failed warm starts: 1s, 2s, 4s… up
// to a minute, so that a plugin that cannot start, or dies as soon as it
// is idle, is not restarted in a loop.
func warmBackoff(failures int) time.Duration {
	return min(time.Second<<min(failures-1, 6), time.Minute)
}

// warmFailedLocked notes a failed start or an idle worker's exit: warm
// starts pause for a growing backoff.
func (p *Pool) warmFailedLocked() {
	if p.cfg.MinWorkers == 0 {
		return
	}
	p.warmFailures++
	if p.warmHold {
		return
	}
	p.warmHold = true
	time.AfterFunc(warmBackoff(p.warmFailures), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.warmHold = false
		p.pumpLocked()
	})
}

// granted is called by the system when one of p's queued requests got a
// slot.
func (p *Pool) granted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queued--
	warm := len(p.all)+p.starting < p.cfg.MinWorkers
	if p.closed || (p.waiters.Len() <= p.starting*p.conc && !warm) {
		p.sys.release(p)
		return
	}
	p.starting++
	go p.start()
}

// start spawns and initialises a worker on a slot already held, then
// hands it to the oldest waiter.
func (p *Pool) start() {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout)
	defer cancel()
	id := p.nextID.Add(1)
	w, err := p.spawn(ctx, id, true)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil {
		p.stats.spawnFailures++
		p.log.Error("worker failed to start", "worker", id, "error", err)
		p.warmFailedLocked()
		p.sys.release(p)
		// The waiter's attempt fails with a task error, as Call promises:
		// a bare error would tell the engine the method never started
		// (as when the pool closes), and it would requeue the task at once
		// without using a retry, to fail the same way again, in a loop
		// for as long as the binary stays missing or broken.
		p.grantLocked(grant{err: startError(err)})
		p.pumpLocked()
		p.checkDrainedLocked()
		return
	}
	p.stats.spawns++
	w.log.Info("worker started", "took", time.Since(w.began).Round(time.Millisecond))
	p.all[w] = struct{}{}
	go p.watchIdleExit(w)
	if p.closed {
		p.retireLocked(w)
		return
	}
	p.offerLocked(w)
	p.pumpLocked()
}

// startError is the task error of a call whose worker failed to start:
// InitialiseFailed as it is, anything else (binary missing, replaced,
// refused, failed handshake) WorkerStartFailed.
func startError(err error) *shared.TaskError {
	if te, ok := errors.AsType[*shared.TaskError](err); ok {
		return te
	}
	return &shared.TaskError{Name: shared.ErrorNameWorkerStart, Message: "could not start a worker: " + err.Error()}
}

// release takes back a slot of a worker whose call ended normally.
func (p *Pool) release(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.warmFailures = 0
	w.inflight--
	if p.closed || (p.waiters.Len() > 0 && p.sys.shouldYield(p)) {
		w.draining = true
	}
	switch {
	case !w.draining:
		p.offerLocked(w)
	case w.inflight == 0:
		if w.recycle {
			p.log.Debug("recycling worker", "worker", w.id, "pid", w.pid, "calls", w.calls.Load())
			p.stats.recycled++
		}
		p.retireLocked(w)
	default:
		p.setOpenLocked(w)
	}
	p.pumpLocked()
}

// idleLocked parks w, or stops it when idle workers are not kept (and
// the pool has more than MinWorkers) or another pool needs the slot.
func (p *Pool) idleLocked(w *worker) {
	timeout := p.cfg.IdleShutdownTimeout
	if p.sys.othersWaiting(p) || (timeout == 0 && p.aboveMinLocked()) {
		p.retireLocked(w)
		return
	}
	w.idleGen++
	w.idleSince = time.Now()
	p.idle = append(p.idle, w)
	if timeout == KeepForever || timeout == 0 {
		return
	}
	gen := w.idleGen
	time.AfterFunc(timeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		// A worker handed out (or reaped) since has a new generation; one
		// of the pool's MinWorkers stays, idle without a timer.
		if w.idleGen == gen && p.aboveMinLocked() && p.removeIdleLocked(w) {
			p.log.Debug("reaping idle worker", "worker", w.id, "pid", w.pid)
			p.retireLocked(w)
		}
	})
}

// aboveMinLocked reports whether the pool has more workers started or
// starting than MinWorkers, so that one of them may stop.
func (p *Pool) aboveMinLocked() bool {
	return len(p.all)+p.starting > p.cfg.MinWorkers
}

func (p *Pool) removeIdleLocked(w *worker) bool {
	for i, x := range p.idle {
		if x == w {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			w.idleGen++
			return true
		}
	}
	return false
}

// watchIdleExit logs w's exit, and drops w if its process exits while it
// is idle, so that no call is handed a dead worker.
func (p *Pool) watchIdleExit(w *worker) {
	<-w.rpc.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.removeIdleLocked(w) {
		// Busy (its call reports the exit, and the engine logs that) or
		// stopping.
		w.log.Info("worker exited", "status", w.exitStatus(), "calls", w.calls.Load(), "ran", time.Since(w.began).Round(time.Millisecond))
		return
	}
	p.stats.crashes++
	p.log.Warn("idle worker exited", "worker", w.id, "pid", w.pid, "exit", w.describeExit())
	p.warmFailedLocked()
	delete(p.all, w)
	p.stopping++
	go func() {
		w.wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.stopping--
		p.sys.release(p)
		p.pumpLocked()
		p.checkDrainedLocked()
	}()
}

// retireOneIdle stops the longest-idle worker, for another pool's sake.
func (p *Pool) retireOneIdle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		return false
	}
	w := p.idle[0]
	p.removeIdleLocked(w)
	p.retireLocked(w)
	return true
}

// retireLocked stops a healthy worker in the background: shutdown method,
// then exit. Its slot is freed once the process is gone.
func (p *Pool) retireLocked(w *worker) {
	w.draining = true
	p.setOpenLocked(w)
	delete(p.all, w)
	p.stopping++
	go p.stop(w)
}

// discard drops a worker that crashed or was killed; each of its calls
// calls it, the first frees its slot.
func (p *Pool) discard(w *worker) {
	w.kill()
	w.wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	w.inflight--
	if !w.dead {
		w.dead = true
		p.setOpenLocked(w)
		delete(p.all, w)
		p.sys.release(p)
	}
	p.pumpLocked()
	p.checkDrainedLocked()
}

// stop runs the shutdown method, ends the process and frees its slot.
func (p *Pool) stop(w *worker) {
	if p.cfg.ShutdownMethod != "" {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
		err := w.callMethod(ctx, p.cfg.ShutdownMethod, p.cfg.InitConfig)
		cancel()
		if err != nil {
			p.log.Warn("shutdown method failed", "worker", w.id, "pid", w.pid, "error", err)
		}
	}
	w.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping--
	p.sys.release(p)
	p.pumpLocked()
	p.checkDrainedLocked()
}

func (p *Pool) checkDrainedLocked() {
	if p.closed && len(p.all) == 0 && p.starting == 0 && p.stopping == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// Close stops the pool: new calls fail with shared.ErrClosed, waiting
// calls too; running calls may finish until ctx is done, then their
// workers are killed. Idle workers and those whose calls finish get their
// shutdown method. Close returns once every worker process is gone.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for p.waiters.Len() > 0 {
			p.grantLocked(grant{err: fmt.Errorf("pool %q: %w", p.cfg.Type, shared.ErrClosed)})
		}
		for p.queued > 0 && p.sys.cancelRequest(p) {
			p.queued--
		}
		for len(p.idle) > 0 {
			w := p.idle[0]
			p.removeIdleLocked(w)
			p.retireLocked(w)
		}
		p.checkDrainedLocked()
	}
	p.mu.Unlock()
	defer p.sys.unregister(p)

	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
	}
	// Out of time: cancel the running methods' contexts; a method that
	// does not return within CancelGrace loses its worker (run arms that).
	p.abort()
	<-p.drained
	return ctx.Err()
}

// Stats is a snapshot of a pool.
type Stats struct {
	Type string `json:"type"`
	Max  int    `json:"maxWorkers"`
	Min  int    `json:"minWorkers"`
	// Concurrency is the calls each worker may run at once; Running the
	// calls in flight.
	Concurrency int           `json:"concurrency"`
	Running     int           `json:"running"`
	Alive       int           `json:"alive"`
	Busy        int           `json:"busy"`
	Idle        int           `json:"idle"`
	Starting    int           `json:"starting"`
	Waiting     int           `json:"waiting"`
	Workers     []WorkerStats `json:"workers"`
	// Calls counts finished calls; Crashes, Timeouts and Kills count the
	// workers lost to each; Spawns counts workers started.
	Calls         uint64 `json:"calls"`
	Crashes       uint64 `json:"crashes"`
	Timeouts      uint64 `json:"timeouts"`
	Kills         uint64 `json:"kills"`
	Spawns        uint64 `json:"spawns"`
	SpawnFailures uint64 `json:"spawnFailures"`
	// Recycled counts workers replaced after MaxTasksPerWorker calls;
	// MemoryKills those killed over MemoryLimit.
	Recycled    uint64 `json:"recycled"`
	MemoryKills uint64 `json:"memoryKills"`
}

// WorkerStats describes one live worker.
type WorkerStats struct {
	ID    int64  `json:"id"`
	PID   int    `json:"pid"`
	Busy  bool   `json:"busy"`
	Calls uint64 `json:"calls"`
	// Running is the calls in flight on it.
	Running int `json:"running"`
	// Tasks are the ids of the tasks it runs, in no particular order.
	Tasks []string `json:"tasks,omitempty"`
	// RSS is its resident memory in bytes, read at most StatsRSSMaxAge
	// ago (0 if it could not be read).
	RSS int64 `json:"rss"`
	// Started is when its start began.
	Started time.Time `json:"started"`
}

// StatsRSSMaxAge is how old the RSS of a worker in Stats may be.
const StatsRSSMaxAge = time.Second

// Stats returns a snapshot of the pool's workers and counters.
func (p *Pool) Stats() Stats {
	s, workers := p.snapshot()
	// Read outside the pool's lock: /proc and each worker's own lock.
	for i, w := range workers {
		ws := &s.Workers[i]
		ws.Tasks = w.runningTasks()
		ws.RSS = w.resident(p.rssMaxAge)
	}
	return s
}

// snapshot is Stats but for what is read outside the pool's lock, and
// the workers in the order of Stats.Workers.
func (p *Pool) snapshot() (Stats, []*worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Type: p.cfg.Type, Max: p.max, Min: p.cfg.MinWorkers, Concurrency: p.conc,
		Alive: len(p.all), Idle: len(p.idle), Busy: len(p.all) - len(p.idle),
		Starting: p.starting, Waiting: p.waiters.Len(),
		Calls: p.stats.calls, Crashes: p.stats.crashes, Timeouts: p.stats.timeouts,
		Kills: p.stats.kills, Spawns: p.stats.spawns, SpawnFailures: p.stats.spawnFailures,
		Recycled: p.stats.recycled, MemoryKills: p.stats.memoryKills,
	}
	workers := make([]*worker, 0, len(p.all))
	for w := range p.all {
		s.Running += w.inflight
		s.Workers = append(s.Workers, WorkerStats{ID: w.id, PID: w.pid, Busy: w.inflight > 0, Calls: w.calls.Load(), Running: w.inflight, Started: w.began})
		workers = append(workers, w)
	}
	return s, workers
}
