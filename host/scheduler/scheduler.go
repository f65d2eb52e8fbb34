package scheduler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Callback is what a schedule runs each time it fires. [FiringFrom] its
// context tells which trigger it is.
type Callback func(ctx context.Context) error

// Store keeps schedules durably; *badgerstore.Store is one. Every method
// that changes something has made it durable when it returns nil.
type Store interface {
	// SaveSchedule stores sc unless a schedule of its id with the same
	// times (store.SameTimes) is stored already, and returns what is
	// stored then.
	SaveSchedule(ctx context.Context, sc *store.Schedule) (*store.Schedule, error)
	// LoadSchedule returns the schedule, or shared.ErrNotFound.
	LoadSchedule(ctx context.Context, id string) (*store.Schedule, error)
	// ClaimTrigger moves trigger index of schedule id from due to next
	// (nil: never again) and sets its last run to due, in one
	// transaction; store.ErrConflict if its stored next time is not due,
	// shared.ErrNotFound if the schedule is gone.
	ClaimTrigger(ctx context.Context, id string, index int, due time.Time, next *time.Time) error
	// DeleteSchedule removes the schedule, or fails with
	// shared.ErrNotFound.
	DeleteSchedule(ctx context.Context, id string) error
}

// Options configure [New]. The zero value works.
type Options struct {
	// Logger receives the scheduler's logs, callback failures included;
	// nil discards them.
	Logger hclog.Logger
	// Now is the clock; nil means time.Now. Times are kept in UTC to the
	// millisecond, the precision of their JSON.
	Now func() time.Time
}

// Info is what [Scheduler.TasksInfo] returns: the rules of each schedule
// with their next trigger and last run.
type Info = shared.ScheduledTasksInfo

// Firing is one firing of a schedule, as its callback sees it.
type Firing struct {
	// ID is the schedule's id.
	ID string
	// Index is the rule's place in the times given to AddTask.
	Index int
	// TriggerTime is when the trigger was due: the planned time, also
	// when it fires late (a catch-up).
	TriggerTime time.Time
}

type firingKey struct{}

// FiringFrom returns the firing a callback's context carries.
func FiringFrom(ctx context.Context) (Firing, bool) {
	f, ok := ctx.Value(firingKey{}).(Firing)
	return f, ok
}

// WithFiring returns ctx carrying f, as a callback's context does: for
// running a callback outside a scheduler (a test of it, say).
func WithFiring(ctx context.Context, f Firing) context.Context {
	return context.WithValue(ctx, firingKey{}, f)
}

// claimRetryDelay is how long a schedule waits after the store failed to
// claim or reload its trigger.
const claimRetryDelay = time.Second

// maxWait bounds the timer: trigger times are wall-clock times and the
// timer runs on the monotonic clock, so after the wall clock jumps ahead
// the loop looks again within maxWait. Nothing fires on this beat that
// is not due.
const maxWait = time.Minute

// maxIDLen bounds schedule ids, in bytes (the store's key limit).
const maxIDLen = 255

// Scheduler runs callbacks on persisted schedules. Make one with [New],
// add schedules, [Scheduler.Start] it. It is safe for concurrent use.
type Scheduler struct {
	st  Store
	log hclog.Logger
	now func() time.Time

	mu        sync.Mutex
	schedules map[string]*schedule
	// busy holds the ids whose callback is running here; it outlives a
	// schedule replaced meanwhile, so runs of one id never overlap.
	busy    map[string]bool
	started bool
	stopped bool

	wake     chan struct{} // buffered 1: the loop looks again
	quit     chan struct{} // closed by Stop
	loopDone chan struct{}
	runs     sync.WaitGroup
	// runCtx is the callbacks' context, cancelled when Stop gives up.
	runCtx     context.Context
	cancelRuns context.CancelFunc
}

// schedule is one schedule as this scheduler knows it. id, times, rules
// and cb never change; next, last and retryAt change under Scheduler.mu.
type schedule struct {
	id    string
	times []shared.ScheduledTaskTime
	rules []rule
	cb    Callback
	// idempotent: cb runs before its trigger is claimed (Idempotent).
	idempotent bool
	// next and last mirror the stored triggers.
	next []*time.Time
	last []*time.Time
	// retryAt: after a store failure, nothing fires before it.
	retryAt time.Time
}

