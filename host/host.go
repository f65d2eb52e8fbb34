package host

import (
	"cmp"
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

	"github.com/taskhost/taskhost/host/internal/pool"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Host is the task engine. Make one with [New]; it is safe for concurrent
// use.
type Host struct {
	st   store.Store
	opts Options
	log  hclog.Logger
	sys  *pool.System

	mu       sync.Mutex
	handlers map[string]*handler
	running  map[string]*run
	watchers map[string]map[*watcher]struct{}
	started  bool
	stopping bool
	// startedAt is when Start ran, as Nodes shows it.
	startedAt time.Time
	// finals queues the final states to send to other nodes, heard keeps
	// those they sent, by task id (final.go); finals is nil on a store
	// that does not pass them.
	finals     chan []byte
	heard      map[string]heardFinal
	heardOrder []heardAt     // heard's keys, oldest first, to forget them in order
	stopped    chan struct{} // closed by Stop: ends the cleanup loop
	// changes are the subscribers of Subscribe (changes.go).
	changes changeFeed
	// activity holds the last minutes' per-second samples (activity.go).
	activity activity
	loops    sync.WaitGroup
}

// run is one attempt of a task in progress on this host.
type run struct {
	rec      *store.Record
	cancel   context.CancelFunc
	done     chan struct{}
	intent   intent
	progress *shared.Progress
	// saved is the progress last saved to a shared store (saveProgress).
	saved *shared.Progress
	// finishing: the method has returned and its outcome is being
	// written; a lost lease no longer changes anything (the write is
	// fenced).
	finishing bool
}

// intent is what a caller asked of a running task.
type intent int

const (
	intentNone intent = iota
	intentCancel
	intentRemove
	// intentLost: this host lost the task's lease; nothing it learns of
	// the attempt may be written.
	intentLost
)

// New returns a host over st. Register handlers, then [Host.Start] it.
func New(st store.Store, opts Options) (*Host, error) {
	opts, err := opts.validate()
	if err != nil {
		return nil, err
	}
	var finals chan []byte
	if _, ok := st.(store.FinalNotifier); ok {
		finals = make(chan []byte, finalQueue)
	}
	return &Host{
		finals:   finals,
		heard:    make(map[string]heardFinal),
		st:       st,
		opts:     opts,
		log:      opts.Logger.Named("host"),
		sys:      pool.NewSystem(opts.SystemWorkerCount),
		handlers: make(map[string]*handler),
		running:  make(map[string]*run),
		watchers: make(map[string]map[*watcher]struct{}),
		stopped:  make(chan struct{}),
	}, nil
}

// NodeID is the host's node id.
func (h *Host) NodeID() string { return h.opts.NodeID }

// now is the engine's clock: UTC with the millisecond precision of the
// task JSON, so that what is stored is what is shown.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// RegisterHandler registers the handler of task type typ: method of the
// plugin binary at pluginPath (made absolute; never looked up in $PATH),
// or, with opts.Args, of the command that the interpreter at pluginPath
// runs (node and a script). The plugin is checked at once (it exists,
// speaks the handshake, exports the methods). Tasks of typ run from then
// on, those already pending too.
func (h *Host) RegisterHandler(ctx context.Context, typ, pluginPath, method string, onStateChange StateChangeFunc, opts HandlerOptions) error {
	if err := validateName("task type", typ); err != nil {
		return err
	}
	path, err := filepath.Abs(pluginPath)
	if err != nil {
		return fmt.Errorf("%w: handler %q: plugin path %q: %v", shared.ErrInvalidArgument, typ, pluginPath, err)
	}
	h.mu.Lock()
	_, dup := h.handlers[typ]
	h.mu.Unlock()
	if dup {
		return fmt.Errorf("%w: a handler for task type %q is already registered", shared.ErrInvalidState, typ)
	}
	p, err := pool.New(ctx, h.sys, pool.Config{
		Type:                typ,
		Path:                path,
		Args:                opts.Args,
		Script:              opts.Script,
		Dir:                 opts.WorkDir,
		Method:              method,
		InitialiseMethod:    opts.InitialiseMethod,
		ShutdownMethod:      opts.ShutdownMethod,
		InitConfig:          opts.Config,
		MaxWorkerCount:      opts.MaxWorkerCount,
		MinWorkers:          opts.MinWorkers,
		Concurrency:         opts.Concurrency,
		IdleShutdownTimeout: opts.IdleShutdownTimeout,
		ExecutionTimeout:    opts.ExecutionTimeout,
		SHA256:              opts.SHA256,
		MaxTasksPerWorker:   opts.MaxTasksPerWorker,
		MemoryLimit:         opts.MemoryLimit,
		Env:                 opts.Env,
		DisableMTLS:         opts.DisableMTLS,
		MaxResultSize:       h.opts.MaxResultSize,
		Logger:              h.opts.Logger,
	})
	if err != nil {
		return fmt.Errorf("register handler: %w", err)
	}
	hd := newHandler(h, typ, path, method, onStateChange, opts, p)

	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.handlers[typ]; dup || h.stopping {
		go p.Close(context.Background())
		if dup {
			return fmt.Errorf("%w: a handler for task type %q is already registered", shared.ErrInvalidState, typ)
		}
		return fmt.Errorf("register handler: host %w", shared.ErrClosed)
	}
	h.handlers[typ] = hd
	if h.started {
		hd.start()
	}
	kv := []any{"task_type", typ, "plugin", path, "method", method}
	if script := p.Script(); script != "" {
		kv = append(kv, "script", script)
	}
	h.log.Info("handler registered", kv...)
	return nil
}

// UnregisterHandler stops dispatching tasks of typ, lets running ones
// finish until ctx is done, and shuts the handler's workers down. Its
// pending tasks stay pending.
func (h *Host) UnregisterHandler(ctx context.Context, typ string) error {
	h.mu.Lock()
	hd, ok := h.handlers[typ]
	delete(h.handlers, typ)
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: no handler for task type %q", shared.ErrNotFound, typ)
	}
	return hd.close(ctx)
}

