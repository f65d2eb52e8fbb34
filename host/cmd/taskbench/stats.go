package main

import (
	"math"
	"slices"
	"sync"
	"time"
)

// percentile returns the p-th percentile (0 ≤ p ≤ 100) of xs by the
// nearest-rank method: the smallest sample such that at least p% of the
// samples are at or below it. xs need not be sorted and is not changed.
// It returns NaN for no samples.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(s []float64, p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// summary is min, median and max of a figure's samples (one per run).
type summary struct {
	Min, Median, Max float64
}

// summarize returns the summary of xs; the median of an even count is the
// mean of the middle two. NaN samples (a run that could not measure) are
// left out; all NaN gives all NaN.
func summarize(xs []float64) summary {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return summary{math.NaN(), math.NaN(), math.NaN()}
	}
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{Min: s[0], Median: med, Max: s[len(s)-1]}
}

// latencies collects durations and reports percentiles in a unit.
type latencies []time.Duration

func (l latencies) ms() []float64 {
	out := make([]float64, len(l))
	for i, d := range l {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// pms is the p-th percentile in milliseconds.
func (l latencies) pms(p float64) float64 { return percentile(l.ms(), p) }

// pus is the p-th percentile in microseconds.
func (l latencies) pus(p float64) float64 { return l.pms(p) * 1000 }

// closedLoop runs n goroutines for d, goroutine g calling op(g, i) for
// i = 0, 1, … one call at a time, one call every `every` (back to back
// when 0). It returns calls per second and every call's latency; the first
// error ends its goroutine and is returned.
func closedLoop(n int, d, every time.Duration, op func(g, i int) error) (float64, latencies, error) {
	lats := make([]latencies, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := range n {
		wg.Go(func() {
			next := time.Now()
			for i := 0; ; i++ {
				if every > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(every)
				}
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				if err := op(g, i); err != nil {
					errs[g] = err
					break
				}
				lats[g] = append(lats[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all latencies
	for g := range n {
		if errs[g] != nil {
			return 0, nil, errs[g]
		}
		all = append(all, lats[g]...)
	}
	return float64(len(all)) / elapsed.Seconds(), all, nil
}
