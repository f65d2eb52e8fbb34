package main

import (
	"context"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/store"
)

// smoke runs the named scenarios at a toy size and checks that each of
// their figures got its sample and a table row: that the program works,
// not how fast anything is (`make bench-short` is the quick look at the
// figures).
func smoke(t *testing.T, plugin string, scenarios string) {
	t.Helper()
	cfg, err := parseFlags([]string{"-short", "-runs", "1", "-no-baselines", "-scenarios", scenarios, "-plugin", plugin}, io.Discard)
	require.NoError(t, err)
	cfg.echoDur, cfg.badgerDur, cfg.createDur = 100*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond
	cfg.spawns, cfg.steadyAfter, cfg.steadyCalls = 2, 5, 5
	cfg.bulkTasks, cfg.bulkBatch, cfg.overlapBatch, cfg.ioTasks = 300, 100, 50, 200
	cfg.pacedRate, cfg.pacedDur = 100, 300*time.Millisecond
	cfg.scaleTasks, cfg.scalePending, cfg.scaleBatch, cfg.queryReps = 3000, 300, 500, 1
	cfg.jsonPath = t.TempDir() + "/out.json"

	var log strings.Builder
	b, err := newBench(cfg, &log)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(b.root) })
	require.False(t, b.runAll(t.Context()), "a scenario failed:\n%s", log.String())

	var out strings.Builder
	require.NoError(t, b.report(&out))
	measured := 0
	for _, f := range b.res.figs {
		if len(f.Samples) > 0 {
			measured++
			require.Len(t, f.Samples, 1, "figure %s", f.Key)
			require.Contains(t, out.String(), "| "+f.Name+" ")
		}
	}
	require.NotZero(t, measured)
	_, err = os.Stat(cfg.jsonPath)
	require.NoError(t, err)
}

// TestSmokeCreateCall runs one quick scenario that needs no plugin: the
// host, its API and the store, in about a second.
func TestSmokeCreateCall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real host for about a second")
	}
	smoke(t, "no-plugin-needed", "create")
}

// TestSmokeAll runs every scenario at a toy size, with real testworker
// processes. Too slow for `make test`: TASKBENCH_SMOKE=1 turns it on.
func TestSmokeAll(t *testing.T) {
	if os.Getenv("TASKBENCH_SMOKE") == "" {
		t.Skip("set TASKBENCH_SMOKE=1 to run every scenario at a toy size (tens of seconds)")
	}
	smoke(t, "", strings.Join(scenarioNames(), ","))
}

// TestCreateCallOnAnotherBackend runs the create-call scenario on a
// backend other than Badger's default, as the pgstore scenarios will: each
// host opens a store through the backend and closes it, and the figures
// are filed under the backend's prefix.
func TestCreateCallOnAnotherBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real host for about a second")
	}
	cfg, err := parseFlags([]string{"-short", "-runs", "1", "-no-baselines", "-scenarios", "create", "-plugin", "no-plugin-needed"}, io.Discard)
	require.NoError(t, err)
	cfg.createDur = 200 * time.Millisecond
	var log strings.Builder
	b, err := newBench(cfg, &log)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(b.root) })
	var alt []spec
	for _, s := range figureSpecs(cfg.bulkTasks, cfg.scaleTasks, cfg.scalePending) {
		if strings.HasPrefix(s.Key, "create.") {
			s.Key, s.Scenario = "alt."+s.Key, "create call (alt)"
			alt = append(alt, s)
		}
	}
	b.res = newResults(alt)
	var opened, closed atomic.Int64
	be := &backend{name: "alt", prefix: "alt.", open: func(ctx context.Context) (store.Store, func(), error) {
		st, closeStore, err := b.badger().open(ctx)
		if err != nil {
			return nil, nil, err
		}
		opened.Add(1)
		return st, func() { closed.Add(1); closeStore() }, nil
	}}
	require.NoError(t, b.createCall(t.Context(), be), log.String())
	require.Equal(t, int64(1), opened.Load(), "one host, one store")
	require.Equal(t, opened.Load(), closed.Load(), "closed with its host")
	require.NotEmpty(t, b.res.figs)
	for _, f := range b.res.figs {
		require.Len(t, f.Samples, 1, f.Key)
	}
}

// TestSmokeNode runs the Node scenario at a toy size (skipped without
// node, as every Node plugin test is).
func TestSmokeNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Node plugins for a few seconds")
	}
	testplugin.NeedNode(t)
	smoke(t, "", "node")
}

// TestSmokeConcurrency runs the scenarios of tasks per worker (bulk with
// concurrency 8, I/O-bound with 32 against 1) at a toy size.
func TestSmokeConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real hosts with testworker processes for a few seconds")
	}
	smoke(t, "", "bulk-conc,io-conc")
}
