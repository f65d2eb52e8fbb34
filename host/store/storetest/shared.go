package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// RunShared runs the multi-node suite: open returns two stores on one
// database, as two nodes of a cluster open it, for one subtest, and
// closes them when it ends. Only a backend that several hosts share can
// run it (not Badger, whose directory one process holds); it must be a
// store.ProgressStore too.
func RunShared(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b *fixture)
	}{
		{"VisibleAcrossStores", testVisibleAcrossStores},
		{"ClaimConcurrentAcrossStores", testClaimConcurrentAcrossStores},
		{"FencedAcrossStores", testFencedAcrossStores},
		{"ReclaimLapsedLease", testReclaimLapsedLease},
		{"ProgressFenced", testProgressFenced},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			rng := rand.New(rand.NewPCG(2, uint64(len(tc.name))))
			tc.fn(t, &fixture{s: a, ctx: t.Context(), rng: rng}, &fixture{s: b, ctx: t.Context(), rng: rng})
		})
	}
}

// testVisibleAcrossStores: what one node writes, the other reads, and a
// write of one is compared against the other's.
func testVisibleAcrossStores(t *testing.T, a, b *fixture) {
	rec := a.task("v", shared.StatusPending, at(0))
	a.create(t, rec)
	requireRecord(t, rec, b.get(t, rec.ID))
	require.Equal(t, []string{rec.ID}, ids(b.queryAll(t, store.Query{Type: "v"})))
	due, ok, err := b.s.NextDue(b.ctx, "v")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, at(0).Equal(due))

	require.ErrorIs(t, b.s.Create(b.ctx, rec), shared.ErrInvalidArgument, "the id is taken on the other node")
	claimed, err := b.claim("v", at(10), "b", at(60_000))
	require.NoError(t, err)
	require.Equal(t, rec.ID, claimed.ID)
	procs, err := a.s.Processing(a.ctx, "b")
	require.NoError(t, err)
	require.Equal(t, []string{rec.ID}, ids(procs))
	require.ErrorIs(t, a.s.Update(a.ctx, rec, shared.StatusPending), store.ErrConflict)
	require.NoError(t, a.s.Delete(a.ctx, rec.ID, shared.StatusProcessing))
	b.requireGone(t, rec.ID)
}

// testClaimConcurrentAcrossStores has both nodes claim the same queue
// from several goroutines each: every task is claimed exactly once.
func testClaimConcurrentAcrossStores(t *testing.T, a, b *fixture) {
	const tasks, perStore = 300, 3
	var recs []*store.Record
	for i := range tasks {
		recs = append(recs, a.task("race", shared.StatusPending, at(int64(i%23))))
	}
	a.create(t, recs...)

	var cs []claimer
	for n, f := range []*fixture{a, b} {
		for c := range perStore {
			cs = append(cs, claimer{f: f, owner: fmt.Sprintf("node-%d-%d", n, c), batch: 1 + c})
		}
	}
	seen := claimRace(t, "race", cs)
	for _, r := range recs {
		require.Equal(t, 1, seen[r.ID], "task %s claimed %d times", r.ID, seen[r.ID])
	}
	require.Len(t, seen, tasks)
	require.Empty(t, b.queryAll(t, store.Query{Status: shared.StatusPending}))
}

// testFencedAcrossStores: node a claims a task, node b takes it over
// (as after a's lease lapsed) and claims it again; a's late write fails.
func testFencedAcrossStores(t *testing.T, a, b *fixture) {
	requireFenced(t, a, b)
}

// testUpdateFencedByAttempt is the fencing rule of Store.Update on one
// store: the write of a superseded claim changes nothing.
func testUpdateFencedByAttempt(t *testing.T, f *fixture) {
	requireFenced(t, f, f)
}

// requireFenced claims a task through a, re-queues it and claims it again
// through b, then checks that a's write from processing with its old
// attempts fails with store.ErrConflict and changes nothing, while b's
// goes through.
func requireFenced(t *testing.T, a, b *fixture) {
	rec := a.task("fence", shared.StatusPending, at(0))
	a.create(t, rec)
	first, err := a.claim("fence", at(100), "node-a", at(1_000))
	require.NoError(t, err)
	require.NotNil(t, first)
	require.Equal(t, 1, first.Attempts)

	// a's lease lapses: b puts the task back and claims it.
	b.update(t, rec.ID, func(r *store.Record) {
		r.Status = shared.StatusPending
		r.DateModified = at(2_000)
		r.LeaseOwner, r.LeaseUntil = "", time.Time{}
	})
	second, err := b.claim("fence", at(2_000), "node-b", at(60_000))
	require.NoError(t, err)
	require.NotNil(t, second)
	require.Equal(t, 2, second.Attempts)

	late := clone(first)
	late.Status = shared.StatusSuccess
	late.DateModified = at(3_000)
	late.DateCompleted = ptr(at(3_000))
	late.Result = []byte(`"late"`)
	err = a.s.Update(a.ctx, late, shared.StatusProcessing)
	require.ErrorIs(t, err, store.ErrConflict, "a superseded claim writes")
	require.NotErrorIs(t, err, shared.ErrNotFound)
	requireRecord(t, second, b.get(t, rec.ID))
	requireRecord(t, second, a.get(t, rec.ID))

	// Nor may a claimant write ahead of its attempt.
	ahead := clone(second)
	ahead.Attempts = 3
	require.ErrorIs(t, b.s.Update(b.ctx, ahead, shared.StatusProcessing), store.ErrConflict)
	requireRecord(t, second, b.get(t, rec.ID))

	// The current claimant's write goes through, from either node.
	done := clone(second)
	done.Status = shared.StatusSuccess
	done.DateModified = at(4_000)
	done.DateCompleted = ptr(at(4_000))
	require.NoError(t, a.s.Update(a.ctx, done, shared.StatusProcessing))
	requireRecord(t, done, b.get(t, rec.ID))
}

