package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/internal/pool"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// handler is a registered handler: its pool, its dispatcher and its
// state-change callback queue.
type handler struct {
	h        *Host
	typ      string
	plugin   string
	method   string
	opts     HandlerOptions
	pool     *pool.Pool
	log      hclog.Logger
	capacity int

	// claimMu is held from a claim until its run is registered, so that
	// a task of this node seen processing is either registered or stale.
	claimMu   sync.Mutex
	wakeCh    chan struct{} // buffered 1
	stopCh    chan struct{}
	stopOnce  sync.Once
	startOnce sync.Once
	done      chan struct{} // closed when the dispatcher has returned
	closing   atomic.Bool   // pool closing: killed runs are left to resume
	inflight  atomic.Int64  // claimed and not finished
	pace      pace
	runs      sync.WaitGroup
	runq      chan runStart // unbuffered: to a runner waiting for its next run
	callbacks *callbackQueue
}

func newHandler(h *Host, typ, plugin, method string, fn StateChangeFunc, opts HandlerOptions, p *pool.Pool) *handler {
	log := h.opts.Logger.Named("dispatch").With("task_type", typ)
	return &handler{
		h: h, typ: typ, plugin: plugin, method: method, opts: opts, pool: p, log: log,
		capacity:  p.Capacity(),
		wakeCh:    make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		runq:      make(chan runStart),
		callbacks: newCallbackQueue(fn, log),
	}
}

func (hd *handler) start() {
	hd.startOnce.Do(func() { go hd.dispatch() })
}

func (hd *handler) wake() {
	select {
	case hd.wakeCh <- struct{}{}:
	default:
	}
}

// close drains the handler: it stops claiming, lets every task already
// claimed start and run until ctx is done, then closes the pool
// (cancelling what still runs, killing what ignores that, failing what
// still waits for a worker: all of those run again later) and the
// callback queue.
func (hd *handler) close(ctx context.Context) error {
	hd.stopOnce.Do(func() { close(hd.stopCh) })
	hd.startOnce.Do(func() { close(hd.done) }) // never started: nothing to wait for
	<-hd.done
	// The pool stays open meanwhile: a claimed task whose worker is still
	// starting gets it, as a running one gets to finish.
	ran := make(chan struct{})
	go func() { hd.runs.Wait(); close(ran) }()
	select {
	case <-ran:
	case <-ctx.Done():
	}
	hd.closing.Store(true)
	err := hd.pool.Close(ctx)
	<-ran
	hd.callbacks.close()
	if err != nil {
		return fmt.Errorf("handler %q: %w", hd.typ, err)
	}
	return nil
}

func (hd *handler) info() HandlerInfo {
	return HandlerInfo{
		Type: hd.typ, Plugin: hd.plugin, Args: hd.opts.Args, Script: hd.pool.Script(), Method: hd.method,
		MaxWorkerCount:      hd.opts.MaxWorkerCount,
		MinWorkers:          hd.opts.MinWorkers,
		Concurrency:         max(hd.opts.Concurrency, 1),
		IdleShutdownTimeout: hd.opts.IdleShutdownTimeout.Milliseconds(),
		ExecutionTimeout:    hd.opts.ExecutionTimeout.Milliseconds(),
		InitialiseMethod:    hd.opts.InitialiseMethod,
		ShutdownMethod:      hd.opts.ShutdownMethod,
		Running:             int(hd.inflight.Load()),
		Pool:                hd.pool.Stats(),
	}
}

// dispatch claims due tasks while the pool has room, then sleeps until
// woken (a create, a finished run) or the next task is due.
func (hd *handler) dispatch() {
	defer close(hd.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := hd.fill()
		timer.Reset(max(wait, 0))
		select {
		case <-hd.wakeCh:
		case <-timer.C:
		case <-hd.stopCh:
			return
		}
	}
}

// claimRetry is how long the dispatcher waits after a store error.
const claimRetry = time.Second

