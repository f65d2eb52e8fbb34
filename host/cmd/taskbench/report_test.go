package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	require.Equal(t, summary{Min: 1, Median: 2, Max: 9}, summarize([]float64{9, 1, 2}))
	require.Equal(t, summary{Min: 1, Median: 2.5, Max: 9}, summarize([]float64{9, 1, 2, 3}))
	require.Equal(t, summary{Min: 4, Median: 4, Max: 4}, summarize([]float64{4, math.NaN()}), "a run that measured nothing is left out")
	s := summarize(nil)
	require.True(t, math.IsNaN(s.Min) && math.IsNaN(s.Median) && math.IsNaN(s.Max))
}

func TestFormatNumber(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{
		0: "0", 20412.4: "20412", 123.6: "124", 45.67: "45.7", 2.345: "2.35", 0.1234: "0.123",
		0.00042: "0.00042", -3.5: "-3.50", math.NaN(): "—",
	} {
		require.Equal(t, want, formatNumber(v), "%v", v)
	}
	require.Equal(t, "1M", formatCount(1_000_000))
	require.Equal(t, "100k", formatCount(100_000))
	require.Equal(t, "12.5k", formatCount(12_500))
	require.Equal(t, "999", formatCount(999))
}

func TestTargets(t *testing.T) {
	t.Parallel()
	require.True(t, atLeast(10).met(10))
	require.False(t, atLeast(10).met(9.99))
	require.True(t, atMost(1).met(0.5))
	require.False(t, atMost(1).met(1.01))
	require.False(t, atMost(1).met(math.NaN()), "not measured is not met")
	require.Equal(t, "≥ 20000", atLeast(20000).String())
	require.Equal(t, "≤ 1.00", atMost(1).String())
}

func testResults() *results {
	r := newResults([]spec{
		{Key: "base", Scenario: "baseline", Name: "raw calls", Unit: "calls/s"},
		{Key: "ours", Scenario: "bulk", Name: "tasks", Unit: "tasks/s", Target: atLeast(100),
			Baseline: "base", BaselineName: "raw", RatioTarget: atLeast(0.4)},
		{Key: "lat", Scenario: "paced", Name: "latency p50", Unit: "ms", Target: atMost(1)},
		{Key: "unmeasured", Scenario: "scale", Name: "never run", Unit: "ms", Target: atMost(1)},
	})
	for _, v := range []float64{1000, 1100, 900} {
		r.add("base", v)
	}
	for _, v := range []float64{300, 500, 450} {
		r.add("ours", v)
	}
	r.add("lat", 0.8)
	return r
}

func TestResultsVerdictAndRatio(t *testing.T) {
	t.Parallel()
	r := testResults()
	ours := r.byKey["ours"]
	require.InDelta(t, 0.45, r.ratio(ours), 1e-9, "median ÷ baseline median")
	require.Equal(t, "✓", r.verdict(ours))
	require.Equal(t, "✓", r.verdict(r.byKey["lat"]))
	require.Equal(t, "", r.verdict(r.byKey["base"]), "no target, no verdict")

	r.add("lat", 1.5)
	r.add("lat", 2)
	require.Equal(t, "✗", r.verdict(r.byKey["lat"]), "the median misses")

	r2 := testResults()
	r2.byKey["ours"].Samples = []float64{300, 350, 320}
	require.Equal(t, "✗", r2.verdict(r2.byKey["ours"]), "absolute target met, ratio target missed")
	require.Panics(t, func() { r.add("nope", 1) })
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	require.NoError(t, writeTable(&b, testResults().rows()))
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	require.Len(t, lines, 5, "header, rule, and one row per measured figure:\n%s", b.String())
	require.Equal(t, "| scenario | figure      | min   | median | max   | unit    | target                   | vs baseline | ok |", lines[0])
	require.Equal(t, "| -------- | ----------- | ----- | ------ | ----- | ------- | ------------------------ | ----------- | -- |", lines[1])
	require.Equal(t, "| bulk     | tasks       | 300   | 450    | 500   | tasks/s | ≥ 100, ≥ 0.400× baseline | 0.450× raw  | ✓  |", lines[3])
	require.Equal(t, "| paced    | latency p50 | 0.800 | 0.800  | 0.800 | ms      | ≤ 1.00                   |             | ✓  |", lines[4])
	require.NotContains(t, b.String(), "never run")
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	r := testResults()
	r.add("lat", math.NaN())
	path := filepath.Join(t.TempDir(), "out.json")
	require.NoError(t, r.writeJSON(path, map[string]any{"short": true}))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var got struct {
		Meta    map[string]any `json:"meta"`
		Figures []jsonFigure   `json:"figures"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, true, got.Meta["short"])
	require.Len(t, got.Figures, 3)
	require.Equal(t, "ours", got.Figures[1].Key)
	require.InDelta(t, 0.45, *got.Figures[1].Ratio, 1e-9)
	require.True(t, *got.Figures[1].OK)
	require.Equal(t, []float64{0.8, 0}, got.Figures[2].Samples, "NaN is written as 0")
	require.True(t, math.IsNaN(r.byKey["lat"].Samples[1]), "writing leaves the samples alone")
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	var stderr strings.Builder
	cfg, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	require.Equal(t, scenarioNames(), cfg.scenarios)
	require.Equal(t, 3, cfg.runs)
	require.Equal(t, 1_000_000, cfg.scaleTasks)

	cfg, err = parseFlags([]string{"-short", "-scenarios", "paced, bulk"}, &stderr)
	require.NoError(t, err)
	require.Equal(t, []string{"raw-echo", "raw-badger", "bulk", "paced"}, cfg.scenarios, "run order, with the baselines they compare with")
	require.Equal(t, 1, cfg.slowRuns)
	require.Equal(t, 100_000, cfg.scaleTasks)

	cfg, err = parseFlags([]string{"-scenarios", "coldstart", "-no-baselines"}, &stderr)
	require.NoError(t, err)
	require.Equal(t, []string{"coldstart"}, cfg.scenarios)

	_, err = parseFlags([]string{"-scenarios", "warp"}, &stderr)
	require.ErrorContains(t, err, `unknown scenario "warp"`)
	_, err = parseFlags([]string{"-runs", "0"}, &stderr)
	require.Error(t, err)
	_, err = parseFlags([]string{"-scale-tasks", "10", "-scale-pending", "10"}, &stderr)
	require.Error(t, err)
}

// A ratio target against a peer that did not run (River without a
// database) is not checked, and the table says why there is no ratio.
func TestPeerRatioTargetOnlyWhenThePeerRan(t *testing.T) {
	t.Parallel()
	r := newResults([]spec{
		{Key: "peer", Scenario: "peer", Name: "theirs", Unit: "tasks/s"},
		{Key: "ours", Scenario: "bulk", Name: "ours", Unit: "tasks/s", Target: atLeast(100),
			Baseline: "peer", BaselineName: "Peer", RatioTarget: atLeast(1.2), PeerBaseline: true},
	})
	r.add("ours", 150)
	require.Equal(t, "✓", r.verdict(r.byKey["ours"]))
	require.Contains(t, r.rows()[1], "(Peer did not run)")
	r.add("peer", 200)
	require.Equal(t, "✗", r.verdict(r.byKey["ours"]), "0.75× the peer")
	r.byKey["peer"].Samples = []float64{100}
	require.Equal(t, "✓", r.verdict(r.byKey["ours"]))
}
