package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Renew extends the leases owner still holds, in one transaction.
func (s *Store) Renew(ctx context.Context, owner string, until time.Time, leases []store.Lease) ([]string, error) {
	var lost []string
	err := s.write(ctx, func(txn *tx) (bool, error) {
		lost = lost[:0]
		changed := false
		for _, l := range leases {
			old, err := getRecord(txn.Txn, l.ID)
			if errors.Is(err, shared.ErrNotFound) {
				lost = append(lost, l.ID)
				continue
			}
			if err != nil {
				return false, err
			}
			if !holds(old, owner, l) {
				lost = append(lost, l.ID)
				continue
			}
			next := *old
			next.LeaseUntil = until
			if err := txn.put(old, &next); err != nil {
				return false, err
			}
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	return lost, nil
}

// DeleteClaimed removes the task if it is still processing under l.
func (s *Store) DeleteClaimed(ctx context.Context, l store.Lease) error {
	err := s.change(ctx, func(txn *tx) (bool, error) {
		old, err := getRecord(txn.Txn, l.ID)
		if err != nil {
			return false, err
		}
		if old.Status != shared.StatusProcessing || old.Attempts != l.Attempt {
			return false, fmt.Errorf("task %s is %s at attempt %d, not processing at attempt %d: %w",
				l.ID, old.Status, old.Attempts, l.Attempt, store.ErrConflict)
		}
		return true, txn.remove(old)
	})
	if errors.Is(err, shared.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	return nil
}

// holds reports whether owner still holds the claim l of task r.
func holds(r *store.Record, owner string, l store.Lease) bool {
	return r.Status == shared.StatusProcessing && r.LeaseOwner == owner && r.Attempts == l.Attempt
}