// fill starts as many due tasks as the pool can take and returns how long
// to sleep before looking again.
func (hd *handler) fill() time.Duration {
	ctx := context.Background()
	h := hd.h
	limit := hd.capacity + hd.pace.ahead(hd.capacity, time.Now())
	for {
		free := limit - int(hd.inflight.Load())
		if free <= 0 {
			break
		}
		select {
		case <-hd.stopCh:
			return time.Hour
		default:
		}
		t := now()
		hd.claimMu.Lock()
		recs, err := h.st.Claim(ctx, hd.typ, t, h.opts.NodeID, t.Add(h.opts.Lease), free)
		if err != nil {
			hd.claimMu.Unlock()
			hd.log.Error("claim failed", "error", err)
			return claimRetry
		}
		hd.inflight.Add(int64(len(recs)))
		for _, rec := range recs {
			hd.startRun(rec)
		}
		hd.claimMu.Unlock()
		if len(recs) < free {
			break
		}
	}
	if hd.inflight.Load() >= int64(limit) {
		return h.opts.TaskInterval // a finished run wakes us
	}
	due, ok, err := h.st.NextDue(ctx, hd.typ)
	switch {
	case err != nil:
		hd.log.Error("next due lookup failed", "error", err)
		return claimRetry
	case !ok:
		return h.opts.TaskInterval
	}
	return min(time.Until(due), h.opts.TaskInterval)
}

func (hd *handler) startRun(rec *store.Record) {
	h := hd.h
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{rec: rec, cancel: cancel, done: make(chan struct{})}
	h.mu.Lock()
	h.running[rec.ID] = r
	h.mu.Unlock()
	h.transition(hd.typ)(rec)
	hd.runs.Add(1)
	next := runStart{ctx: ctx, r: r}
	select {
	case hd.runq <- next:
	default:
		go hd.runner(next)
	}
}

// runStart is a run and its context, handed to a runner.
type runStart struct {
	ctx context.Context
	r   *run
}

// runnerIdle is how long a runner waits for its next run before it ends.
const runnerIdle = time.Second

// runner executes next, then the runs handed to it while it waits, until
// none comes for runnerIdle or the handler stops. A goroutine per run
// would grow its stack anew for every call (host CPU in make bench, bulk:
// runtime.newstack 4%); a runner keeps the stack it grew.
func (hd *handler) runner(next runStart) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		hd.execute(next.ctx, next.r)
		idle.Reset(runnerIdle)
		select {
		case next = <-hd.runq:
		case <-idle.C:
			return
		case <-hd.stopCh:
			return
		}
	}
}

// execute runs one attempt and records its outcome.
func (hd *handler) execute(ctx context.Context, r *run) {
	h := hd.h
	rec := r.rec
	defer func() {
		r.cancel()
		h.mu.Lock()
		delete(h.running, rec.ID)
		h.mu.Unlock()
		close(r.done)
		hd.runs.Done()
	}()
	claimed := time.Now()
	// The attempt begins when its call has a worker: until then (a task
	// claimed ahead, a worker starting) it waits, as in the queue.
	var began time.Time
	req := pool.Request{Payload: rec.Payload, Task: shared.CallTask{
		ID: rec.ID, Type: rec.Type, ThreadID: rec.ThreadID, Attempt: rec.Attempts,
		RetriesRemaining: rec.RetriesRemaining, ContextIDs: rec.ContextIDs,
	}, Started: func() {
		began = time.Now()
		wait := max(began.Sub(rec.Due()), 0)
		h.opts.Observer.TaskStarted(hd.typ, wait)
		h.activity.started(wait)
	}}
	result, err := hd.pool.Call(ctx, req, func(p shared.Progress) { h.setProgress(r, p) })
	// The worker is free again: the next task may start while this
	// outcome is being made durable. An attempt that never got a worker
	// (its start failed, the call was cancelled while waiting, the pool
	// closed) has no run, and says nothing of how long tasks take.
	var ran time.Duration
	if !began.IsZero() {
		ran = time.Since(began)
		hd.pace.finished(time.Now(), time.Since(claimed))
	}
	hd.inflight.Add(-1)
	hd.wake()

	h.mu.Lock()
	want := r.intent
	r.finishing = true
	h.mu.Unlock()
	runErr := err
	outcome, err := hd.finish(rec, want, result, runErr)
	if errors.Is(err, store.ErrConflict) {
		// The stored task is no longer this claim's: its lease lapsed and
		// another node claimed it, or another node cancelled or removed it.
		hd.log.Info("task changed under its running attempt: its outcome is dropped",
			"task_id", rec.ID, "attempt", rec.Attempts, "dropped", describeRun(runErr), "error", err)
		outcome, err = OutcomeLost, nil
	}
	hd.logAttempt(rec, outcome, runErr, ran)
	h.opts.Observer.TaskFinished(hd.typ, outcome, ran)
	h.activity.finished(outcome)
	if err != nil {
		// The task stays processing; the next Start runs it again.
		hd.log.Error("recording outcome failed", "task_id", rec.ID, "error", err)
	}
}

