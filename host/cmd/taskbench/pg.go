package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/pgstore"
)

// The pgstore scenarios: bulk, paced and create-call on a host whose
// store is pgstore, in a fresh schema of the River peer's database,
// compared with the River peer's figures of the same run. Their figures
// are filed under pgPrefix.

// pgPrefix goes before the figure keys of the scenarios run on pgstore.
const pgPrefix = "pg."

// pgClusterTaskInterval is the poll backstop `taskhost serve` gives a
// node on a shared store (its clusterTaskInterval).
const pgClusterTaskInterval = time.Second

// pgstore is the backend of the pgstore scenarios: a fresh schema per
// host under test, dropped when its store is discarded, and the host set
// up as `taskhost serve` sets up a cluster node (a 1 s poll backstop, the
// default lease; creates wake it through NOTIFY, store.WorkNotifier).
func (b *bench) pgstore() *backend {
	return &backend{
		name: "pgstore", prefix: pgPrefix,
		hostOptions: host.Options{TaskInterval: pgClusterTaskInterval, Lease: host.DefaultLease},
		open: func(ctx context.Context) (store.Store, func(), error) {
			return b.openPg(ctx, randomSchema())
		},
	}
}

// openPg opens pgstore on schema of cfg.databaseURL, creating it, and
// returns the function that closes the store and drops the schema.
func (b *bench) openPg(ctx context.Context, schema string) (store.Store, func(), error) {
	url := b.cfg.databaseURL
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pgstore.DropSchema(ctx, url, schema); err != nil {
			b.logf("   %v", err)
		}
	}
	st, err := pgstore.Open(ctx, url, pgstore.Options{Schema: schema})
	if err != nil {
		drop() // Open may have created it before failing
		return nil, nil, err
	}
	return st, func() {
		_ = st.Close()
		drop()
	}, nil
}

// randomSchema is a schema name no other run uses.
func randomSchema() string {
	r := make([]byte, 8)
	_, _ = rand.Read(r)
	return "taskbench_" + hex.EncodeToString(r)
}

// onPostgres runs scenario on the pgstore backend, or says in one line
// why it does not: the bench must run on a machine without PostgreSQL.
func (b *bench) onPostgres(name string, scenario func(context.Context, *backend) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := b.dialDatabase(ctx); err != nil {
			b.logf("   %s skipped: no database answers at %s (%v); set TASKHOST_TEST_DATABASE_URL or -database-url", name, redactURL(b.cfg.databaseURL), err)
			b.res.details["pg"] = map[string]any{"skipped": err.Error()}
			return nil
		}
		b.res.details["pg"] = map[string]any{"taskInterval": pgClusterTaskInterval.String(), "lease": host.DefaultLease.String()}
		return scenario(ctx, b.pgstore())
	}
}

// pgLine says how the pgstore scenarios ran, or why they did not, for
// under the table; "" when none was asked for.
func (r *results) pgLine() string {
	m, ok := r.details["pg"].(map[string]any)
	if !ok {
		return ""
	}
	if why, skipped := m["skipped"]; skipped {
		return fmt.Sprintf("pgstore: skipped, no database answered (%v)", why)
	}
	return fmt.Sprintf("pgstore: each host on a fresh schema (dropped after), set up as `taskhost serve` sets up a cluster node: TaskInterval %v, lease %v, woken by NOTIFY per create; pg figures are compared with the River peer's of the same run",
		m["taskInterval"], m["lease"])
}

// pgSpecs are the figures of the pgstore scenarios: one for each figure
// of the Badger bulk, paced and create-call scenarios, keyed pgPrefix +
// its key, compared with the River peer's same figure, and with issue
// 11's targets (bulk at least half River's rate, create → handler start
// p50 at most 3 ms).
func pgSpecs(specs []spec) []spec {
	var out []spec
	for _, s := range specs {
		if s.Scenario != "bulk" && s.Scenario != "paced" && s.Scenario != "create call" {
			continue
		}
		p := s
		p.Key, p.Scenario = pgPrefix+s.Key, "pg "+s.Scenario
		p.Target, p.RatioTarget = nil, nil
		p.Baseline, p.BaselineName = riverPeerKey(s.Key), "River"
		switch s.Key {
		case "bulk.backlog.e2e", "bulk.overlap.e2e":
			p.RatioTarget = atLeast(targetPgBulkOfRiver)
		case "bulk.backlog.drain":
			p.Name = "backlog: run (Start → last done, workers start cold)"
		case "paced.start.p50":
			p.Target = atMost(targetPgStartP50)
		}
		out = append(out, p)
		if s.Key == "bulk.overlap.e2e" {
			out = append(out, spec{Key: pgPrefix + "nodes.bulk.overlap.e2e", Scenario: "pg 3 nodes",
				Name: strings.TrimSuffix(p.Name, ": first create → last done") + " on 3 nodes × 8 workers (one process)", Unit: s.Unit,
				Baseline: p.Baseline, BaselineName: p.BaselineName})
		}
	}
	return out
}

// pgScaleSpecs are the figures of the scale scenario on pgstore: the
// load and the query pages (with their target), keyed pgPrefix + the
// Badger figure's key.
func pgScaleSpecs(scale []spec) []spec {
	var out []spec
	for _, s := range scale {
		if strings.HasPrefix(s.Key, "scale.load.") || strings.HasPrefix(s.Key, "scale.query.") {
			s.Key, s.Scenario = pgPrefix+s.Key, "pg scale"
			out = append(out, s)
		}
	}
	return out
}

// riverPeerKey is the River peer's figure that our figure key compares
// with: the same key, but River inserts where we create.
func riverPeerKey(key string) string {
	if key == "bulk.backlog.create" {
		return riverPrefix + "bulk.backlog.insert"
	}
	return riverPrefix + key
}

// pgScale loads the scale scenario's data set (cfg.scaleTasks tasks:
// 1M, 100k with -short) into pgstore once, then times its query pages
// through the API cfg.slowRuns times. RSS and first dispatch are
// Badger's figures (this process holds no data on pgstore).
func (b *bench) pgScale(ctx context.Context, be *backend) error {
	// The host the queries go to: no handler, not started.
	qh, err := b.newHost(ctx, hostConfig{Backend: be, NoStart: true})
	if err != nil {
		return err
	}
	defer qh.close()
	t0 := time.Now()
	if err := b.scaleLoad(ctx, qh.h, qh.st, 0); err != nil {
		return err
	}
	load := time.Since(t0)
	b.res.add(be.key("scale.load.time"), load.Seconds())
	b.res.add(be.key("scale.load.rate"), float64(b.cfg.scaleTasks)/load.Seconds())
	b.logf("  loaded %d tasks in %v (%.0f tasks/s)", b.cfg.scaleTasks, load.Round(time.Millisecond), float64(b.cfg.scaleTasks)/load.Seconds())
	for run := range b.cfg.slowRuns {
		if err := b.scaleQueries(ctx, qh, be); err != nil {
			return fmt.Errorf("queries, run %d: %w", run+1, err)
		}
	}
	return nil
}
