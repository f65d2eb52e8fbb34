package main

import (
	"testing"

	"github.com/stretchr/testify/require"
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
