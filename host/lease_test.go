package host_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

const testLease = 600 * time.Millisecond

// A running task's lease is renewed, well inside the lease, for as long
// as it runs.
func TestLeaseIsRenewedWhileRunning(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.Lease = testLease })
	e.register("sleep", "sleep")
	id := e.create("sleep", `{"ms":3000}`, host.CreateOptions{RetainFor: host.RetainForever})
	claimed := e.waitStatus(id, shared.StatusProcessing)

	var stored *store.Record
	eventually(t, "the lease to be renewed past the first one", func() bool {
		var err error
		stored, err = e.st.Get(context.Background(), id)
		require.NoError(t, err)
		return stored.LeaseUntil.After(claimed.DateModified.Add(2 * testLease))
	})
	require.Equal(t, shared.StatusProcessing, stored.Status)
	require.Equal(t, "main", stored.LeaseOwner)
	e.waitStatus(id, shared.StatusSuccess)
}

// A task whose lease this host lost (here: another node reclaimed it)
// has its method cancelled, and nothing of the attempt is written.
func TestLostLeaseDropsTheOutcome(t *testing.T) {
	t.Parallel()
	obs := &observer{created: map[string]int{}}
	e := setup(t, func(o *host.Options) { o.Lease, o.Observer = testLease, obs })
	e.register("sleep", "sleep")
	id := e.create("sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(id, shared.StatusProcessing)
	eventually(t, "the method to run", func() bool { return e.h.Handlers()[0].Pool.Busy == 1 })

	// Another node takes it over, as after its lease lapsed.
	ctx := context.Background()
	rec, err := e.st.Get(ctx, id)
	require.NoError(t, err)
	requeued := *rec
	requeued.Status, requeued.LeaseOwner, requeued.LeaseUntil = shared.StatusPending, "", time.Time{}
	require.NoError(t, e.st.Update(ctx, &requeued, shared.StatusProcessing))
	// (This host's only worker is busy, so its dispatcher claims nothing.)
	theirs, err := e.st.Claim(ctx, "sleep", time.Now().UTC(), "node-b", time.Now().Add(time.Hour), 1)
	require.NoError(t, err)
	require.Len(t, theirs, 1)

	eventually(t, "the lost attempt to end", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return slices.Contains(obs.outcomes, host.OutcomeLost)
	})
	after, err := e.st.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, shared.StatusProcessing, after.Status, "the dropped outcome wrote nothing")
	require.Equal(t, rec.Attempts+1, after.Attempts)
	require.Equal(t, "node-b", after.LeaseOwner)
	for _, s := range e.rec.statuses(id) {
		require.False(t, s.Terminal(), "no terminal state reported: %v", e.rec.statuses(id))
	}
}

// On a store only this host uses, the nodes are this host.
func TestNodesOnAStoreOfItsOwnIsThisHost(t *testing.T) {
	t.Parallel()
	e := setup(t, func(o *host.Options) { o.NodeID, o.Address = "node-x", "http://127.0.0.1:7474" })
	e.register("sleep", "sleep")
	e.register("echo", "echo")
	id := e.create("sleep", `{"ms":60000}`, host.CreateOptions{})
	e.waitStatus(id, shared.StatusProcessing)
	nodes, err := e.h.Nodes(t.Context())
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	n := nodes[0]
	require.Equal(t, "node-x", n.ID)
	require.Equal(t, "http://127.0.0.1:7474", n.Address)
	require.Equal(t, []string{"echo", "sleep"}, n.Handlers)
	require.Equal(t, 1, n.Running)
	require.False(t, n.Started.IsZero())
	require.False(t, n.LastHeartbeat.Before(n.Started))
	require.NoError(t, e.h.Cancel(t.Context(), id))
}