// New returns a scheduler over st.
func New(st Store, opts Options) (*Scheduler, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: no store", shared.ErrInvalidArgument)
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	clock := opts.Now
	if clock == nil {
		clock = time.Now
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		st:         st,
		log:        log.Named("scheduler"),
		now:        func() time.Time { return clock().UTC().Truncate(time.Millisecond) },
		schedules:  make(map[string]*schedule),
		busy:       make(map[string]bool),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		loopDone:   make(chan struct{}),
		runCtx:     runCtx,
		cancelRuns: cancel,
	}, nil
}

// ValidateID checks a schedule id as AddTask does: 1 to 255 bytes of
// UTF-8 without control characters, so that it fits a store key and a
// table row. The error wraps shared.ErrInvalidArgument.
func ValidateID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: schedule id must have 1 to %d bytes", shared.ErrInvalidArgument, maxIDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: schedule id %q is not UTF-8", shared.ErrInvalidArgument, id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: schedule id %q has a control character", shared.ErrInvalidArgument, id)
		}
	}
	return nil
}

// AddTask adds the schedule id with its trigger rules and callback, or
// replaces the one of that id, and stores it. If the store holds the
// schedule with the same rules (from an earlier run, or another
// scheduler), its next triggers and last runs are kept; a trigger already
// past fires once as soon as the scheduler runs. Otherwise each rule
// starts afresh: at its NextTriggerTime, or now + its intervals, or its
// first cron time after now.
//
// A rule with both cron and intervals, a bad cron expression, negative
// intervals or no trigger at all (no NextTriggerTime, interval or cron)
// fails with shared.ErrInvalidArgument, as do an empty id, no times and a
// nil callback.
func (s *Scheduler) AddTask(ctx context.Context, id string, times []shared.ScheduledTaskTime, cb Callback, opts ...TaskOption) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if cb == nil {
		return fmt.Errorf("%w: schedule %s: no callback", shared.ErrInvalidArgument, id)
	}
	if len(times) == 0 {
		return fmt.Errorf("%w: schedule %s: no times", shared.ErrInvalidArgument, id)
	}
	now := s.now()
	sc := &schedule{id: id, cb: cb}
	for _, o := range opts {
		o(sc)
	}
	fresh := &store.Schedule{ID: id}
	for i, t := range times {
		r, err := parseRule(t, now)
		if err != nil {
			return fmt.Errorf("schedule %s: time %d: %w", id, i, err)
		}
		if t.NextTriggerTime != nil {
			at := t.NextTriggerTime.UTC().Truncate(time.Millisecond)
			t.NextTriggerTime = &at
		}
		sc.times = append(sc.times, t)
		sc.rules = append(sc.rules, r)
		fresh.Times = append(fresh.Times, t)
		fresh.Triggers = append(fresh.Triggers, store.Trigger{Next: r.first(t, now)})
	}
	if err := s.open(); err != nil {
		return err
	}
	stored, err := s.st.SaveSchedule(ctx, fresh)
	if err != nil {
		return fmt.Errorf("add schedule %s: %w", id, err)
	}
	sc.mirror(stored.Triggers)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("add schedule %s: scheduler %w", id, shared.ErrClosed)
	}
	s.schedules[id] = sc
	s.poke()
	s.log.Debug("schedule added", "schedule", id)
	return nil
}

// open fails once the scheduler is stopped.
func (s *Scheduler) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("scheduler %w", shared.ErrClosed)
	}
	return nil
}

// mirror copies stored triggers into sc; sc is not shared yet, or
// Scheduler.mu is held.
func (sc *schedule) mirror(trs []store.Trigger) {
	sc.next = make([]*time.Time, len(trs))
	sc.last = make([]*time.Time, len(trs))
	for i, tr := range trs {
		sc.next[i], sc.last[i] = tr.Next, tr.LastRun
	}
}

