package pgstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/metrics"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/pgstore"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
	"github.com/taskhost/taskhost/shared"
)

var _ metrics.QueueCounter = (*pgstore.Store)(nil)

func TestCounts(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := t.Context()
	got, err := s.Counts(ctx, shared.StatusPending)
	require.NoError(t, err)
	require.Empty(t, got)

	t0 := time.UnixMilli(1_900_000_000_000).UTC()
	// Types that share prefixes, and one with only finished tasks.
	stored := map[string][]shared.Status{
		"a":    {shared.StatusPending, shared.StatusPending, shared.StatusProcessing, shared.StatusSuccess},
		"ab":   {shared.StatusFailed},
		"a.b":  {shared.StatusPending, shared.StatusCancelled},
		"zz-9": {shared.StatusSuccess, shared.StatusSuccess},
	}
	var recs []*store.Record
	for typ, statuses := range stored {
		for i, st := range statuses {
			recs = append(recs, &store.Record{Task: shared.Task{ID: fmt.Sprintf("%s-%d", typ, i), Type: typ, ThreadID: "main",
				Status: st, DateCreated: t0, DateModified: t0}})
		}
	}
	require.NoError(t, s.Create(ctx, recs...))

	count := func(statuses ...shared.Status) map[string]map[shared.Status]int {
		want := map[string]map[shared.Status]int{}
		if len(statuses) == 0 {
			statuses = shared.Statuses()
		}
		for typ, sts := range stored {
			want[typ] = map[shared.Status]int{}
			for _, st := range statuses {
				want[typ][st] = 0
			}
			for _, st := range sts {
				if _, asked := want[typ][st]; asked {
					want[typ][st]++
				}
			}
		}
		return want
	}
	for _, statuses := range [][]shared.Status{nil, {shared.StatusPending, shared.StatusProcessing}, {shared.StatusCancelled}} {
		got, err := s.Counts(ctx, statuses...)
		require.NoError(t, err)
		require.Equal(t, count(statuses...), got, "statuses %v", statuses)
	}
	_, err = s.Counts(ctx, "bogus")
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Counts(cancelled)
	require.ErrorIs(t, err, context.Canceled)
}

// TestCommitHooks: the WithCommitted hook and OnCommit are called once
// for each write that changed something, and never for one that did not.
func TestCommitHooks(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	var commits atomic.Int64
	s, err := pgstore.Open(t.Context(), url, pgstore.Options{Schema: schema, OnCommit: func(d time.Duration) {
		if d > 0 {
			commits.Add(1)
		}
	}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })

	var hooked atomic.Int64
	ctx := store.WithCommitted(t.Context(), func() { hooked.Add(1) })
	t0 := time.UnixMilli(1_900_000_000_000).UTC()
	rec := &store.Record{Task: shared.Task{ID: "h1", Type: "h", ThreadID: "main", Status: shared.StatusPending, DateCreated: t0, DateModified: t0}}
	require.NoError(t, s.Create(ctx, rec))
	require.EqualValues(t, 1, hooked.Load())
	require.EqualValues(t, 1, commits.Load())

	require.ErrorIs(t, s.Update(ctx, rec, shared.StatusFailed), store.ErrConflict)
	require.ErrorIs(t, s.Create(ctx, rec), shared.ErrInvalidArgument)
	require.EqualValues(t, 1, hooked.Load(), "failed writes are not reported")

	claimed, err := s.Claim(ctx, "h", t0, "n", t0.Add(time.Minute), 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.EqualValues(t, 2, hooked.Load(), "a claim is visible to other calls")
	require.EqualValues(t, 1, commits.Load(), "claims are not reported to OnCommit")
	require.NoError(t, s.Delete(ctx, rec.ID))
	require.EqualValues(t, 3, hooked.Load())
	require.EqualValues(t, 2, commits.Load())
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	s, err := pgstore.Open(t.Context(), url, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice")
	ctx := t.Context()
	_, err = s.Get(ctx, "x")
	require.ErrorIs(t, err, shared.ErrClosed)
	_, err = s.Claim(ctx, "x", time.Now(), "n", time.Now(), 1)
	require.ErrorIs(t, err, shared.ErrClosed)
	_, err = s.Query(ctx, store.Query{})
	require.ErrorIs(t, err, shared.ErrClosed)
	_, err = s.LoadSchedule(ctx, "x")
	require.ErrorIs(t, err, shared.ErrClosed)
}
