package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// target is a goal a figure's median is checked against.
type target struct {
	Op    string  `json:"op"` // ">=" or "<="
	Value float64 `json:"value"`
}

func atLeast(v float64) *target { return &target{Op: ">=", Value: v} }
func atMost(v float64) *target  { return &target{Op: "<=", Value: v} }

func (t *target) met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if t.Op == ">=" {
		return v >= t.Value
	}
	return v <= t.Value
}

func (t *target) String() string {
	op := "≤"
	if t.Op == ">=" {
		op = "≥"
	}
	return op + " " + formatNumber(t.Value)
}

// spec describes a figure: where it goes in the table and what it is
// checked and compared against.
type spec struct {
	Key      string
	Scenario string
	Name     string
	Unit     string
	Target   *target
	// Baseline is the key of the baseline figure this one is shown as a
	// ratio to (ours ÷ baseline, medians), BaselineName how the table names
	// it, and RatioTarget, if set, a goal for that ratio.
	Baseline     string
	BaselineName string
	RatioTarget  *target
	// PeerBaseline: the baseline is a peer's figure that a run may skip
	// (River, without a database); the ratio target is checked only when
	// it ran.
	PeerBaseline bool
}

// figure is a spec with its samples, one per run.
type figure struct {
	spec
	Samples []float64
}

// results gathers every figure of a bench run, in table order.
type results struct {
	figs    []*figure
	byKey   map[string]*figure
	details map[string]any
}

func newResults(specs []spec) *results {
	r := &results{byKey: make(map[string]*figure), details: make(map[string]any)}
	for _, s := range specs {
		if _, dup := r.byKey[s.Key]; dup {
			panic("taskbench: figure " + s.Key + " twice")
		}
		f := &figure{spec: s}
		r.figs = append(r.figs, f)
		r.byKey[s.Key] = f
	}
	return r
}

// add records one run's value of the figure key.
func (r *results) add(key string, v float64) {
	f, ok := r.byKey[key]
	if !ok {
		panic("taskbench: no figure " + key)
	}
	f.Samples = append(f.Samples, v)
}

// ratio is the figure's median over its baseline's, NaN without one.
func (r *results) ratio(f *figure) float64 {
	if f.Baseline == "" {
		return math.NaN()
	}
	b := r.byKey[f.Baseline]
	if b == nil || len(b.Samples) == 0 || len(f.Samples) == 0 {
		return math.NaN()
	}
	return summarize(f.Samples).Median / summarize(b.Samples).Median
}

// verdict is "✓" when the median meets every goal the figure has, "✗"
// when it misses one, "" when it has none.
func (r *results) verdict(f *figure) string {
	if f.Target == nil && f.RatioTarget == nil {
		return ""
	}
	ok := true
	if f.Target != nil {
		ok = ok && f.Target.met(summarize(f.Samples).Median)
	}
	if f.RatioTarget != nil && !(f.PeerBaseline && math.IsNaN(r.ratio(f))) {
		ok = ok && f.RatioTarget.met(r.ratio(f))
	}
	if ok {
		return "✓"
	}
	return "✗"
}

// rows is the table: a header and one row per figure that has samples.
func (r *results) rows() [][]string {
	out := [][]string{{"scenario", "figure", "min", "median", "max", "unit", "target", "vs baseline", "ok"}}
	for _, f := range r.figs {
		if len(f.Samples) == 0 {
			continue
		}
		s := summarize(f.Samples)
		var tgt []string
		if f.Target != nil {
			tgt = append(tgt, f.Target.String())
		}
		if f.RatioTarget != nil {
			tgt = append(tgt, f.RatioTarget.String()+"× baseline")
		}
		vs := ""
		if ratio := r.ratio(f); !math.IsNaN(ratio) {
			vs = formatNumber(ratio) + "× " + f.BaselineName
		} else if f.PeerBaseline {
			vs = "(" + f.BaselineName + " did not run)"
		}
		out = append(out, []string{
			f.Scenario, f.Name, formatNumber(s.Min), formatNumber(s.Median), formatNumber(s.Max),
			f.Unit, strings.Join(tgt, ", "), vs, r.verdict(f),
		})
	}
	return out
}

// writeTable writes rows as a Markdown table with aligned columns; the
// first row is the header.
func writeTable(w io.Writer, rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" ")
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, n := range widths {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatNumber prints v with about three significant digits, whole
// numbers from 100 up; NaN (not measured) as "—".
func formatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "—"
	case a >= 100 || v == 0:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.001:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// jsonFigure is a figure as -json writes it.
type jsonFigure struct {
	Key         string    `json:"key"`
	Scenario    string    `json:"scenario"`
	Figure      string    `json:"figure"`
	Unit        string    `json:"unit"`
	Samples     []float64 `json:"samples"`
	Min         float64   `json:"min"`
	Median      float64   `json:"median"`
	Max         float64   `json:"max"`
	Target      *target   `json:"target,omitempty"`
	Baseline    string    `json:"baseline,omitempty"`
	Ratio       *float64  `json:"ratio,omitempty"`
	RatioTarget *target   `json:"ratioTarget,omitempty"`
	OK          *bool     `json:"ok,omitempty"`
}

// writeJSON writes every measured figure, the details and meta to path.
func (r *results) writeJSON(path string, meta map[string]any) error {
	var figs []jsonFigure
	for _, f := range r.figs {
		if len(f.Samples) == 0 {
			continue
		}
		s := summarize(f.Samples)
		jf := jsonFigure{
			Key: f.Key, Scenario: f.Scenario, Figure: f.Name, Unit: f.Unit, Samples: slices.Clone(f.Samples),
			Min: nanToZero(s.Min), Median: nanToZero(s.Median), Max: nanToZero(s.Max),
			Target: f.Target, Baseline: f.Baseline, RatioTarget: f.RatioTarget,
		}
		if ratio := r.ratio(f); !math.IsNaN(ratio) {
			jf.Ratio = &ratio
		}
		if v := r.verdict(f); v != "" {
			ok := v == "✓"
			jf.OK = &ok
		}
		for i, x := range jf.Samples {
			jf.Samples[i] = nanToZero(x)
		}
		figs = append(figs, jf)
	}
	b, err := json.MarshalIndent(map[string]any{"meta": meta, "figures": figs, "details": r.details}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// nanToZero: JSON has no NaN.
func nanToZero(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
