package pgstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
)

// Every node sees the others' heartbeats; silent ones age out; a stopped
// one leaves.
func TestNodes(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	a, b := openSchema(t, url, schema), openSchema(t, url, schema)
	ctx := t.Context()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	na := store.Node{ID: "node-a", Address: "http://10.0.0.1:7474", Started: t0, LastHeartbeat: t0.Add(time.Minute), Handlers: []string{"echo", "resize"}, Running: 2}
	nb := store.Node{ID: "node-b", Started: t0, LastHeartbeat: t0.Add(10 * time.Second), Handlers: nil}
	require.NoError(t, a.Heartbeat(ctx, na))
	require.NoError(t, b.Heartbeat(ctx, nb))

	nodes, err := b.Nodes(ctx, t0)
	require.NoError(t, err)
	nb.Handlers = []string{}
	require.Equal(t, []store.Node{na, nb}, nodes)

	na.LastHeartbeat, na.Running = t0.Add(2*time.Minute), 5
	require.NoError(t, a.Heartbeat(ctx, na), "a heartbeat replaces the last")
	nodes, err = a.Nodes(ctx, t0.Add(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, []store.Node{na}, nodes, "node-b is silent since before: gone")
	nodes, err = a.Nodes(ctx, t0)
	require.NoError(t, err)
	require.Equal(t, []store.Node{na}, nodes, "and forgotten")

	require.NoError(t, a.RemoveNode(ctx, "node-a"))
	require.NoError(t, a.RemoveNode(ctx, "node-a"), "removing twice is fine")
	nodes, err = b.Nodes(ctx, t0)
	require.NoError(t, err)
	require.Empty(t, nodes)
}
