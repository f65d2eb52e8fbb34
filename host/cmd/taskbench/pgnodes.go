package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/host/store/pgstore"
)

// pgNodes is how many engines the three-node scenario runs.
const pgNodes = 3

// bulkNodes runs the create-while-processing bulk variant on pgNodes
// engines in this process, each a node of its own (its own pgstore pool
// and listener, its own 8 workers) on one fresh schema: cfg.bulkTasks
// echo tasks are created through the first node's API in batches of
// cfg.overlapBatch while all of them claim and run. It measures what
// sharing a store costs (claims racing with SKIP LOCKED, every create and
// every final state notified to every node) on the same CPUs, not
// scale-out: the three nodes and their 24 workers share this machine.
func (b *bench) bulkNodes(ctx context.Context, be *backend) error {
	return repeat(ctx, b.cfg.slowRuns, be, b.bulkNodesOnce)
}

func (b *bench) bulkNodesOnce(ctx context.Context, be *backend) (err error) {
	schema := randomSchema()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, pgstore.DropSchema(dctx, b.cfg.databaseURL, schema))
	}()
	var nodes []*benchHost
	defer func() {
		for _, n := range nodes {
			n.close()
		}
	}()
	for i := range pgNodes {
		st, err := pgstore.Open(ctx, b.cfg.databaseURL, pgstore.Options{Schema: schema})
		if err != nil {
			return err
		}
		n, err := b.newHost(ctx, hostConfig{Handler: true, Backend: be, Store: st, NodeID: fmt.Sprintf("bench-node-%d", i+1), NoAPI: i > 0})
		if err != nil {
			_ = st.Close()
			return err
		}
		n.closeStore = func() { _ = st.Close() }
		nodes = append(nodes, n)
	}
	if err := warmNodes(ctx, nodes); err != nil {
		return err
	}
	n := b.cfg.bulkTasks
	tasks := echoTasks(n)
	// One tracker for all: a node reports the tasks it runs.
	tr := newTracker(n, false)
	for _, node := range nodes {
		node.cur.Store(tr)
	}
	start := time.Now()
	for i := 0; i < n; i += b.cfg.overlapBatch {
		if _, err := nodes[0].client.CreateMany(ctx, tasks[i:min(i+b.cfg.overlapBatch, n)]); err != nil {
			return fmt.Errorf("batch create: %w", err)
		}
	}
	created := time.Now()
	if err := tr.wait(ctx, bulkTimeout); err != nil {
		return err
	}
	end := tr.lastDone()
	b.res.add(be.key("nodes.bulk.overlap.e2e"), float64(n)/end.Sub(start).Seconds())
	b.logf("  %d nodes: %d tasks created in %v, all finished %v after the first create",
		pgNodes, n, created.Sub(start).Round(time.Millisecond), end.Sub(start).Round(time.Millisecond))
	return nil
}
