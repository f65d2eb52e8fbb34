package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store/pgstore"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
)

// peerJSON is riverpeer's output shape, cut down to three figures.
const peerJSON = `{
  "river": "v0.51.2",
  "config": {"workers": 8, "fetchCooldownMs": 1, "fetchPollIntervalMs": 10, "maxConns": 16},
  "figures": [
    {"key": "bulk.backlog.e2e", "unit": "jobs/s", "samples": [2000, 2400, 2200]},
    {"key": "paced.start.p50", "unit": "ms", "samples": [4.5, 3.5, 4]},
    {"key": "create.c1.p50", "unit": "ms", "samples": [0.5, 0.6, 0.7]}
  ]
}`

func TestRiverPeerFigures(t *testing.T) {
	t.Parallel()
	out, err := parsePeerOutput([]byte(peerJSON))
	require.NoError(t, err)
	require.Equal(t, "v0.51.2", out.River)
	require.Equal(t, 8, out.Config.Workers)

	r := newResults(figureSpecs(20_000, 1_000_000, 100_000))
	require.NoError(t, r.addPeer(riverPrefix, out.Figures))
	require.Equal(t, []float64{2000, 2400, 2200}, r.byKey["river.bulk.backlog.e2e"].Samples)
	rows := r.rows()
	require.Len(t, rows, 4, "header and the three figures")
	require.Equal(t, []string{"river (peer)", "20k batch-inserted, then run: first insert → last completed", "2000", "2200", "2400", "jobs/s", "", "", ""}, rows[1])
	require.Equal(t, []string{"river (peer)", "insert → worker start p50", "3.50", "4.00", "4.50", "ms", "", "", ""}, rows[2])

	r.details["river"] = out
	require.Contains(t, r.riverLine(), "River v0.51.2 with riverpgxv5, 8 workers, FetchCooldown 1.00 ms, FetchPollInterval 10.0 ms")
	r.details["river"] = map[string]any{"skipped": "dial tcp 127.0.0.1:5432: connect: connection refused"}
	require.Equal(t, "river (peer): skipped, no database answered (dial tcp 127.0.0.1:5432: connect: connection refused)", r.riverLine())
	delete(r.details, "river")
	require.Empty(t, r.riverLine(), "not asked for, not mentioned")
}

func TestRiverPeerFiguresOutOfStep(t *testing.T) {
	t.Parallel()
	for name, figs := range map[string][]peerFigure{
		"unknown key":  {{Key: "bulk.backlog.e2e", Unit: "jobs/s", Samples: []float64{1}}, {Key: "warp.speed", Unit: "ms", Samples: []float64{1}}},
		"other unit":   {{Key: "paced.start.p50", Unit: "µs", Samples: []float64{900}}},
		"no samples":   {{Key: "paced.start.p50", Unit: "ms"}},
		"host's units": {{Key: "bulk.backlog.e2e", Unit: "tasks/s", Samples: []float64{1}}},
	} {
		r := newResults(figureSpecs(20_000, 1_000_000, 100_000))
		require.Error(t, r.addPeer(riverPrefix, figs), name)
		for _, f := range r.figs {
			require.Empty(t, f.Samples, "%s: nothing is added when a figure does not fit (%s)", name, f.Key)
		}
	}
	for name, raw := range map[string]string{
		"not JSON":      "river: connect failed",
		"no figures":    `{"river": "v0.51.2", "figures": []}`,
		"unknown field": `{"river": "v0.51.2", "figures": [{"key": "a", "unit": "ms", "samples": [1], "median": 1}]}`,
		"two documents": peerJSON + peerJSON,
	} {
		_, err := parsePeerOutput([]byte(raw))
		require.Error(t, err, name)
	}
}

func TestDatabaseAddr(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string][2]string{
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable": {"tcp", "127.0.0.1:5432"},
		"postgresql://u:secret@db.example:6543/app":               {"tcp", "db.example:6543"},
		"postgres://u@db/app":                                     {"tcp", "db:5432"},
		"postgres:///app":                                         {"tcp", "localhost:5432"},
		"postgres://u@[::1]:5433/app":                             {"tcp", "[::1]:5433"},
		"postgres://u@a:5001,b:5002/app":                          {"tcp", "a:5001"},
		"postgres:///app?host=/var/run/postgresql":                {"unix", "/var/run/postgresql/.s.PGSQL.5432"},
		"postgres:///app?host=/tmp&port=6000":                     {"unix", "/tmp/.s.PGSQL.6000"},
	} {
		network, addr, err := databaseAddr(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, [2]string{network, addr}, raw)
	}
	_, _, err := databaseAddr("host=localhost user=postgres")
	require.Error(t, err, "a keyword/value string is not a URL")
	_, _, err = databaseAddr("mysql://u@h/db")
	require.Error(t, err)

	require.Equal(t, "postgresql://u:xxxxx@db.example:6543/app", redactURL("postgresql://u:secret@db.example:6543/app"))
	require.NotContains(t, redactURL("host=db password=secret"), "secret")
}

