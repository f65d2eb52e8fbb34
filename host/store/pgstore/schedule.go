package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// SaveSchedule stores sc unless a schedule of its id with the same times
// ([store.SameTimes]) is stored already, and returns what is stored then
// (as badgerstore.Store.SaveSchedule): a schedule added again at every
// start keeps its triggers, one whose rules changed starts afresh.
func (s *Store) SaveSchedule(ctx context.Context, sc *store.Schedule) (*store.Schedule, error) {
	if sc.ID == "" || !storable(sc.ID) {
		return nil, fmt.Errorf("save schedule: %w: schedule id must be non-empty UTF-8 without NUL bytes", shared.ErrInvalidArgument)
	}
	if len(sc.Times) == 0 || len(sc.Triggers) != len(sc.Times) {
		return nil, fmt.Errorf("save schedule %s: %w: want one trigger per time and at least one time", sc.ID, shared.ErrInvalidArgument)
	}
	times, err := json.Marshal(sc.Times)
	if err != nil {
		return nil, fmt.Errorf("save schedule %s: %w", sc.ID, err)
	}
	next, last := make([]*time.Time, len(sc.Triggers)), make([]*time.Time, len(sc.Triggers))
	for i, tr := range sc.Triggers {
		next[i], last[i] = tr.Next, tr.LastRun
	}
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("save schedule %s: %w", sc.ID, err)
	}
	start := time.Now()
	changed := false
	var saved *store.Schedule
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.sql.insertSchedule, sc.ID, times)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 { // stored already: locked now
			var stored []shared.ScheduledTaskTime
			if err := tx.QueryRow(ctx, s.sql.lockSchedule, sc.ID).Scan(&stored); err != nil {
				return err
			}
			if !store.SameTimes(stored, sc.Times) {
				changed = true
				for _, stmt := range []struct {
					sql  string
					args []any
				}{{s.sql.updateSchedule, []any{sc.ID, times}}, {s.sql.deleteTriggers, []any{sc.ID}}} {
					if _, err := tx.Exec(ctx, stmt.sql, stmt.args...); err != nil {
						return err
					}
				}
			}
		} else {
			changed = true
		}
		if changed {
			if _, err := tx.Exec(ctx, s.sql.insertTriggers, sc.ID, next, last); err != nil {
				return err
			}
		}
		// What is stored, not sc: times to the millisecond in the rules,
		// to the microsecond in the triggers.
		saved, err = loadSchedule(ctx, tx, s.sql, sc.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("save schedule %s: %w", sc.ID, err)
	}
	if changed {
		s.wrote(ctx, start)
	}
	return saved, nil
}

// loadSchedule reads schedule id; shared.ErrNotFound if there is none.
func loadSchedule(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, st *statements, id string) (*store.Schedule, error) {
	sc := &store.Schedule{ID: id}
	var next, last []*time.Time
	err := q.QueryRow(ctx, st.loadSchedule, id).Scan(&sc.Times, &next, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("schedule %s: %w", id, shared.ErrNotFound)
	case err != nil:
		return nil, err
	case len(next) != len(sc.Times) || len(last) != len(sc.Times):
		return nil, fmt.Errorf("schedule %s: %d times but %d triggers", id, len(sc.Times), len(next))
	}
	sc.Triggers = make([]store.Trigger, len(next))
	for i := range next {
		sc.Triggers[i] = store.Trigger{Next: utc(next[i]), LastRun: utc(last[i])}
	}
	return sc, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// LoadSchedule returns schedule id, or shared.ErrNotFound.
func (s *Store) LoadSchedule(ctx context.Context, id string) (*store.Schedule, error) {
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("load schedule: %w", err)
	}
	if !storable(id) {
		return nil, fmt.Errorf("load schedule: schedule %s: %w", id, shared.ErrNotFound)
	}
	sc, err := loadSchedule(ctx, s.pool, s.sql, id)
	if err != nil {
		return nil, fmt.Errorf("load schedule: %w", err)
	}
	return sc, nil
}

// ClaimTrigger takes the firing of rule index of schedule id that is due
// at due: a compare-and-set of the rule's next run from due to next (nil:
// never again), its last run becoming due. store.ErrConflict if another
// claimer took it first or the schedule was replaced (or has no such
// rule), shared.ErrNotFound if it is gone. Trigger times are kept to the
// microsecond.
func (s *Store) ClaimTrigger(ctx context.Context, id string, index int, due time.Time, next *time.Time) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("claim trigger: %w", err)
	}
	if !storable(id) {
		return fmt.Errorf("claim trigger: schedule %s: %w", id, shared.ErrNotFound)
	}
	start := time.Now()
	tag, err := s.pool.Exec(ctx, s.sql.claimTrigger, id, index, due, next)
	if err != nil {
		return fmt.Errorf("claim trigger: %w", err)
	}
	if tag.RowsAffected() == 1 {
		s.wrote(ctx, start)
		return nil
	}
	var schedule, rule bool
	if err := s.pool.QueryRow(ctx, s.sql.triggerState, id, index).Scan(&schedule, &rule); err != nil {
		return fmt.Errorf("claim trigger: %w", err)
	}
	switch {
	case !schedule:
		err = fmt.Errorf("schedule %s: %w", id, shared.ErrNotFound)
	case !rule:
		err = fmt.Errorf("schedule %s has no trigger %d: %w", id, index, store.ErrConflict)
	default:
		err = fmt.Errorf("schedule %s trigger %d is no longer due at %s: %w", id, index, due.Format(time.RFC3339Nano), store.ErrConflict)
	}
	return fmt.Errorf("claim trigger: %w", err)
}

// DeleteSchedule removes schedule id; shared.ErrNotFound if there is none.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("delete schedule: %w", err)
	}
	if !storable(id) {
		return fmt.Errorf("delete schedule: schedule %s: %w", id, shared.ErrNotFound)
	}
	start := time.Now()
	tag, err := s.pool.Exec(ctx, s.sql.deleteSchedule, id)
	switch {
	case err != nil:
		return fmt.Errorf("delete schedule: %w", err)
	case tag.RowsAffected() == 0:
		return fmt.Errorf("delete schedule: schedule %s: %w", id, shared.ErrNotFound)
	}
	s.wrote(ctx, start)
	return nil
}