// Handlers describes the registered handlers, sorted by type.
func (h *Host) Handlers() []HandlerInfo {
	h.mu.Lock()
	hds := slices.Collect(maps.Values(h.handlers))
	h.mu.Unlock()
	out := make([]HandlerInfo, 0, len(hds))
	for _, hd := range hds {
		out = append(out, hd.info())
	}
	slices.SortFunc(out, func(a, b HandlerInfo) int { return cmp.Compare(a.Type, b.Type) })
	return out
}

// Create stores a new pending task and returns its id. The task is on
// disk when Create returns.
func (h *Host) Create(ctx context.Context, typ string, payload json.RawMessage, opts CreateOptions) (string, error) {
	recs, err := h.create(ctx, []NewTask{{Type: typ, Payload: payload, Options: opts}}, nil)
	if err != nil {
		return "", err
	}
	return recs[0].ID, nil
}

// CreateWatch creates a task as Create does and returns, with its id, a
// channel of its states as [Host.Watch] gives them: the task as created,
// then every change until it is terminal or removed, or ctx ends. The
// channel is watching before the task can start, so the final state
// reaches it even when the task finishes at once and retention removes
// it.
func (h *Host) CreateWatch(ctx context.Context, typ string, payload json.RawMessage, opts CreateOptions) (string, <-chan shared.Task, error) {
	w := newWatcher()
	recs, err := h.create(ctx, []NewTask{{Type: typ, Payload: payload, Options: opts}}, w)
	if err != nil {
		return "", nil, err
	}
	h.prime(ctx, recs[0].ID, w, recs[0].Task)
	return recs[0].ID, w.ch, nil
}

// CreateMany stores tasks in one durable write, all or none, and returns
// their ids in order. A bad task fails the whole batch, naming its index.
func (h *Host) CreateMany(ctx context.Context, tasks []NewTask) ([]string, error) {
	recs, err := h.create(ctx, tasks, nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	return ids, nil
}

// create stores tasks in one durable write. A watcher w, if given, is
// registered for the first task before it is written.
func (h *Host) create(ctx context.Context, tasks []NewTask, w *watcher) ([]*store.Record, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("%w: no tasks to create", shared.ErrInvalidArgument)
	}
	t := now()
	recs := make([]*store.Record, len(tasks))
	for i, nt := range tasks {
		rec, err := h.newRecord(nt, t)
		if err != nil {
			if len(tasks) > 1 {
				return nil, fmt.Errorf("task %d: %w", i, err)
			}
			return nil, err
		}
		recs[i] = rec
	}
	perType := make(map[string]int)
	for _, rec := range recs {
		perType[rec.Type]++
	}
	if w != nil {
		h.addWatcher(recs[0].ID, w)
	}
	// Dispatch may start once the tasks are committed, while the create
	// is still being synced: the API still answers only once they are
	// durable, and a task run but lost to a crash before that sync was
	// never accepted.
	var woke atomic.Bool
	wake := func() {
		woke.Store(true)
		// Before the dispatchers wake: a subscriber sees the create
		// before the claim.
		for _, rec := range recs {
			h.changedRecord(ChangeCreated, rec)
		}
		for typ := range perType {
			h.wake(typ)
		}
	}
	if err := h.st.Create(store.WithCommitted(ctx, wake), recs...); err != nil {
		if w != nil {
			h.mu.Lock()
			h.removeWatcherLocked(recs[0].ID, w)
			h.mu.Unlock()
		}
		return nil, fmt.Errorf("create: %w", err)
	}
	if !woke.Load() {
		wake()
	}
	for typ, n := range perType {
		h.opts.Observer.TasksCreated(typ, n)
	}
	return recs, nil
}