// RemoveTask removes the schedule id from the scheduler and the store. A
// run in progress goes on. It fails with shared.ErrNotFound if neither
// has it.
func (s *Scheduler) RemoveTask(ctx context.Context, id string) error {
	s.mu.Lock()
	_, known := s.schedules[id]
	s.mu.Unlock()
	err := s.st.DeleteSchedule(ctx, id)
	if err != nil && (!known || !errors.Is(err, shared.ErrNotFound)) {
		return fmt.Errorf("remove schedule %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.schedules, id)
	s.mu.Unlock()
	s.poke()
	return nil
}

// TasksInfo returns the schedules added to this scheduler with, for each
// rule, its next trigger (absent when it never fires again) and last run,
// as stored: what every scheduler on the store agrees on.
func (s *Scheduler) TasksInfo(ctx context.Context) (Info, error) {
	type snapshot struct {
		times      []shared.ScheduledTaskTime
		next, last []*time.Time
	}
	s.mu.Lock()
	snaps := make(map[string]snapshot, len(s.schedules))
	for id, sc := range s.schedules {
		snaps[id] = snapshot{sc.times, slices.Clone(sc.next), slices.Clone(sc.last)}
	}
	s.mu.Unlock()

	info := Info{Tasks: make(map[string][]shared.ScheduledTaskTimeInfo, len(snaps))}
	for _, id := range slices.Sorted(maps.Keys(snaps)) {
		snap := snaps[id]
		stored, err := s.st.LoadSchedule(ctx, id)
		switch {
		case err == nil:
			snap.times = stored.Times
			snap.next, snap.last = make([]*time.Time, len(stored.Triggers)), make([]*time.Time, len(stored.Triggers))
			for i, tr := range stored.Triggers {
				snap.next[i], snap.last[i] = tr.Next, tr.LastRun
			}
		case errors.Is(err, shared.ErrNotFound):
			// Removed through another scheduler a moment ago.
		default:
			return Info{}, fmt.Errorf("schedules: %w", err)
		}
		out := make([]shared.ScheduledTaskTimeInfo, len(snap.times))
		for i, t := range snap.times {
			t.NextTriggerTime = snap.next[i]
			out[i] = shared.ScheduledTaskTimeInfo{ScheduledTaskTime: t, LastRunTime: snap.last[i]}
		}
		info.Tasks[id] = out
	}
	return info, nil
}

// Start makes the scheduler fire. Triggers that passed while it was not
// running fire once, at once.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return fmt.Errorf("%w: scheduler already started or stopped", shared.ErrInvalidState)
	}
	s.started = true
	go s.loop()
	s.log.Info("scheduler started", "schedules", len(s.schedules))
	return nil
}

// Stop stops firing and waits for running callbacks until ctx is done;
// then it cancels their context and returns ctx.Err() without waiting
// more. A stopped scheduler cannot start again; its schedules stay in the
// store.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	if started {
		close(s.quit)
		<-s.loopDone
	}
	done := make(chan struct{})
	go func() {
		s.runs.Wait()
		close(done)
	}()
	defer s.cancelRuns()
	select {
	case <-done:
		s.log.Info("scheduler stopped")
		return nil
	case <-ctx.Done():
		s.log.Warn("scheduler stopped with callbacks still running", "error", ctx.Err())
		return fmt.Errorf("stop scheduler: callbacks still running: %w", ctx.Err())
	}
}