// TestPgFigures: each figure of the Badger bulk, paced and create-call
// scenarios has its pg twin, compared with a River peer figure the table
// has, with issue 11's targets on the bulk ratio and the start p50.
func TestPgFigures(t *testing.T) {
	t.Parallel()
	specs := figureSpecs(20_000, 1_000_000, 100_000)
	r := newResults(specs)
	twins := 0
	for _, s := range specs {
		switch s.Scenario {
		case "bulk", "paced", "create call":
		default:
			continue
		}
		twins++
		pg, ok := r.byKey[pgPrefix+s.Key]
		require.True(t, ok, "no pg twin of %s", s.Key)
		require.Equal(t, "pg "+s.Scenario, pg.Scenario)
		require.Equal(t, s.Unit, pg.Unit)
		river, ok := r.byKey[pg.Baseline]
		require.True(t, ok, "%s is compared with %q, which the table lacks", pg.Key, pg.Baseline)
		require.Equal(t, "river (peer)", river.Scenario, pg.Key)
		require.Equal(t, s.Unit == "ms", river.Unit == "ms", "%s: a latency is compared with a latency", pg.Key)
	}
	require.Equal(t, 14, twins)
	require.Equal(t, "river.bulk.overlap.e2e", r.byKey["pg.nodes.bulk.overlap.e2e"].Baseline)
	require.Equal(t, "river.bulk.backlog.insert", r.byKey["pg.bulk.backlog.create"].Baseline)

	// 1,200 tasks/s against River's 2,000 jobs/s: 0.6×, met; 900: 0.45×,
	// missed. The Badger targets (20k tasks/s) do not apply.
	r.add("river.bulk.backlog.e2e", 2000)
	r.add("pg.bulk.backlog.e2e", 1200)
	r.add("river.bulk.overlap.e2e", 2000)
	r.add("pg.bulk.overlap.e2e", 900)
	r.add("river.paced.start.p50", 4)
	r.add("pg.paced.start.p50", 2.5)
	r.add("pg.paced.start.p99", 9)
	require.InDelta(t, 0.6, r.ratio(r.byKey["pg.bulk.backlog.e2e"]), 1e-9)
	require.Equal(t, "✓", r.verdict(r.byKey["pg.bulk.backlog.e2e"]))
	require.Equal(t, "✗", r.verdict(r.byKey["pg.bulk.overlap.e2e"]))
	require.Equal(t, "✓", r.verdict(r.byKey["pg.paced.start.p50"]), "≤ 3 ms, whatever River's")
	require.Empty(t, r.verdict(r.byKey["pg.paced.start.p99"]), "no target")
	var row []string
	for _, rw := range r.rows() {
		if rw[0] == "pg bulk" && rw[7] != "" {
			row = rw
			break
		}
	}
	require.Equal(t, []string{"pg bulk", "20k batch-created, then run: first create → last done", "1200", "1200", "1200", "tasks/s", "≥ 0.500× baseline", "0.600× River", "✓"}, row)
}

func TestPgLine(t *testing.T) {
	t.Parallel()
	r := newResults(nil)
	require.Empty(t, r.pgLine(), "not asked for, not mentioned")
	r.details["pg"] = map[string]any{"skipped": "connection refused"}
	require.Equal(t, "pgstore: skipped, no database answered (connection refused)", r.pgLine())
	r.details["pg"] = map[string]any{"taskInterval": "1s", "lease": "30s"}
	require.Contains(t, r.pgLine(), "TaskInterval 1s, lease 30s")
}

func TestRandomSchema(t *testing.T) {
	t.Parallel()
	a, b := randomSchema(), randomSchema()
	require.NotEqual(t, a, b)
	require.Regexp(t, `^taskbench_[0-9a-f]{16}$`, a)
	require.NoError(t, pgstore.ValidateSchema(a))
}

// TestPgBackend: the pgstore backend opens a store on a schema of its
// own and drops it when the store is discarded. Needs a database: without
// one it skips with one line.
func TestPgBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	b := &bench{cfg: config{databaseURL: pgtest.URL()}, log: io.Discard, res: newResults(nil)}
	if err := b.dialDatabase(t.Context()); err != nil {
		t.Skipf("SKIPPED: no PostgreSQL at %s (set %s): %v", redactURL(b.cfg.databaseURL), pgtest.EnvURL, err)
	}
	be := b.pgstore()
	require.Equal(t, "pg.bulk.overlap.e2e", be.key("bulk.overlap.e2e"))
	require.Equal(t, time.Second, be.hostOptions.TaskInterval, "serve's cluster poll")
	schema := randomSchema()
	_, discard, err := b.openPg(t.Context(), schema)
	require.NoError(t, err)
	conn, err := pgx.Connect(t.Context(), b.cfg.databaseURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	exists := func() bool {
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n))
		return n == 1
	}
	require.True(t, exists(), schema)
	discard()
	require.False(t, exists(), "%s dropped with the store", schema)
}