// HasHandler reports whether a handler for task type typ is registered.
func (h *Host) HasHandler(typ string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handlers[typ] != nil
}

// checkHandler refuses typ when types must have a handler and it has none.
func (h *Host) checkHandler(typ string) error {
	if !h.opts.StrictTypes || h.HasHandler(typ) {
		return nil
	}
	h.mu.Lock()
	types := slices.Sorted(maps.Keys(h.handlers))
	h.mu.Unlock()
	want := "none is registered"
	if len(types) > 0 {
		want = "want one of " + strings.Join(types, ", ")
	}
	return fmt.Errorf("%w: task type %q has no handler, and this host refuses such tasks (strict types): %s", shared.ErrNoHandler, typ, want)
}

func (h *Host) newRecord(nt NewTask, t time.Time) (*store.Record, error) {
	if err := validateName("task type", nt.Type); err != nil {
		return nil, err
	}
	if err := h.checkHandler(nt.Type); err != nil {
		return nil, err
	}
	if len(nt.Payload) > h.opts.MaxPayloadSize {
		return nil, fmt.Errorf("%w: payload is %d bytes: the limit is %d", shared.ErrPayloadTooLarge, len(nt.Payload), h.opts.MaxPayloadSize)
	}
	if len(nt.Payload) > 0 && !json.Valid(nt.Payload) {
		return nil, fmt.Errorf("%w: payload is not valid JSON", shared.ErrInvalidArgument)
	}
	o := nt.Options
	switch {
	case o.RetryCount < 0:
		return nil, fmt.Errorf("%w: retryCount %d: want 0 or more", shared.ErrInvalidArgument, o.RetryCount)
	case o.RetryInterval < 0:
		return nil, fmt.Errorf("%w: retryInterval %v: want 0 (the host's default) or more", shared.ErrInvalidArgument, o.RetryInterval)
	case o.RetainFor < 0 && o.RetainFor != RetainForever:
		return nil, fmt.Errorf("%w: retainFor %v: want -1 (forever), 0 (remove when finished) or more", shared.ErrInvalidArgument, o.RetainFor)
	}
	for k := range o.ContextIDs {
		if k == "" {
			return nil, fmt.Errorf("%w: contextIds has an empty key", shared.ErrInvalidArgument)
		}
	}
	id := nt.ID
	if id == "" {
		var err error
		if id, err = newID(); err != nil {
			return nil, err
		}
	} else if parsed, err := parseID(id); err != nil || parsed != id {
		return nil, fmt.Errorf("%w: task id %q: want 32 lower-case hex digits", shared.ErrInvalidArgument, id)
	}
	rec := &store.Record{Task: shared.Task{
		ID: id, Type: nt.Type, ThreadID: h.opts.NodeID, Status: shared.StatusPending,
		DateCreated: t, DateModified: t,
		Payload: nt.Payload, ContextIDs: o.ContextIDs,
	}}
	if o.RetryCount > 0 {
		interval := o.RetryInterval
		if interval == 0 {
			interval = h.opts.RetryInterval
		}
		ms := interval.Milliseconds()
		rec.RetryInterval = &ms
		rec.RetriesRemaining = &o.RetryCount
	}
	if o.RetainFor != 0 {
		ms := int64(-1)
		if o.RetainFor != RetainForever {
			ms = o.RetainFor.Milliseconds()
		}
		rec.RetainFor = &ms
	}
	return rec, nil
}

