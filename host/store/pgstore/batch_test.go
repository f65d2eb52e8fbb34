package pgstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// TestBatchedWrites: outcomes written at once share transactions, and
// each still gets its own result. 300 claimed tasks are finished
// concurrently: a third removed under their claim, a third removed under
// a superseded one (a conflict, nothing removed), a third updated, one of
// them with a result PostgreSQL refuses (not JSON), which fails that
// write alone and none of those batched with it.
func TestBatchedWrites(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 300
	recs := make([]*store.Record, n)
	for i := range recs {
		recs[i] = &store.Record{Task: shared.Task{ID: newID(t), Type: "batch", ThreadID: "main", Status: shared.StatusPending, DateCreated: now, DateModified: now}}
	}
	require.NoError(t, s.Create(ctx, recs...))
	claimed, err := s.Claim(ctx, "batch", now, "node", now.Add(time.Minute), n)
	require.NoError(t, err)
	require.Len(t, claimed, n)

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range claimed {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				errs[i] = s.DeleteClaimed(ctx, store.Lease{ID: r.ID, Attempt: r.Attempts})
			case 1:
				errs[i] = s.DeleteClaimed(ctx, store.Lease{ID: r.ID, Attempt: r.Attempts - 1})
			case 2:
				next := *r
				next.Status, next.DateCompleted, next.LeaseOwner, next.LeaseUntil = shared.StatusSuccess, &now, "", time.Time{}
				next.Result = []byte(`{"i":1}`)
				if i == 2 {
					next.Result = []byte(`not json`)
				}
				errs[i] = s.Update(ctx, &next, shared.StatusProcessing)
			}
		})
	}
	wg.Wait()
	for i, r := range claimed {
		got, getErr := s.Get(ctx, r.ID)
		switch {
		case i%3 == 0:
			require.NoError(t, errs[i], "task %d", i)
			require.ErrorIs(t, getErr, shared.ErrNotFound, "task %d", i)
		case i%3 == 1:
			require.ErrorIs(t, errs[i], store.ErrConflict, "task %d", i)
			require.NoError(t, getErr)
			require.Equal(t, shared.StatusProcessing, got.Status, "task %d", i)
		case i == 2:
			require.Error(t, errs[i])
			require.False(t, errors.Is(errs[i], store.ErrConflict), "a refused write is not a conflict: %v", errs[i])
			require.NoError(t, getErr)
			require.Equal(t, shared.StatusProcessing, got.Status, "the refused write changed nothing")
		default:
			require.NoError(t, errs[i], "task %d", i)
			require.NoError(t, getErr)
			require.Equal(t, shared.StatusSuccess, got.Status, "task %d", i)
			require.JSONEq(t, `{"i":1}`, string(got.Result))
		}
	}
}