// testReclaimLapsedLease: a processing task whose lease lapsed (its node
// stopped renewing) is claimed again by another node, as a new attempt
// (NextDue does not say when: dispatchers find lapsed leases by polling);
// the old owner's renewal and writes are then refused.
func testReclaimLapsedLease(t *testing.T, a, b *fixture) {
	rec := a.task("lapse", shared.StatusPending, at(0))
	a.create(t, rec)
	first, err := a.claim("lapse", at(10), "node-a", at(1_000))
	require.NoError(t, err)
	require.NotNil(t, first)

	none, err := b.claim("lapse", at(999), "node-b", at(60_000))
	require.NoError(t, err)
	require.Nil(t, none, "a live lease is not taken")
	// node-a renews; its lease holds past the first end.
	lost, err := a.s.Renew(a.ctx, "node-a", at(2_000), []store.Lease{{ID: rec.ID, Attempt: first.Attempts}})
	require.NoError(t, err)
	require.Empty(t, lost)
	none, err = b.claim("lapse", at(1_500), "node-b", at(60_000))
	require.NoError(t, err)
	require.Nil(t, none, "a renewed lease is not taken")

	second, err := b.claim("lapse", at(2_001), "node-b", at(60_000))
	require.NoError(t, err)
	require.NotNil(t, second, "a lapsed lease is taken over")
	require.Equal(t, first.Attempts+1, second.Attempts)
	require.Equal(t, "node-b", second.LeaseOwner)
	require.Equal(t, shared.StatusProcessing, second.Status)
	require.Equal(t, rec.RetriesRemaining, second.RetriesRemaining, "a reclaim uses no retry")

	lost, err = a.s.Renew(a.ctx, "node-a", at(3_000), []store.Lease{{ID: rec.ID, Attempt: first.Attempts}})
	require.NoError(t, err)
	require.Equal(t, []string{rec.ID}, lost)
	late := clone(first)
	late.Status = shared.StatusSuccess
	require.ErrorIs(t, a.s.Update(a.ctx, late, shared.StatusProcessing), store.ErrConflict)
	require.ErrorIs(t, a.s.DeleteClaimed(a.ctx, store.Lease{ID: rec.ID, Attempt: first.Attempts}), store.ErrConflict)
	requireRecord(t, second, a.get(t, rec.ID))
}

// testProgressFenced: the progress a node saves under its claim is what
// the other node reads; once the task is claimed again, the old claim's
// progress is dropped (and reported lost), the new claim's is saved.
func testProgressFenced(t *testing.T, a, b *fixture) {
	pa, ok := a.s.(store.ProgressStore)
	require.True(t, ok, "a shared store keeps progress: %T is not a store.ProgressStore", a.s)
	pb := b.s.(store.ProgressStore)
	rec := a.task("progress", shared.StatusPending, at(0))
	other := a.task("progress", shared.StatusPending, at(1))
	a.create(t, rec, other)
	first, err := a.claim("progress", at(10), "node-a", at(1_000))
	require.NoError(t, err)
	require.Equal(t, rec.ID, first.ID)

	p := shared.Progress{Percent: 40, Message: "halfway \u00e9"}
	lost, err := pa.SaveProgress(a.ctx, []store.Progress{
		{Lease: store.Lease{ID: rec.ID, Attempt: first.Attempts}, Progress: p},
		{Lease: store.Lease{ID: other.ID, Attempt: 1}, Progress: p}, // pending: not processing
		{Lease: store.Lease{ID: "missing", Attempt: 1}, Progress: p},
	})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{other.ID, "missing"}, lost)
	got := b.get(t, rec.ID)
	require.Equal(t, &p, got.Progress)
	require.Equal(t, first.DateModified, got.DateModified, "progress is not a modification")
	require.Nil(t, b.get(t, other.ID).Progress)

	// a's lease lapses and b claims the task again.
	second, err := b.claim("progress", at(2_000), "node-b", at(60_000))
	require.NoError(t, err)
	require.Equal(t, rec.ID, second.ID)
	late := shared.Progress{Percent: 90, Message: "late"}
	lost, err = pa.SaveProgress(a.ctx, []store.Progress{{Lease: store.Lease{ID: rec.ID, Attempt: first.Attempts}, Progress: late}})
	require.NoError(t, err)
	require.Equal(t, []string{rec.ID}, lost)
	require.NotEqual(t, &late, b.get(t, rec.ID).Progress, "a superseded claim's progress is dropped")

	now := shared.Progress{Percent: 10}
	lost, err = pb.SaveProgress(b.ctx, []store.Progress{{Lease: store.Lease{ID: rec.ID, Attempt: second.Attempts}, Progress: now}})
	require.NoError(t, err)
	require.Empty(t, lost)
	require.Equal(t, &now, a.get(t, rec.ID).Progress)
}