// finish writes the outcome of an attempt and says what it was.
func (hd *handler) finish(rec *store.Record, want intent, result []byte, runErr error) (Outcome, error) {
	h := hd.h
	ctx := context.Background()
	if want == intentLost {
		hd.log.Info("task's lease lost: its outcome is dropped (another node owns it now, or it was cancelled or removed elsewhere)",
			"task_id", rec.ID, "attempt", rec.Attempts, "dropped", describeRun(runErr))
		return OutcomeLost, nil
	}
	if want == intentRemove {
		err := h.st.Delete(ctx, rec.ID)
		if err == nil || errors.Is(err, shared.ErrNotFound) {
			h.closeWatchers(rec.ID, nil)
			h.changedRecord(ChangeRemoved, rec)
			return OutcomeCancelled, nil
		}
		return OutcomeCancelled, err
	}

	var te *shared.TaskError
	errors.As(runErr, &te)
	notRun := runErr != nil && te == nil // never started: the pool closed
	killedByClose := te != nil && te.Name == shared.ErrorNameCancelled && hd.closing.Load()
	if want != intentCancel && (notRun || killedByClose) {
		// The attempt did not complete because the handler or the host is
		// stopping: the task runs again later, without using a retry.
		next := *rec
		next.Status = shared.StatusPending
		next.DateModified = now()
		next.LeaseOwner, next.LeaseUntil = "", time.Time{}
		hd.log.Debug("attempt did not complete; task requeued", "task_id", rec.ID, "reason", runErr)
		return OutcomeRequeued, h.settle(ctx, &next, shared.StatusProcessing)
	}

	t := now()
	next := *rec
	next.DateModified = t
	next.LeaseOwner, next.LeaseUntil = "", time.Time{}
	next.Progress = nil
	var outcome Outcome
	switch {
	case want == intentCancel:
		outcome = OutcomeCancelled
		next.Status = shared.StatusCancelled
		next.DateCancelled = &t
	case runErr == nil:
		outcome = OutcomeSuccess
		next.Status = shared.StatusSuccess
		next.Result = result
		next.Error = nil
		next.RetriesRemaining, next.RetryInterval, next.DateNextProcess = nil, nil, nil
		next.DateCompleted = &t
	case !te.Permanent && next.RetriesRemaining != nil && *next.RetriesRemaining > 0:
		outcome = OutcomeRetry
		left := *next.RetriesRemaining - 1
		due := t.Add(hd.retryInterval(&next))
		next.Status = shared.StatusPending
		next.Error = te
		next.RetriesRemaining = &left
		next.DateNextProcess = &due
	default:
		outcome = OutcomeFailed
		next.Status = shared.StatusFailed
		next.Error = te
		next.DateCompleted = &t
	}
	return outcome, h.settle(ctx, &next, shared.StatusProcessing)
}

func (hd *handler) retryInterval(rec *store.Record) time.Duration {
	if rec.RetryInterval != nil {
		return time.Duration(*rec.RetryInterval) * time.Millisecond
	}
	return hd.h.opts.RetryInterval
}

// setProgress records a running task's progress and tells watchers.
func (h *Host) setProgress(r *run, p shared.Progress) {
	h.mu.Lock()
	r.progress = &p
	h.mu.Unlock()
	t := r.rec.Task
	t.Progress = &p
	h.publish(t)
	h.changed(ChangeProgress, &t)
}

