// Package store defines how the task engine keeps tasks: the [Store]
// interface, shaped by what the engine needs, and the types it speaks.
// Backends live in sub-packages (badgerstore); storetest is the
// conformance suite every backend must pass.
//
// A store knows nothing about processes, plugins or HTTP.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/shared"
)

// ErrConflict: the task is not in the status the caller expected (another
// writer got there first).
var ErrConflict = errors.New("task changed concurrently")

// ErrExists is what Create returns (wrapped, with shared.ErrInvalidArgument)
// for a task whose id is taken: a create made twice under one id.
var ErrExists = errors.New("exists")

// Record is a task as stored: the public task (its Attempts, how often
// it has started processing, is the fencing token of Update) plus the
// engine's bookkeeping, which the API never shows.
type Record struct {
	shared.Task
	// LeaseOwner is the node that claimed the task while it is processing.
	LeaseOwner string `json:"leaseOwner,omitempty"`
	// LeaseUntil is when the claim lapses; a shared multi-host backend lets
	// another node reclaim the task after it. Badger, single-host, records
	// it only.
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
}

// Due is when a pending task may run: DateNextProcess, or DateCreated
// when that is unset.
func (r *Record) Due() time.Time {
	if r.DateNextProcess != nil {
		return *r.DateNextProcess
	}
	return r.DateCreated
}

// SortField is what a query orders by.
type SortField string

// The sort fields of the HTTP API's sortBy parameter.
const (
	SortDateCreated   SortField = "dateCreated"
	SortDateModified  SortField = "dateModified"
	SortDateCompleted SortField = "dateCompleted"
	SortStatus        SortField = "status"
)

// Valid reports whether f is a known sort field.
func (f SortField) Valid() bool {
	switch f {
	case SortDateCreated, SortDateModified, SortDateCompleted, SortStatus:
		return true
	}
	return false
}

// Query selects a page of tasks. Zero values mean: any type, any status,
// sort by dateCreated ascending, first page, DefaultLimit tasks.
//
// Order: ties are broken by ID. SortStatus orders by life-cycle order (the
// order of shared.Statuses), then DateCreated, then ID. With
// SortDateCompleted, tasks without DateCompleted come after all others.
// Desc reverses the whole order, tie-breaks included.
type Query struct {
	Type   string
	Status shared.Status
	SortBy SortField
	Desc   bool
	// Cursor is the opaque Page.Cursor of the previous page of the same
	// query. A malformed cursor, or one from a query with another SortBy,
	// fails with an error wrapping shared.ErrInvalidArgument.
	Cursor string
	// Limit: 0 means DefaultLimit; more than MaxLimit is cut to MaxLimit;
	// negative fails with shared.ErrInvalidArgument.
	Limit int
}

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Check validates q for a backend: it returns q with SortBy defaulted and
// the number of tasks the page holds (Limit applied), or an error wrapping
// shared.ErrInvalidArgument for an unknown sort or status or a negative
// limit. The cursor is the backend's to check.
func (q Query) Check() (Query, int, error) {
	if q.SortBy == "" {
		q.SortBy = SortDateCreated
	}
	switch {
	case !q.SortBy.Valid():
		return q, 0, fmt.Errorf("%w: sort %q", shared.ErrInvalidArgument, q.SortBy)
	case q.Status != "" && !q.Status.Valid():
		return q, 0, fmt.Errorf("%w: status %q", shared.ErrInvalidArgument, q.Status)
	case q.Limit < 0:
		return q, 0, fmt.Errorf("%w: negative limit", shared.ErrInvalidArgument)
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	return q, min(limit, MaxLimit), nil
}

// CheckNew is the check of Store.Create's batch, for backends: check (the
// backend's validation of one record) passes each task and no ID comes
// twice; otherwise an error wrapping shared.ErrInvalidArgument, if check's
// does.
func CheckNew(tasks []*Record, check func(r *Record) error) error {
	seen := make(map[string]struct{}, len(tasks))
	for _, r := range tasks {
		if err := check(r); err != nil {
			return err
		}
		if _, dup := seen[r.ID]; dup {
			return fmt.Errorf("%w: task %s twice", shared.ErrInvalidArgument, r.ID)
		}
		seen[r.ID] = struct{}{}
	}
	return nil
}

// SweepBatches is Store.Sweep's loop, for backends: it calls sweep for
// batches of at most batch tasks until limit tasks are removed or a batch
// removes fewer than it was asked to, and returns how many were removed.
// A limit below 1 fails with shared.ErrInvalidArgument.
func SweepBatches(limit, batch int, sweep func(n int) (int, error)) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: limit must be positive", shared.ErrInvalidArgument)
	}
	removed := 0
	for removed < limit {
		n := min(limit-removed, batch)
		got, err := sweep(n)
		removed += got
		if err != nil || got < n {
			return removed, err
		}
	}
	return removed, nil
}