// Get returns a task by id (bare or twin's URN form). A running task shows
// the progress its method last reported.
func (h *Host) Get(ctx context.Context, id string) (shared.Task, error) {
	id, err := parseID(id)
	if err != nil {
		return shared.Task{}, err
	}
	rec, err := h.st.Get(ctx, id)
	if err != nil {
		return shared.Task{}, err // it names the task
	}
	return h.view(rec), nil
}

// view is the public face of a stored task, with live progress.
func (h *Host) view(rec *store.Record) shared.Task {
	t := rec.Task
	if t.Status == shared.StatusProcessing {
		h.mu.Lock()
		if r := h.running[t.ID]; r != nil && r.progress != nil {
			p := *r.progress
			t.Progress = &p
		}
		h.mu.Unlock()
	}
	return t
}

// Query returns a page of tasks.
func (h *Host) Query(ctx context.Context, q Query) (Page, error) {
	if q.Type != "" {
		if err := validateName("type", q.Type); err != nil {
			return Page{}, err
		}
	}
	if q.Status != "" && !q.Status.Valid() {
		return Page{}, fmt.Errorf("%w: status %q: want one of %v", shared.ErrInvalidArgument, q.Status, shared.Statuses())
	}
	if q.SortBy == "" {
		q.SortBy = store.SortDateCreated
	}
	if !q.SortBy.Valid() {
		return Page{}, fmt.Errorf("%w: sortBy %q: want dateCreated, dateModified, dateCompleted or status", shared.ErrInvalidArgument, q.SortBy)
	}
	if q.Limit < 0 || q.Limit > store.MaxLimit {
		return Page{}, fmt.Errorf("%w: limit %d: want 1 to %d (0 means %d)", shared.ErrInvalidArgument, q.Limit, store.MaxLimit, store.DefaultLimit)
	}
	page, err := h.st.Query(ctx, q)
	if err != nil {
		return Page{}, err // the store says what it was doing
	}
	out := Page{Tasks: make([]shared.Task, len(page.Tasks)), Cursor: page.Cursor}
	for i, rec := range page.Tasks {
		out.Tasks[i] = h.view(rec)
	}
	return out, nil
}

// maxConflictRetries bounds the read-modify-write loops that race with the
// dispatcher.
const maxConflictRetries = 16

// Cancel cancels a task: a pending one becomes cancelled at once; a
// processing one has its method's context cancelled (its worker is killed
// if it does not return in time) and Cancel waits, until ctx is done, for
// it to end cancelled. Terminal tasks cannot be cancelled.
func (h *Host) Cancel(ctx context.Context, id string) error {
	return h.stopTask(ctx, id, intentCancel)
}

// Remove deletes a task whatever its status; a running one is cancelled
// first.
func (h *Host) Remove(ctx context.Context, id string) error {
	return h.stopTask(ctx, id, intentRemove)
}