// callbackQueue runs a handler's state-change callback on one goroutine,
// in the order the transitions happened, so that the calls for one task
// never overlap or reorder. A transition takes its place in the queue
// before it is written (reserve) and is filled in once written; the
// engine never waits for a callback.
type callbackQueue struct {
	fn  StateChangeFunc
	log hclog.Logger

	mu      sync.Mutex
	items   []*callbackSlot
	signal  chan struct{} // buffered 1
	closed  bool
	drained chan struct{}
}

// callbackSlot is a place in the queue: task is set (or skip) before
// filled is closed.
type callbackSlot struct {
	filled chan struct{}
	task   shared.Task
	skip   bool
}

// fill completes a slot with the task's new state, or drops it (nil).
// A nil slot (no callback) is fine.
func (s *callbackSlot) fill(t *shared.Task) {
	if s == nil {
		return
	}
	if t == nil {
		s.skip = true
	} else {
		s.task = *t
	}
	close(s.filled)
}

func newCallbackQueue(fn StateChangeFunc, log hclog.Logger) *callbackQueue {
	q := &callbackQueue{fn: fn, log: log, signal: make(chan struct{}, 1), drained: make(chan struct{})}
	if fn == nil {
		close(q.drained)
		return q
	}
	go q.loop()
	return q
}

// reserve takes the next place in the queue; nil when there is no
// callback or the queue is closed.
func (q *callbackQueue) reserve() *callbackSlot {
	if q.fn == nil {
		return nil
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	s := &callbackSlot{filled: make(chan struct{})}
	q.items = append(q.items, s)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return s
}

// close runs what is queued, then stops.
func (q *callbackQueue) close() {
	q.mu.Lock()
	already := q.closed
	q.closed = true
	q.mu.Unlock()
	if !already && q.fn != nil {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	<-q.drained
}

func (q *callbackQueue) loop() {
	defer close(q.drained)
	for range q.signal {
		for {
			q.mu.Lock()
			items := q.items
			q.items = nil
			closed := q.closed
			q.mu.Unlock()
			if len(items) == 0 {
				if closed {
					return
				}
				break
			}
			for _, s := range items {
				<-s.filled
				if !s.skip {
					q.call(s.task)
				}
			}
		}
	}
}

func (q *callbackQueue) call(t shared.Task) {
	defer func() {
		if v := recover(); v != nil {
			q.log.Error("state-change callback panicked", "task_id", t.ID, "status", t.Status, "panic", v)
		}
	}()
	if err := q.fn(context.Background(), t); err != nil {
		q.log.Error("state-change callback failed", "task_id", t.ID, "status", t.Status, "error", err)
	}
}

// claimAheadWindow bounds what the dispatcher claims beyond its free
// slots: what the handler's slots finish in this long, at the recent
// length of a task, at most one more task per slot. A slot that frees
// takes a task already claimed instead of waiting for a claim, which
// waits for Badger's earlier commits (0.1–0.6 ms; make bench: bulk
// 5.1–5.5 of 8 workers busy without, 6.2–7.0 with). A task claimed ahead
// is processing while it waits for its worker, about this long; a
// handler whose tasks take longer than this claims none ahead.
const claimAheadWindow = 5 * time.Millisecond

// pace follows how long a handler's tasks take.
type pace struct {
	mu    sync.Mutex
	last  time.Time     // when the last task ended
	run   time.Duration // a task's run, moving average
	known bool          // a task has run
}

// finished counts a task that ran for d (with its wait for a worker,
// when it was claimed ahead) and ended at t.
func (p *pace) finished(t time.Time, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known {
		p.run, p.known = d, true
	} else {
		p.run += (d - p.run) / 8
	}
	p.last = t
}

// ahead is how many tasks to claim beyond capacity at now: what capacity
// slots finish within claimAheadWindow at the recent length of a task,
// at most capacity, none when no task ended within the last second.
func (p *pace) ahead(capacity int, now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.known || now.Sub(p.last) > time.Second:
		return 0
	case p.run <= 0:
		return capacity
	}
	return int(min(int64(capacity), int64(capacity)*int64(claimAheadWindow)/int64(p.run)))
}

// describeRun says in a word or two how an attempt ended, for a log line.
func describeRun(err error) string {
	if err == nil {
		return "success"
	}
	if te, ok := errors.AsType[*shared.TaskError](err); ok {
		return te.Name
	}
	return err.Error()
}
