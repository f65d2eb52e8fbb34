package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Schedules are few and change once per firing, so their values are
// JSON, versioned; trigger times are unix nanoseconds, so that what a
// claim compares is exactly what was stored.
//
//	{"v":1,"times":[<shared.ScheduledTaskTime>...],"triggers":[{"next":ns,"lastRun":ns}...]}
const scheduleVersion = 1

type scheduleValue struct {
	V        int                        `json:"v"`
	Times    []shared.ScheduledTaskTime `json:"times"`
	Triggers []triggerValue             `json:"triggers"`
}

type triggerValue struct {
	Next    *int64 `json:"next,omitempty"`
	LastRun *int64 `json:"lastRun,omitempty"`
}

func scheduleKey(id string) []byte {
	return append([]byte{prefixSchedule}, id...)
}

func encodeSchedule(sc *store.Schedule) ([]byte, error) {
	v := scheduleValue{V: scheduleVersion, Times: sc.Times, Triggers: make([]triggerValue, len(sc.Triggers))}
	for i, tr := range sc.Triggers {
		v.Triggers[i] = triggerValue{Next: unixNano(tr.Next), LastRun: unixNano(tr.LastRun)}
	}
	return json.Marshal(v)
}

func decodeSchedule(id string, b []byte) (*store.Schedule, error) {
	var v scheduleValue
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("schedule %s: %w: %v", id, errBadRecord, err)
	}
	if v.V != scheduleVersion || len(v.Triggers) != len(v.Times) {
		return nil, fmt.Errorf("schedule %s: %w: version %d, %d times, %d triggers", id, errBadRecord, v.V, len(v.Times), len(v.Triggers))
	}
	sc := &store.Schedule{ID: id, Times: v.Times, Triggers: make([]store.Trigger, len(v.Triggers))}
	for i, tr := range v.Triggers {
		sc.Triggers[i] = store.Trigger{Next: fromUnixNano(tr.Next), LastRun: fromUnixNano(tr.LastRun)}
	}
	return sc, nil
}

func unixNano(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ns := t.UnixNano()
	return &ns
}

func fromUnixNano(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := time.Unix(0, *ns).UTC()
	return &t
}

// getSchedule reads schedule id; shared.ErrNotFound if there is none.
func getSchedule(txn *badger.Txn, id string) (*store.Schedule, error) {
	item, err := txn.Get(scheduleKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("schedule %s: %w", id, shared.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var sc *store.Schedule
	err = item.Value(func(v []byte) error {
		var err error
		sc, err = decodeSchedule(id, v)
		return err
	})
	return sc, err
}

func validateScheduleID(id string) error {
	if id == "" || len(id) > MaxStringLen {
		return fmt.Errorf("%w: schedule id must have 1 to %d bytes", shared.ErrInvalidArgument, MaxStringLen)
	}
	return nil
}

// SaveSchedule stores sc unless a schedule of its id with the same times
// ([store.SameTimes]) is stored already, and returns what is stored then:
// sc, or the stored schedule with its triggers as they stand. So a
// schedule added again at every start keeps its next trigger and last
// run, and one whose rules changed starts afresh. It is durable when it
// returns.
func (s *Store) SaveSchedule(ctx context.Context, sc *store.Schedule) (*store.Schedule, error) {
	if err := validateScheduleID(sc.ID); err != nil {
		return nil, fmt.Errorf("save schedule: %w", err)
	}
	if len(sc.Times) == 0 || len(sc.Triggers) != len(sc.Times) {
		return nil, fmt.Errorf("save schedule %s: %w: want one trigger per time and at least one time", sc.ID, shared.ErrInvalidArgument)
	}
	val, err := encodeSchedule(sc)
	if err != nil {
		return nil, fmt.Errorf("save schedule %s: %w", sc.ID, err)
	}
	var saved *store.Schedule
	err = s.write(ctx, func(txn *tx) (bool, error) {
		old, err := getSchedule(txn.Txn, sc.ID)
		switch {
		case err == nil && store.SameTimes(old.Times, sc.Times):
			saved = old
			return false, nil
		case err != nil && !errors.Is(err, shared.ErrNotFound):
			return false, err
		}
		// What is stored, not sc: its times are kept to the millisecond.
		if saved, err = decodeSchedule(sc.ID, val); err != nil {
			return false, err
		}
		return true, txn.Set(scheduleKey(sc.ID), val)
	})
	if err != nil {
		return nil, fmt.Errorf("save schedule %s: %w", sc.ID, err)
	}
	return saved, nil
}

// LoadSchedule returns schedule id, or shared.ErrNotFound.
func (s *Store) LoadSchedule(ctx context.Context, id string) (*store.Schedule, error) {
	var sc *store.Schedule
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		sc, err = getSchedule(txn, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load schedule: %w", err)
	}
	return sc, nil
}

// ClaimTrigger takes the firing of rule index of schedule id that is due
// at due: if that trigger's stored Next is still due, in one transaction
// it becomes next (nil: never again) and its LastRun becomes due.
// Otherwise another claimer took it first, or the schedule was replaced,
// and it fails with store.ErrConflict; shared.ErrNotFound if the schedule
// is gone. It is durable when it returns, so a firing claimed before its
// callback runs never runs twice.
func (s *Store) ClaimTrigger(ctx context.Context, id string, index int, due time.Time, next *time.Time) error {
	err := s.write(ctx, func(txn *tx) (bool, error) {
		sc, err := getSchedule(txn.Txn, id)
		if err != nil {
			return false, err
		}
		if index < 0 || index >= len(sc.Triggers) {
			return false, fmt.Errorf("schedule %s has no trigger %d: %w", id, index, store.ErrConflict)
		}
		tr := &sc.Triggers[index]
		if tr.Next == nil || !tr.Next.Equal(due) {
			return false, fmt.Errorf("schedule %s trigger %d is no longer due at %s: %w", id, index, due.Format(time.RFC3339Nano), store.ErrConflict)
		}
		d := due
		tr.Next, tr.LastRun = next, &d
		val, err := encodeSchedule(sc)
		if err != nil {
			return false, err
		}
		return true, txn.Set(scheduleKey(id), val)
	})
	if err != nil {
		return fmt.Errorf("claim trigger: %w", err)
	}
	return nil
}

// DeleteSchedule removes schedule id; shared.ErrNotFound if there is none.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	err := s.write(ctx, func(txn *tx) (bool, error) {
		if _, err := txn.Get(scheduleKey(id)); err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return false, fmt.Errorf("schedule %s: %w", id, shared.ErrNotFound)
			}
			return false, err
		}
		return true, txn.Delete(scheduleKey(id))
	})
	if err != nil {
		return fmt.Errorf("delete schedule: %w", err)
	}
	return nil
}
