package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// A task's conditional single-task writes (Update, Delete, DeleteClaimed)
// go through store.Batches: the writes that wait together are made in one
// transaction and one group sync, instead of one each.

// Bounds of the batches: one transaction holds up to maxChangeBatch
// changes (well inside Badger's transaction size limit for small tasks;
// a batch that is too big anyway runs its changes one by one).
const (
	changeFlushers = 2
	maxChangeBatch = 64
)

// changeFn checks and makes one task's change in t and reports whether it
// wrote. A refused change (its error wraps store.ErrConflict or
// shared.ErrNotFound) must have written nothing.
type changeFn func(t *tx) (bool, error)

// change is one single-task write and when its call began.
type change struct {
	fn    changeFn
	start time.Time
}

// change runs fn in the next batch.
func (s *Store) change(ctx context.Context, fn changeFn) error {
	_, err := s.changes.Do(ctx, change{fn: fn, start: time.Now()})
	return err
}

// refused reports an error that is a change's own answer (its condition
// failed), not a failure of the transaction.
func refused(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, shared.ErrNotFound)
}

// flushChanges makes the batch's changes in one transaction: refused
// changes leave it, the rest commit together. If the transaction fails
// otherwise, each change runs again alone and gets its own result.
func (s *Store) flushChanges(batch []*store.Write[change]) {
	if len(batch) > 1 {
		wrote := make([]bool, len(batch))
		err := s.writeWith(context.Background(), true, false, nil, func(t *tx) (bool, error) {
			any := false
			for i, wr := range batch {
				w, err := wr.W.fn(t)
				if err != nil && !refused(err) {
					return false, err
				}
				wr.Err, wrote[i] = err, w
				any = any || w
			}
			return any, nil
		})
		if err == nil {
			for i, wr := range batch {
				if wrote[i] {
					s.reportCommit(wr.Ctx, wr.W.start)
				}
			}
			return
		}
	}
	for _, wr := range batch {
		wr.Err = s.write(wr.Ctx, wr.W.fn)
	}
}

// reportCommit is the report of a durable write made in a batch: ctx's
// store.Committed hook, and OnCommit with the time since the call began.
func (s *Store) reportCommit(ctx context.Context, start time.Time) {
	if fn := store.Committed(ctx); fn != nil {
		fn()
	}
	if s.onCommit != nil {
		s.onCommit(time.Since(start))
	}
}