func (h *Host) stopTask(ctx context.Context, rawID string, want intent) error {
	id, err := parseID(rawID)
	if err != nil {
		return err
	}
	for range maxConflictRetries {
		rec, err := h.st.Get(ctx, id)
		if err != nil {
			return err // it names the task
		}
		if rec.Status == shared.StatusProcessing {
			if r := h.interrupt(rec, want); r != nil {
				select {
				case <-r.done:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			// Processing but not running here: left by a crash of this
			// node before Start recovered it, or claimed elsewhere.
		}
		if want == intentRemove {
			err = h.st.Delete(ctx, id, rec.Status)
		} else {
			err = h.cancelStored(ctx, rec)
		}
		if errors.Is(err, store.ErrConflict) {
			continue // claimed or finished meanwhile: look again
		}
		if err == nil && want == intentRemove {
			h.closeWatchers(id, nil)
			h.changedRecord(ChangeRemoved, rec)
		}
		return err
	}
	return fmt.Errorf("task %s keeps changing: %w", id, store.ErrConflict)
}

// interrupt asks a task running here to stop, for want, and returns its
// run; nil if it is not running here.
func (h *Host) interrupt(rec *store.Record, want intent) *run {
	h.mu.Lock()
	hd := h.handlers[rec.Type]
	h.mu.Unlock()
	if hd != nil && rec.LeaseOwner == h.opts.NodeID {
		// A claim in flight registers its run before this returns.
		hd.claimMu.Lock()
		defer hd.claimMu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.running[rec.ID]
	if r == nil {
		return nil
	}
	if want > r.intent {
		r.intent = want
	}
	r.cancel()
	return r
}

// cancelStored cancels a task that is not running here.
func (h *Host) cancelStored(ctx context.Context, rec *store.Record) error {
	if rec.Status.Terminal() {
		return fmt.Errorf("%w: task %s is %s: only pending or processing tasks can be cancelled", shared.ErrInvalidState, rec.ID, rec.Status)
	}
	next := *rec
	t := now()
	next.Status = shared.StatusCancelled
	next.DateModified = t
	next.DateCancelled = &t
	next.LeaseOwner, next.LeaseUntil = "", time.Time{}
	if err := h.settle(ctx, &next, rec.Status); err != nil {
		return err
	}
	if rec.Status == shared.StatusProcessing {
		// It runs on another node, which learns of it at once this way
		// (else at its next renewal) and stops the method.
		h.announceFinal(next.Task)
	}
	return nil
}

// Retry makes a pending task due now, or puts a retained failed task back
// in the queue (due now, its error kept until it runs again).
func (h *Host) Retry(ctx context.Context, rawID string) error {
	id, err := parseID(rawID)
	if err != nil {
		return err
	}
	for range maxConflictRetries {
		rec, err := h.st.Get(ctx, id)
		if err != nil {
			return err // it names the task
		}
		if rec.Status != shared.StatusPending && rec.Status != shared.StatusFailed {
			return fmt.Errorf("%w: task %s is %s: only pending or failed tasks can be retried", shared.ErrInvalidState, id, rec.Status)
		}
		next := *rec
		t := now()
		next.Status = shared.StatusPending
		next.DateModified = t
		next.DateNextProcess = &t
		next.DateCompleted, next.DateRetainUntil = nil, nil
		report := func(*store.Record) {}
		if rec.Status == shared.StatusFailed {
			report = h.transition(rec.Type)
		}
		err = h.st.Update(ctx, &next, rec.Status)
		if err != nil {
			report(nil)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return fmt.Errorf("retry task %s: %w", id, err)
		}
		report(&next)
		if rec.Status == shared.StatusPending {
			h.changedRecord(ChangeUpdated, &next) // no transition to report: due now
		}
		h.wake(rec.Type)
		return nil
	}
	return fmt.Errorf("task %s keeps changing: %w", id, store.ErrConflict)
}

// settle writes a task's new state (from status from), applying
// retention to terminal states: retainFor 0 removes it, -1 keeps it, N
// keeps it until DateModified + N. Then it reports the change.
func (h *Host) settle(ctx context.Context, next *store.Record, from shared.Status) error {
	report := h.transition(next.Type)
	var err error
	if next.Status.Terminal() {
		next.DateRetainUntil = nil
		retain := int64(0)
		if next.RetainFor != nil {
			retain = *next.RetainFor
		}
		switch {
		case retain == 0 && from == shared.StatusProcessing:
			// Only under the claim it was read at: a late finish of a
			// claim another node has superseded must not remove the task.
			err = h.st.DeleteClaimed(ctx, store.Lease{ID: next.ID, Attempt: next.Attempts})
		case retain == 0:
			err = h.st.Delete(ctx, next.ID, from)
		case retain > 0:
			until := next.DateModified.Add(time.Duration(retain) * time.Millisecond)
			next.DateRetainUntil = &until
		}
		if retain != 0 {
			err = h.st.Update(ctx, next, from)
		}
	} else {
		err = h.st.Update(ctx, next, from)
	}
	if err != nil {
		report(nil)
		return err
	}
	report(next)
	if next.Status.Terminal() && (next.RetainFor == nil || *next.RetainFor == 0) {
		h.changedRecord(ChangeRemoved, next)
		h.announceFinal(next.Task) // removed: watches on other nodes read it nowhere else
	}
	if next.Status == shared.StatusPending {
		h.wake(next.Type) // due again: at once or after its retry interval
	}
	return nil
}

// transition reserves the next place in the order of a type's
// state-change callbacks, for a transition about to be written. Call it
// before the write, so that a transition that follows it (a claim of a
// task just made pending) cannot be reported first; then call the
// returned func with the new state once it is written, or with nil if it
// was not.
func (h *Host) transition(typ string) func(*store.Record) {
	h.mu.Lock()
	hd := h.handlers[typ]
	h.mu.Unlock()
	var slot *callbackSlot
	if hd != nil {
		slot = hd.callbacks.reserve()
	}
	return func(rec *store.Record) {
		if rec == nil {
			slot.fill(nil)
			return
		}
		t := rec.Task
		slot.fill(&t)
		h.changed(ChangeUpdated, &t)
		if t.Status.Terminal() {
			h.closeWatchers(t.ID, &t)
		} else {
			h.publish(t)
		}
	}
}

// wake tells typ's dispatcher to look for work.
func (h *Host) wake(typ string) {
	h.mu.Lock()
	hd := h.handlers[typ]
	h.mu.Unlock()
	if hd != nil {
		hd.wake()
	}
}

// Start makes the host run tasks: tasks this node left processing (it
// crashed) go back to pending without using a retry, expired retained
// tasks are swept, dispatch starts for every registered handler, and the
// cleanup sweep runs every CleanupInterval.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.started || h.stopping {
		h.mu.Unlock()
		return fmt.Errorf("%w: host already started", shared.ErrInvalidState)
	}
	h.mu.Unlock()

	if err := h.recover(ctx); err != nil {
		return err
	}
	if err := h.sweep(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	h.started = true
	h.startedAt = now()
	for _, hd := range h.handlers {
		hd.start()
	}
	h.mu.Unlock()
	h.heartbeat(0)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.loops.Go(h.cleanupLoop)
	h.loops.Go(h.renewLoop)
	if ps, ok := h.st.(store.ProgressStore); ok {
		h.loops.Go(func() { h.progressLoop(ps) })
	}
	h.startFinals()
	if wn, ok := h.st.(store.WorkNotifier); ok {
		// Tasks other nodes create wake this node's dispatchers at once.
		ctx, cancel := context.WithCancel(context.Background())
		h.loops.Go(func() { <-h.stopped; cancel() })
		h.loops.Go(func() { wn.ListenWork(ctx, h.wake) })
	}
	h.log.Info("host started", "node", h.opts.NodeID, "handlers", len(h.handlers), "system_workers", h.sys.Cap())
	return nil
}

// recover puts tasks this node left processing back to pending.
func (h *Host) recover(ctx context.Context) error {
	recs, err := h.st.Processing(ctx, h.opts.NodeID)
	if err != nil {
		return fmt.Errorf("recover processing tasks: %w", err)
	}
	for _, rec := range recs {
		next := *rec
		next.Status = shared.StatusPending
		next.DateModified = now()
		next.DateNextProcess = nil
		next.LeaseOwner, next.LeaseUntil = "", time.Time{}
		if err := h.st.Update(ctx, &next, shared.StatusProcessing); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("recover task %s: %w", rec.ID, err)
		}
	}
	if len(recs) > 0 {
		h.log.Warn("tasks left processing by an earlier run are pending again", "count", len(recs))
	}
	return nil
}

// sweepBatch bounds one sweep transaction.
const sweepBatch = 1000

func (h *Host) sweep(ctx context.Context) error {
	for {
		n, err := h.st.Sweep(ctx, now(), sweepBatch)
		if err != nil {
			return fmt.Errorf("sweep retained tasks: %w", err)
		}
		if n > 0 {
			h.log.Debug("swept expired tasks", "count", n)
			h.changed(ChangeResync, nil) // which ones, the store does not say
		}
		if n < sweepBatch {
			return nil
		}
	}
}

func (h *Host) cleanupLoop() {
	t := time.NewTicker(h.opts.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stopped:
			return
		case <-t.C:
			if err := h.sweep(context.Background()); err != nil {
				h.log.Error("cleanup sweep failed", "error", err)
			}
		}
	}
}

// Stop drains the host: it claims no more tasks, and every task already
// claimed starts (its worker may still be starting) and runs until ctx is
// done; then the methods still running have their contexts cancelled,
// their workers are killed after a grace period, and those tasks, like
// any still waiting for a worker, are left to run again at the next
// Start. Every worker gets its shutdown method.
// The store stays open (its owner closes it).
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		return nil
	}
	h.stopping = true
	hds := slices.Collect(maps.Values(h.handlers))
	h.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(hds))
	for i, hd := range hds {
		wg.Go(func() { errs[i] = hd.close(ctx) })
	}
	wg.Wait()
	close(h.stopped)
	h.loops.Wait()
	if ns, ok := h.st.(store.NodeStore); ok {
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.Lease/3)
		defer cancel()
		if err := ns.RemoveNode(ctx, h.opts.NodeID); err != nil {
			h.log.Warn("removing this node from the store's nodes failed; it ages out", "error", err)
		}
	}
	h.log.Info("host stopped")
	return errors.Join(errs...)
}
