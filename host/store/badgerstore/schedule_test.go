package badgerstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/storetest"
	"github.com/taskhost/taskhost/shared"
)

var _ scheduler.Store = (*Store)(nil)

func TestScheduleConformance(t *testing.T) {
	t.Parallel()
	storetest.RunSchedules(t, func(t *testing.T) storetest.ScheduleStore {
		s, _ := setup(t)
		return s
	})
}

// TestScheduleReopen checks that schedules are durable and live beside
// tasks without disturbing them.
func TestScheduleReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, testOptions(t))
	require.NoError(t, err)
	ctx := t.Context()
	at := time.UnixMilli(1_900_000_000_000).UTC()
	next := at.Add(time.Minute)
	sc := &store.Schedule{ID: "nightly", Times: []shared.ScheduledTaskTime{{NextTriggerTime: &at, IntervalMinutes: 1}}, Triggers: []store.Trigger{{Next: &at}}}
	_, err = s.SaveSchedule(ctx, sc)
	require.NoError(t, err)
	require.NoError(t, s.ClaimTrigger(ctx, "nightly", 0, at, &next))
	rec := fullRecord()
	require.NoError(t, s.Create(ctx, rec))
	require.NoError(t, s.Close())

	s, err = Open(dir, testOptions(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	got, err := s.LoadSchedule(ctx, "nightly")
	require.NoError(t, err)
	sc.Triggers[0] = store.Trigger{Next: &next, LastRun: &at}
	require.Equal(t, sc, got)
	page, err := s.Query(ctx, store.Query{})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 1, "a schedule is not a task")
	require.Equal(t, rec.ID, page.Tasks[0].ID)
	_, err = s.LoadSchedule(ctx, rec.ID)
	require.ErrorIs(t, err, shared.ErrNotFound, "a task is not a schedule")
}

func TestScheduleLongID(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	long := make([]byte, MaxStringLen+1)
	for i := range long {
		long[i] = 'a'
	}
	_, err := s.SaveSchedule(t.Context(), &store.Schedule{ID: string(long), Times: []shared.ScheduledTaskTime{{IntervalHours: 1}}, Triggers: []store.Trigger{{}}})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
}

func TestScheduleClosedStore(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.InMemory = true
	s, err := Open("", opts)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	ctx := t.Context()
	_, err = s.SaveSchedule(ctx, &store.Schedule{ID: "a", Times: []shared.ScheduledTaskTime{{IntervalHours: 1}}, Triggers: []store.Trigger{{}}})
	require.ErrorIs(t, err, shared.ErrClosed)
	_, err = s.LoadSchedule(ctx, "a")
	require.ErrorIs(t, err, shared.ErrClosed)
	require.ErrorIs(t, s.ClaimTrigger(ctx, "a", 0, time.Now(), nil), shared.ErrClosed)
	require.ErrorIs(t, s.DeleteSchedule(ctx, "a"), shared.ErrClosed)
}
