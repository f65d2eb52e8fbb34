// Package measure is how taskbench and its peer programs (the River peer
// in ../../riverpeer, a module of its own) time calls: a closed loop of
// callers, and latency percentiles by one method, so that figures from
// both sides of a comparison mean the same thing. It imports the standard
// library only: a peer module can use it without depending on anything
// else of taskhost's.
package measure

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of xs by the
// nearest-rank method: the smallest sample such that at least p% of the
// samples are at or below it. xs need not be sorted and is not changed.
// It returns NaN for no samples.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Latencies collects durations and reports percentiles in a unit.
type Latencies []time.Duration

// MS is every latency in milliseconds.
func (l Latencies) MS() []float64 {
	out := make([]float64, len(l))
	for i, d := range l {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// PMs is the p-th percentile in milliseconds.
func (l Latencies) PMs(p float64) float64 { return Percentile(l.MS(), p) }

// PUs is the p-th percentile in microseconds.
func (l Latencies) PUs(p float64) float64 { return l.PMs(p) * 1000 }

// ClosedLoop runs n goroutines for d, goroutine g calling op(g, i) for
// i = 0, 1, … one call at a time, one call every `every` (back to back
// when 0). It returns calls per second and every call's latency; the first
// error ends its goroutine and is returned.
func ClosedLoop(n int, d, every time.Duration, op func(g, i int) error) (float64, Latencies, error) {
	lats := make([]Latencies, n)
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
	var all Latencies
	for g := range n {
		if errs[g] != nil {
			return 0, nil, errs[g]
		}
		all = append(all, lats[g]...)
	}
	return float64(len(all)) / elapsed.Seconds(), all, nil
}

// Paced calls op(0), op(1), … op(n-1) at rate calls a second, the first
// at once: a ticker hands each index to one of senders goroutines, so
// that one slow call does not hold back the next tick. It returns when
// every call has returned.
func Paced(n, rate, senders int, op func(i int)) {
	jobs := make(chan int, senders)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for i := range jobs {
				op(i)
			}
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := range n {
		if i > 0 {
			<-tick.C
		}
		jobs <- i
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
}

// Sent is one paced call: when it was sent, the key it made (a task or
// job id) and its error.
type Sent[K comparable] struct {
	Key K
	At  time.Time
	Err error
}

// Until is, for each sent call in order, the time from its At to
// ends[Key]. ok is false, with the first key ends lacks, when ends lacks
// one.
func Until[K comparable](sent []Sent[K], ends map[K]time.Time) (l Latencies, missing K, ok bool) {
	l = make(Latencies, 0, len(sent))
	for _, s := range sent {
		end, found := ends[s.Key]
		if !found {
			return nil, s.Key, false
		}
		l = append(l, end.Sub(s.At))
	}
	return l, missing, true
}
