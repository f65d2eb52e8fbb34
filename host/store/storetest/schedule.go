package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// ScheduleStore is what host/scheduler needs of a store (its Store
// interface, repeated here so that the suite does not depend on the
// scheduler).
type ScheduleStore interface {
	SaveSchedule(ctx context.Context, sc *store.Schedule) (*store.Schedule, error)
	LoadSchedule(ctx context.Context, id string) (*store.Schedule, error)
	ClaimTrigger(ctx context.Context, id string, index int, due time.Time, next *time.Time) error
	DeleteSchedule(ctx context.Context, id string) error
}

// RunSchedules runs the conformance suite of the schedule methods. open
// returns a new, empty store for one subtest and closes it when that test
// ends.
func RunSchedules(t *testing.T, open func(t *testing.T) ScheduleStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ScheduleStore)
	}{
		{"SaveLoad", testScheduleSaveLoad},
		{"SaveKeepsSameTimes", testScheduleSaveKeepsSameTimes},
		{"SaveReplacesOtherTimes", testScheduleSaveReplacesOtherTimes},
		{"SaveInvalid", testScheduleSaveInvalid},
		{"Claim", testScheduleClaim},
		{"ClaimConcurrent", testScheduleClaimConcurrent},
		{"Delete", testScheduleDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func schedAt(v int64) *time.Time {
	t := time.UnixMilli(1_900_000_000_000 + v).UTC()
	return &t
}

func newSchedule(id string) *store.Schedule {
	return &store.Schedule{
		ID: id,
		Times: []shared.ScheduledTaskTime{
			{NextTriggerTime: schedAt(0), IntervalMinutes: 5},
			{Cron: "@every 30s"},
			{NextTriggerTime: schedAt(7)},
		},
		Triggers: []store.Trigger{{Next: schedAt(0)}, {Next: schedAt(30_000), LastRun: schedAt(-1)}, {}},
	}
}

func testScheduleSaveLoad(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	_, err := s.LoadSchedule(ctx, "a")
	require.ErrorIs(t, err, shared.ErrNotFound)
	sc := newSchedule("a")
	saved, err := s.SaveSchedule(ctx, sc)
	require.NoError(t, err)
	require.Equal(t, sc, saved)
	got, err := s.LoadSchedule(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, sc, got)
	_, err = s.LoadSchedule(ctx, "ab")
	require.ErrorIs(t, err, shared.ErrNotFound, "ids are not prefixes of each other")
}

func testScheduleSaveKeepsSameTimes(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	sc := newSchedule("a")
	_, err := s.SaveSchedule(ctx, sc)
	require.NoError(t, err)
	require.NoError(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(0), schedAt(300_000)))

	again := newSchedule("a")
	// The same trigger time at a finer precision than JSON keeps: the same.
	at := again.Times[0].NextTriggerTime.Add(300 * time.Microsecond)
	again.Times[0].NextTriggerTime = &at
	saved, err := s.SaveSchedule(ctx, again)
	require.NoError(t, err)
	want := newSchedule("a")
	want.Triggers[0] = store.Trigger{Next: schedAt(300_000), LastRun: schedAt(0)}
	require.Equal(t, want, saved, "the stored triggers are kept")
	got, err := s.LoadSchedule(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func testScheduleSaveReplacesOtherTimes(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	_, err := s.SaveSchedule(ctx, newSchedule("a"))
	require.NoError(t, err)
	require.NoError(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(0), schedAt(300_000)))

	other := &store.Schedule{ID: "a", Times: []shared.ScheduledTaskTime{{IntervalHours: 1}}, Triggers: []store.Trigger{{Next: schedAt(3_600_000)}}}
	saved, err := s.SaveSchedule(ctx, other)
	require.NoError(t, err)
	require.Equal(t, other, saved)
	got, err := s.LoadSchedule(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, other, got)
}

func testScheduleSaveInvalid(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	for _, sc := range []*store.Schedule{
		{ID: "", Times: []shared.ScheduledTaskTime{{IntervalHours: 1}}, Triggers: []store.Trigger{{}}},
		{ID: "a"},
		{ID: "a", Times: []shared.ScheduledTaskTime{{IntervalHours: 1}}},
	} {
		_, err := s.SaveSchedule(ctx, sc)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "%+v", sc)
	}
}

func testScheduleClaim(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(0), nil), shared.ErrNotFound)
	_, err := s.SaveSchedule(ctx, newSchedule("a"))
	require.NoError(t, err)

	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(1), schedAt(2)), store.ErrConflict, "not the stored next time")
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 2, *schedAt(7), nil), store.ErrConflict, "no next time at all")
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 3, *schedAt(0), nil), store.ErrConflict, "no such trigger")
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", -1, *schedAt(0), nil), store.ErrConflict, "no such trigger")

	require.NoError(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(0), schedAt(300_000)))
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(0), schedAt(300_000)), store.ErrConflict, "claimed once only")
	require.NoError(t, s.ClaimTrigger(ctx, "a", 1, *schedAt(30_000), nil), "a last firing")

	got, err := s.LoadSchedule(ctx, "a")
	require.NoError(t, err)
	want := newSchedule("a")
	want.Triggers[0] = store.Trigger{Next: schedAt(300_000), LastRun: schedAt(0)}
	want.Triggers[1] = store.Trigger{LastRun: schedAt(30_000)}
	require.Equal(t, want, got)
}

// testScheduleClaimConcurrent has many claimers race for each trigger:
// exactly one wins each.
func testScheduleClaimConcurrent(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	_, err := s.SaveSchedule(ctx, &store.Schedule{ID: "a", Times: []shared.ScheduledTaskTime{{IntervalMinutes: 1}}, Triggers: []store.Trigger{{Next: schedAt(0)}}})
	require.NoError(t, err)
	const claimers, rounds = 8, 20
	for round := range int64(rounds) {
		due, next := schedAt(round*60_000), schedAt((round+1)*60_000)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		start := make(chan struct{})
		for range claimers {
			wg.Go(func() {
				<-start
				err := s.ClaimTrigger(ctx, "a", 0, *due, next)
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Errorf("claim: %v", err)
				}
				mu.Lock()
				if err == nil {
					wins++
				}
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, 1, wins, "round %d", round)
	}
}

func testScheduleDelete(t *testing.T, s ScheduleStore) {
	ctx := t.Context()
	require.ErrorIs(t, s.DeleteSchedule(ctx, "a"), shared.ErrNotFound)
	_, err := s.SaveSchedule(ctx, newSchedule("a"))
	require.NoError(t, err)
	_, err = s.SaveSchedule(ctx, newSchedule("b"))
	require.NoError(t, err)
	require.NoError(t, s.DeleteSchedule(ctx, "a"))
	_, err = s.LoadSchedule(ctx, "a")
	require.ErrorIs(t, err, shared.ErrNotFound)
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 0, *schedAt(0), nil), shared.ErrNotFound)
	_, err = s.LoadSchedule(ctx, "b")
	require.NoError(t, err, "other schedules stay")
}
