package badgerstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

func TestCounts(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_900_000_000_000).UTC()

	// Types that share prefixes and sort around each other, so that a
	// count of one never reaches into the next.
	want := map[string]map[shared.Status]int{
		"a":      {shared.StatusPending: 3, shared.StatusProcessing: 1, shared.StatusSuccess: 2},
		"ab":     {shared.StatusPending: 1, shared.StatusFailed: 1},
		"a\xff":  {shared.StatusCancelled: 2},
		"\xff":   {shared.StatusPending: 2},
		"b":      {shared.StatusProcessing: 1},
		"done-x": {shared.StatusSuccess: 4},
	}
	var recs []*store.Record
	for typ, byStatus := range want {
		for status, n := range byStatus {
			for i := range n {
				r := benchRecord(fmt.Sprintf("%x-%s-%d", typ, status, i), typ, t0.Add(time.Duration(i)*time.Millisecond))
				r.Status = status
				recs = append(recs, r)
			}
		}
	}
	require.NoError(t, s.Create(ctx, recs...))

	full := func(byStatus map[shared.Status]int, statuses ...shared.Status) map[shared.Status]int {
		out := make(map[shared.Status]int)
		for _, st := range statuses {
			out[st] = byStatus[st]
		}
		return out
	}
	all := shared.Statuses()
	got, err := s.Counts(ctx)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for typ, byStatus := range want {
		require.Equal(t, full(byStatus, all...), got[typ], "type %q", typ)
	}

	// Only the queue: every type is listed, terminal tasks are not read.
	queue := []shared.Status{shared.StatusPending, shared.StatusProcessing}
	got, err = s.Counts(ctx, queue...)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for typ, byStatus := range want {
		require.Equal(t, full(byStatus, queue...), got[typ], "type %q", typ)
	}

	// A change of status moves the task between counts; a removal drops
	// a type that has no task left.
	claimed, err := s.Claim(ctx, "a", t0.Add(time.Hour), "main", t0.Add(2*time.Hour), 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, s.Delete(ctx, fmt.Sprintf("%x-%s-%d", "b", shared.StatusProcessing, 0)))
	got, err = s.Counts(ctx, queue...)
	require.NoError(t, err)
	require.Equal(t, map[shared.Status]int{shared.StatusPending: 2, shared.StatusProcessing: 2}, got["a"])
	require.NotContains(t, got, "b")

	_, err = s.Counts(ctx, "bogus")
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Counts(cancelled)
	require.ErrorIs(t, err, context.Canceled)
}

func TestCountsEmpty(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	got, err := s.Counts(context.Background(), shared.StatusPending)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestCommitHooks checks that OnSync accounts for every durable commit
// exactly once and OnCommit is told of each, under concurrent writers.
func TestCommitHooks(t *testing.T) {
	t.Parallel()
	var (
		syncs, synced, commits atomic.Int64
		badDuration            atomic.Bool
	)
	opts := testOptions(t)
	opts.OnSync = func(n int, d time.Duration) {
		syncs.Add(1)
		synced.Add(int64(n))
		if n < 1 || d < 0 {
			badDuration.Store(true)
		}
	}
	opts.OnCommit = func(d time.Duration) {
		commits.Add(1)
		if d <= 0 {
			badDuration.Store(true)
		}
	}
	s, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	// Opening a new store writes its format version: one durable commit.
	require.Equal(t, int64(1), synced.Load())
	require.Equal(t, int64(1), commits.Load())

	const writers, each = 16, 20
	ctx := context.Background()
	t0 := time.UnixMilli(1_900_000_000_000).UTC()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Create(ctx, benchRecord(fmt.Sprintf("w%d-%d", w, i), "hook", t0)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1+writers*each), synced.Load(), "every commit is in exactly one sync")
	require.Equal(t, int64(1+writers*each), commits.Load())
	require.LessOrEqual(t, syncs.Load(), synced.Load())
	require.False(t, badDuration.Load())

	// A claim is not synced and not reported.
	claimed, err := s.Claim(ctx, "hook", t0, "main", t0.Add(time.Hour), 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, int64(1+writers*each), synced.Load())
	require.Equal(t, int64(1+writers*each), commits.Load())
}

// BenchmarkCounts counts the queue (pending and processing) and every
// status in a store of 100,000 pending and 100,000 finished tasks of
// four types.
func BenchmarkCounts(b *testing.B) {
	s := benchStore(b, false)
	ctx := context.Background()
	t0 := time.UnixMilli(1_900_000_000_000).UTC()
	const perStatus, batch = 100_000, 1000
	for _, status := range []shared.Status{shared.StatusPending, shared.StatusSuccess} {
		for start := 0; start < perStatus; start += batch {
			recs := make([]*store.Record, batch)
			for i := range recs {
				n := start + i
				recs[i] = benchRecord(fmt.Sprintf("%s-%08d", status, n), fmt.Sprintf("type-%d", n%4), t0.Add(time.Duration(n)*time.Millisecond))
				recs[i].Status = status
			}
			require.NoError(b, s.Create(ctx, recs...))
		}
	}
	b.Run("queue", func(b *testing.B) {
		for b.Loop() {
			got, err := s.Counts(ctx, shared.StatusPending, shared.StatusProcessing)
			require.NoError(b, err)
			require.Equal(b, perStatus/4, got["type-0"][shared.StatusPending])
		}
	})
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			got, err := s.Counts(ctx)
			require.NoError(b, err)
			require.Equal(b, perStatus/4, got["type-0"][shared.StatusSuccess])
		}
	})
}