// Page is one page of a query. Cursor is empty on the last page.
type Page struct {
	Tasks  []*Record
	Cursor string
}

// Store keeps tasks durably. Every method is safe for concurrent use.
// A method that changes tasks has made the change durable (synced to
// disk) before it returns nil.
type Store interface {
	// Create stores new tasks, all or none. Their IDs must be new: an ID
	// already stored or repeated in the batch fails the whole batch with
	// an error wrapping shared.ErrInvalidArgument, as does an invalid task
	// (no ID, no type, unknown status). A backend may also refuse an ID,
	// type, thread ID or lease owner that is not UTF-8 or holds a NUL
	// byte (PostgreSQL's text cannot); the host's names never are. Raw
	// JSON and the other strings may hold anything JSON can.
	Create(ctx context.Context, tasks ...*Record) error
	// Get returns the task, or shared.ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// Claim atomically takes up to limit pending tasks of type typ that
	// are due at or before now, earliest due first (Due, then DateCreated,
	// then ID): in the same transaction each becomes processing, with
	// Attempts incremented, DateModified = now and the lease set. It
	// returns none when no task of that type is due; a limit below 1 fails
	// with shared.ErrInvalidArgument, and a backend may take fewer than
	// limit tasks even when more are due. Unlike the other writes, a claim
	// need not be durable when Claim returns: one lost in a crash leaves
	// the tasks pending, which is what recovery makes of a task interrupted
	// while processing anyway.
	Claim(ctx context.Context, typ string, now time.Time, owner string, leaseUntil time.Time, limit int) ([]*Record, error)
	// NextDue returns when the earliest pending task of type typ is due;
	// ok is false when the type has no pending task.
	NextDue(ctx context.Context, typ string) (due time.Time, ok bool, err error)
	// Update replaces the stored task with rec (same ID) if the stored
	// status is from; otherwise it returns ErrConflict, or
	// shared.ErrNotFound when the task is gone.
	//
	// Fencing: with from == shared.StatusProcessing the stored Attempts
	// must also equal rec.Attempts. Every claim increments Attempts, so
	// once a task has been claimed again (its lease lapsed and another
	// node took it, or it went back to pending and was re-claimed), the
	// write of the earlier claimant fails with ErrConflict and changes
	// nothing. [CheckUpdate] is the rule.
	Update(ctx context.Context, rec *Record, from shared.Status) error
	// Delete removes the task if its status is one of from (any status when
	// from is empty); ErrConflict if not, shared.ErrNotFound if absent.
	Delete(ctx context.Context, id string, from ...shared.Status) error
	// Query returns one page of tasks, read from an index (never a scan of
	// every task). The cursor stays valid while tasks are added and changed:
	// a task that stays put is neither repeated nor skipped (one that moves
	// may show at its old place, its new one, both or neither). An unknown
	// SortBy or Status fails with shared.ErrInvalidArgument.
	Query(ctx context.Context, q Query) (Page, error)
	// Processing returns the tasks in processing claimed by owner.
	Processing(ctx context.Context, owner string) ([]*Record, error)
	// Sweep removes terminal tasks whose DateRetainUntil is strictly before
	// now, at most limit of them (limit must be positive), and returns how
	// many it removed. Pending and processing tasks are never swept.
	Sweep(ctx context.Context, now time.Time, limit int) (int, error)
	// Renew extends to until the leases that owner still holds: those of
	// tasks still processing under the claim the Lease names. It returns
	// the ids of the others, which owner has lost (the task was reclaimed,
	// cancelled elsewhere, removed), in no particular order.
	Renew(ctx context.Context, owner string, until time.Time, leases []Lease) (lost []string, err error)
	// DeleteClaimed removes a task that is still processing under the
	// claim l names: ErrConflict if it is not (a late finish of a claim
	// another has superseded), shared.ErrNotFound if it is gone.
	DeleteClaimed(ctx context.Context, l Lease) error
	// Close releases the store.
	Close() error
}

// Lease names one claim of a task: a claim increments the task's
// Attempts, so the attempt it set is a fencing token, which a later claim
// of the same task (by another node, once the lease lapsed) supersedes.
type Lease struct {
	ID      string
	Attempt int
}

// CheckUpdate is the condition of Store.Update, for backends: nil if rec
// may replace the stored task (stored status and attempts as given) when
// the caller expects status from; otherwise an error wrapping ErrConflict
// that says why.
func CheckUpdate(id string, status shared.Status, attempts int, rec *Record, from shared.Status) error {
	switch {
	case status != from:
		return fmt.Errorf("task %s is %s, not %s: %w", id, status, from, ErrConflict)
	case from == shared.StatusProcessing && attempts != rec.Attempts:
		return fmt.Errorf("task %s is processing attempt %d, not %d: %w", id, attempts, rec.Attempts, ErrConflict)
	}
	return nil
}