// poke makes the loop look again.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop fires what is due and sleeps until the earliest next trigger, or
// until poked.
func (s *Scheduler) loop() {
	defer close(s.loopDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		wait, ok := s.fireDue()
		if !ok {
			wait = maxWait
		}
		timer.Reset(min(wait, maxWait))
		select {
		case <-s.quit:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// fireDue starts a firing of every schedule that is not running and has
// a trigger due, and returns how long until the earliest trigger that is
// not due yet (ok false when there is none).
func (s *Scheduler) fireDue() (wait time.Duration, ok bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var earliest time.Time
	for _, sc := range s.schedules {
		if s.busy[sc.id] {
			continue // the run's end pokes the loop
		}
		i := sc.earliestIndexLocked()
		if i < 0 {
			continue
		}
		due := *sc.next[i]
		at := due
		if sc.retryAt.After(at) {
			at = sc.retryAt
		}
		if !at.After(now) {
			s.busy[sc.id] = true
			s.runs.Add(1)
			go s.fire(sc, i, due)
			continue
		}
		if !ok || at.Before(earliest) {
			earliest, ok = at, true
		}
	}
	return earliest.Sub(now), ok
}

// earliestIndexLocked is the index of sc's earliest next trigger, -1 if
// it has none.
func (sc *schedule) earliestIndexLocked() int {
	best := -1
	for i, n := range sc.next {
		if n != nil && (best < 0 || n.Before(*sc.next[best])) {
			best = i
		}
	}
	return best
}

// fire claims the trigger i of sc due at due and, if this scheduler got
// it, runs the callback.
func (s *Scheduler) fire(sc *schedule, i int, due time.Time) {
	defer s.runs.Done()
	defer func() {
		s.mu.Lock()
		delete(s.busy, sc.id)
		s.mu.Unlock()
		s.poke()
	}()
	ctx := s.runCtx
	now := s.now()
	next := sc.rules[i].after(due, now)
	f := Firing{ID: sc.id, Index: i, TriggerTime: due}
	if sc.idempotent {
		// Before the claim: a crash between the two runs it again, which
		// it allows, instead of losing the firing.
		s.run(ctx, sc, f)
	}
	err := s.st.ClaimTrigger(ctx, sc.id, i, due, next)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrConflict) || errors.Is(err, shared.ErrNotFound):
		s.log.Debug("trigger taken by another scheduler or schedule changed", "schedule", sc.id, "trigger_time", due, "error", err)
		s.reload(ctx, sc)
		return
	default:
		s.log.Error("claim trigger failed; trying again", "schedule", sc.id, "trigger_time", due, "error", err)
		s.backOff(sc, now)
		return
	}
	s.mu.Lock()
	sc.next[i], sc.last[i] = next, &due
	s.mu.Unlock()
	if late := now.Sub(due); late >= time.Second {
		s.log.Info("trigger fires late, once (catch-up)", "schedule", sc.id, "trigger_time", due, "late", late, "next", logTime(next))
	}
	if !sc.idempotent {
		s.run(ctx, sc, f)
	}
}

// TaskOption changes how AddTask runs a schedule's callback.
type TaskOption func(*schedule)

// Idempotent says the callback may run more than once for one trigger
// with the same effect (it creates a task under an id the Firing
// determines, say: host.Host.TaskCallback does). Such a callback runs
// before its trigger is claimed, not after: a crash between the two runs
// it again at the next start instead of losing the firing, and schedulers
// on several nodes that fire the same trigger make one effect. Other
// callbacks run at most once per trigger.
func Idempotent() TaskOption {
	return func(sc *schedule) { sc.idempotent = true }
}

func (s *Scheduler) backOff(sc *schedule, now time.Time) {
	s.mu.Lock()
	sc.retryAt = now.Add(claimRetryDelay)
	s.mu.Unlock()
}

// reload reads sc's stored state after a claim found it moved: another
// scheduler fired it, replaced its rules (adopted here, with sc's
// callback) or removed it (removed here too).
func (s *Scheduler) reload(ctx context.Context, sc *schedule) {
	stored, err := s.st.LoadSchedule(ctx, sc.id)
	if errors.Is(err, shared.ErrNotFound) {
		s.mu.Lock()
		if s.schedules[sc.id] == sc {
			delete(s.schedules, sc.id)
			s.log.Warn("schedule removed from the store by another scheduler: dropped", "schedule", sc.id)
		}
		s.mu.Unlock()
		return
	}
	if err != nil {
		s.log.Error("reload schedule failed; trying again", "schedule", sc.id, "error", err)
		s.backOff(sc, s.now())
		return
	}
	if store.SameTimes(stored.Times, sc.times) {
		s.mu.Lock()
		sc.mirror(stored.Triggers)
		s.mu.Unlock()
		return
	}
	adopted := &schedule{id: sc.id, cb: sc.cb, idempotent: sc.idempotent, times: stored.Times}
	for i, t := range stored.Times {
		r, err := parseRule(t, s.now())
		if err != nil {
			s.log.Error("stored schedule has a bad rule; trying again", "schedule", sc.id, "time", i, "error", err)
			s.backOff(sc, s.now())
			return
		}
		adopted.rules = append(adopted.rules, r)
	}
	adopted.mirror(stored.Triggers)
	s.mu.Lock()
	if s.schedules[sc.id] == sc {
		s.schedules[sc.id] = adopted
		s.log.Warn("schedule rules changed by another scheduler: adopted", "schedule", sc.id)
	}
	s.mu.Unlock()
}

// run calls the callback; an error or panic is logged and ends nothing.
func (s *Scheduler) run(ctx context.Context, sc *schedule, f Firing) {
	log := s.log.With("schedule", f.ID, "trigger_time", f.TriggerTime)
	defer func() {
		if v := recover(); v != nil {
			log.Error("schedule callback panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	log.Debug("schedule fires")
	if err := sc.cb(WithFiring(ctx, f)); err != nil {
		log.Error("schedule callback failed", "error", err)
	}
}

// logTime shows an optional time in logs.
func logTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.Format(time.RFC3339Nano)
}
