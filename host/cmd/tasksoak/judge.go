package main

import (
	"fmt"
	"strings"
)

// Tolerances of the verdict: the last third of the load's samples (after
// the warm-up, idle checkpoints left out) may average at most factor
// times the first third's, plus slack. A leak grows with the tasks run, so
// it shows as a last third well above the first; noise and the load's own
// swings stay within.
//
// The RSS slack (-rss-slack) is Badger's: its memtable is a 64 MiB arena
// allocated at once (so the live heap counts it whole from the start)
// whose pages become resident as writes fill it, and the 128 MiB file it
// logs them to is memory-mapped, so its pages count too: RSS climbs by a
// few KiB per task until the memtable is flushed (after some 18,000
// plain create-claim-delete cycles), then steps up for a while as tables
// are built, and settles lower. That growth is bounded and is no leak; the live heap, compared
// much more tightly, would show one. Runs long enough to reach a flush
// need a larger -rss-slack.
//
// Goroutines, descriptors and worker processes follow the number of live
// workers (a dozen goroutines and a few descriptors each), so under load
// they are only shown; they are judged at the idle checkpoints, where
// they must be back to their baseline exactly.
var tolerances = map[string]struct {
	factor float64
	slack  float64
	judged bool
}{
	"RSS (MiB)":        {1.25, 0, true}, // plus -rss-slack
	"live heap (MiB)":  {1.05, 4, true},
	"backlog (tasks)":  {1.50, 0, true}, // plus five seconds of load
	"goroutines":       {},
	"fds (non-store)":  {},
	"worker processes": {},
}

// judge compares the first and last thirds of the samples taken under load
// after the warm-up.
func judge(cfg config, samples []sample, idle sample) []string {
	var window []sample
	for _, s := range samples {
		if s.at >= cfg.warmup {
			window = append(window, s)
		}
	}
	if len(window) < 6 {
		return []string{check(false, "only %d samples after the warm-up: run longer (-duration) or sample more often (-sample)", len(window))}
	}
	third := len(window) / 3
	first, last := window[:third], window[len(window)-third:]
	backlogSlack := cfg.rate * 5 // five seconds of load
	figures := []struct {
		name string
		of   func(sample) float64
	}{
		{"RSS (MiB)", func(s sample) float64 { return mib(s.rss) }},
		{"live heap (MiB)", func(s sample) float64 { return mib(s.heap) }},
		{"backlog (tasks)", func(s sample) float64 { return float64(s.created - s.done) }},
		{"goroutines", func(s sample) float64 { return float64(s.goroutines) }},
		{"fds (non-store)", func(s sample) float64 { return float64(s.fds - s.storeFDs) }},
		{"worker processes", func(s sample) float64 { return float64(s.processes) }},
	}
	var out []string
	for _, f := range figures {
		a, b := avg(first, f.of), avg(last, f.of)
		tol := tolerances[f.name]
		slack := tol.slack
		switch f.name {
		case "backlog (tasks)":
			slack = backlogSlack
		case "RSS (MiB)":
			slack = cfg.rssSlack
		}
		limit := a*tol.factor + slack
		line := fmt.Sprintf("%-17s first third %8.1f, last third %8.1f", f.name, a, b)
		if tol.judged {
			out = append(out, check(b <= limit, "%s (limit %.1f), max %.1f", line, limit, maxOf(window, f.of)))
		} else {
			out = append(out, fmt.Sprintf("info  %s, max %.1f (follows the live workers; judged at the idle checkpoints)", line, maxOf(window, f.of)))
		}
	}
	out = append(out, fmt.Sprintf("info  %d samples under load, %d after the warm-up; %d tasks created, %d spawns, %d crashes, %d timeouts, %d kills",
		len(samples), len(window), idle.created, idle.spawns, idle.crashes, idle.timeouts, idle.kills))
	return out
}

func avg(ss []sample, of func(sample) float64) float64 {
	sum := 0.0
	for _, s := range ss {
		sum += of(s)
	}
	return sum / float64(len(ss))
}

func maxOf(ss []sample, of func(sample) float64) float64 {
	m := of(ss[0])
	for _, s := range ss[1:] {
		m = max(m, of(s))
	}
	return m
}

// check formats a verdict line: "ok" or "FAIL" and what was checked.
func check(ok bool, format string, args ...any) string {
	if ok {
		return "ok    " + fmt.Sprintf(format, args...)
	}
	return "FAIL  " + fmt.Sprintf(format, args...)
}

func failed(verdict []string) bool {
	for _, v := range verdict {
		if strings.HasPrefix(v, "FAIL") {
			return true
		}
	}
	return false
}
