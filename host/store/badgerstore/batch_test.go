package badgerstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// TestOutcomesShareCommits: outcomes written at once share transactions
// and syncs: 300 concurrent removals under their claims are made durable
// by fewer commits than removals (one each, before batches), and each is
// reported to OnCommit.
func TestOutcomesShareCommits(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	var commits, reported atomic.Int64
	opts.OnSync = func(n int, _ time.Duration) { commits.Add(int64(n)) }
	opts.OnCommit = func(time.Duration) { reported.Add(1) }
	s, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := t.Context()

	const n = 300
	now := time.Now().UTC().Truncate(time.Millisecond)
	recs := make([]*store.Record, n)
	for i := range recs {
		recs[i] = &store.Record{Task: shared.Task{ID: fmt.Sprintf("t%04d", i), Type: "batch", ThreadID: "main", Status: shared.StatusPending, DateCreated: now, DateModified: now}}
	}
	require.NoError(t, s.Create(ctx, recs...))
	var claimed []*store.Record
	for len(claimed) < n {
		got, err := s.Claim(ctx, "batch", now, "node", now.Add(time.Minute), n-len(claimed))
		require.NoError(t, err)
		require.NotEmpty(t, got)
		claimed = append(claimed, got...)
	}
	commits.Store(0)
	reported.Store(0)

	var wg sync.WaitGroup
	for _, r := range claimed {
		wg.Go(func() {
			require.NoError(t, s.DeleteClaimed(ctx, store.Lease{ID: r.ID, Attempt: r.Attempts}))
		})
	}
	wg.Wait()
	require.EqualValues(t, n, reported.Load(), "each removal is reported")
	require.Less(t, commits.Load(), int64(n), "removals waiting together commit together")
	for _, r := range claimed {
		_, err := s.Get(ctx, r.ID)
		require.ErrorIs(t, err, shared.ErrNotFound)
	}
}
