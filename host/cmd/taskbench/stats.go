package main

import (
	"math"
	"slices"
)

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
