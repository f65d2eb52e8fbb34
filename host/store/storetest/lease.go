package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Renew extends the leases the owner holds and names the others as lost.
func testRenew(t *testing.T, f *fixture) {
	held := f.task("q", shared.StatusPending, at(0))
	other := f.task("q", shared.StatusPending, at(1))
	stale := f.task("q", shared.StatusPending, at(2))
	done := f.task("q", shared.StatusPending, at(3))
	f.create(t, held, other, stale, done)
	for _, owner := range []string{"node-a", "node-b", "node-a", "node-a"} {
		_, err := f.claim("q", at(10), owner, at(100))
		require.NoError(t, err)
	}
	// stale is claimed again, by node-a itself: its first claim is gone.
	staleAttempt := f.get(t, stale.ID).Attempts
	f.update(t, stale.ID, func(r *store.Record) { r.Status, r.LeaseOwner = shared.StatusPending, "" })
	_, err := f.claim("q", at(20), "node-a", at(100))
	require.NoError(t, err)
	f.update(t, done.ID, func(r *store.Record) { r.Status, r.LeaseOwner = shared.StatusSuccess, "" })

	lost, err := f.s.Renew(f.ctx, "node-a", at(500), []store.Lease{
		{ID: held.ID, Attempt: f.get(t, held.ID).Attempts},
		{ID: other.ID, Attempt: f.get(t, other.ID).Attempts}, // node-b's
		{ID: stale.ID, Attempt: staleAttempt},
		{ID: done.ID, Attempt: 1},
		{ID: f.id(), Attempt: 1}, // no such task
	})
	require.NoError(t, err)
	require.Len(t, lost, 4)
	require.NotContains(t, lost, held.ID)
	require.Equal(t, at(500), f.get(t, held.ID).LeaseUntil.UTC())
	require.Equal(t, at(100), f.get(t, other.ID).LeaseUntil.UTC(), "another owner's lease is not touched")
	require.Equal(t, at(100), f.get(t, stale.ID).LeaseUntil.UTC(), "a superseded claim renews nothing")

	lost, err = f.s.Renew(f.ctx, "node-a", at(600), nil)
	require.NoError(t, err)
	require.Empty(t, lost)
}

// DeleteClaimed removes a task only under the claim that holds it.
func testDeleteClaimed(t *testing.T, f *fixture) {
	rec := f.task("q", shared.StatusPending, at(0))
	f.create(t, rec)
	claimed, err := f.claim("q", at(10), "node-a", at(100))
	require.NoError(t, err)
	first := store.Lease{ID: rec.ID, Attempt: claimed.Attempts}
	// Reclaimed (by another node, once the lease lapsed): a new attempt.
	f.update(t, rec.ID, func(r *store.Record) { r.Status, r.LeaseOwner = shared.StatusPending, "" })
	again, err := f.claim("q", at(200), "node-b", at(300))
	require.NoError(t, err)
	require.Equal(t, first.Attempt+1, again.Attempts)

	require.ErrorIs(t, f.s.DeleteClaimed(f.ctx, first), store.ErrConflict)
	require.Equal(t, shared.StatusProcessing, f.get(t, rec.ID).Status, "the late delete changed nothing")
	require.NoError(t, f.s.DeleteClaimed(f.ctx, store.Lease{ID: rec.ID, Attempt: again.Attempts}))
	f.requireGone(t, rec.ID)
	require.ErrorIs(t, f.s.DeleteClaimed(f.ctx, first), shared.ErrNotFound)

	pending := f.task("q", shared.StatusPending, at(0))
	f.create(t, pending)
	require.ErrorIs(t, f.s.DeleteClaimed(f.ctx, store.Lease{ID: pending.ID, Attempt: 0}), store.ErrConflict, "a pending task is no claim's")
}

// testConcurrentOutcomes: outcomes written at once (which a backend may
// commit together) each get their own answer. 300 claimed tasks are
// finished concurrently: a third removed under their claim, a third
// removed under a superseded one (refused, nothing removed), a third
// updated to success.
func testConcurrentOutcomes(t *testing.T, f *fixture) {
	const n = 300
	recs := make([]*store.Record, n)
	for i := range recs {
		recs[i] = f.task("outcomes", shared.StatusPending, at(int64(i)))
	}
	f.create(t, recs...)
	var claimed []*store.Record
	for len(claimed) < n { // a backend may take fewer than asked
		got, err := f.s.Claim(f.ctx, "outcomes", at(1_000), "node", at(60_000), n-len(claimed))
		require.NoError(t, err)
		require.NotEmpty(t, got)
		claimed = append(claimed, got...)
	}

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range claimed {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				errs[i] = f.s.DeleteClaimed(f.ctx, store.Lease{ID: r.ID, Attempt: r.Attempts})
			case 1:
				errs[i] = f.s.DeleteClaimed(f.ctx, store.Lease{ID: r.ID, Attempt: r.Attempts - 1})
			case 2:
				next := clone(r)
				next.Status, next.DateModified, next.DateCompleted = shared.StatusSuccess, at(2_000), ptr(at(2_000))
				next.LeaseOwner, next.LeaseUntil = "", time.Time{}
				next.Result = []byte(`{"i":1}`)
				errs[i] = f.s.Update(f.ctx, next, shared.StatusProcessing)
			}
		})
	}
	wg.Wait()
	for i, r := range claimed {
		switch i % 3 {
		case 0:
			require.NoError(t, errs[i], "task %d", i)
			f.requireGone(t, r.ID)
		case 1:
			require.ErrorIs(t, errs[i], store.ErrConflict, "task %d", i)
			require.Equal(t, shared.StatusProcessing, f.get(t, r.ID).Status, "task %d", i)
		case 2:
			require.NoError(t, errs[i], "task %d", i)
			got := f.get(t, r.ID)
			require.Equal(t, shared.StatusSuccess, got.Status, "task %d", i)
			require.JSONEq(t, `{"i":1}`, string(got.Result))
		}
	}
}
