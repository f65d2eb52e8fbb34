package host

import (
	"sync"
	"time"
)

// ActivityWindow is how far back [Host.Activity] reaches, a sample per
// second.
const ActivityWindow = 15 * time.Minute

const activitySlots = int(ActivityWindow / time.Second)

// Activity is what this host did in each second of the last
// ActivityWindow, oldest first: the attempts that ended, by outcome, and
// the attempts that started with their wait (from due, which is the
// create unless a retry is due later, to the start). Every slice has one
// element a second from Start.
type Activity struct {
	// Start is the first second (UTC, whole seconds); the last one is the
	// second in progress.
	Start  time.Time `json:"start"`
	StepMS int64     `json:"stepMs"`
	// Finished counts the attempts ended per second, by outcome.
	Finished map[Outcome][]int `json:"finished"`
	// Started counts the attempts started per second; WaitAvgMS and
	// WaitMaxMS are the mean and the longest wait of those, in
	// milliseconds (0 in a second without a start).
	Started   []int     `json:"started"`
	WaitAvgMS []float64 `json:"waitAvgMs"`
	WaitMaxMS []float64 `json:"waitMaxMs"`
}

// activityOutcomes are the outcomes Activity reports, in its order.
var activityOutcomes = [...]Outcome{OutcomeSuccess, OutcomeRetry, OutcomeFailed, OutcomeCancelled, OutcomeRequeued, OutcomeLost}

// second is one second's sample.
type second struct {
	unix     int64 // which second it holds; another means it is stale
	finished [len(activityOutcomes)]int
	started  int
	waitSum  time.Duration
	waitMax  time.Duration
}

// activity is a ring of per-second samples, one per second of the
// window: a few tens of kilobytes, written under a lock held for a few
// additions.
type activity struct {
	mu    sync.Mutex
	slots [activitySlots]second
}

// slot returns the sample of the second of t, cleared if it held an
// older second. Call with mu held.
func (a *activity) slot(t time.Time) *second {
	u := t.Unix()
	s := &a.slots[int(u%int64(activitySlots))]
	if s.unix != u {
		*s = second{unix: u}
	}
	return s
}

func (a *activity) started(wait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slot(time.Now())
	s.started++
	s.waitSum += wait
	s.waitMax = max(s.waitMax, wait)
}

func (a *activity) finished(o Outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slot(time.Now())
	for i, known := range activityOutcomes {
		if known == o {
			s.finished[i]++
		}
	}
}

// snapshot is the window that ends with the second of now.
func (a *activity) snapshot(now time.Time) Activity {
	last := now.Unix()
	first := last - int64(activitySlots) + 1
	out := Activity{
		Start:     time.Unix(first, 0).UTC(),
		StepMS:    1000,
		Finished:  make(map[Outcome][]int, len(activityOutcomes)),
		Started:   make([]int, activitySlots),
		WaitAvgMS: make([]float64, activitySlots),
		WaitMaxMS: make([]float64, activitySlots),
	}
	for _, o := range activityOutcomes {
		out.Finished[o] = make([]int, activitySlots)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range activitySlots {
		u := first + int64(i)
		s := &a.slots[int(u%int64(activitySlots))]
		if s.unix != u {
			continue
		}
		for j, o := range activityOutcomes {
			out.Finished[o][i] = s.finished[j]
		}
		out.Started[i] = s.started
		if s.started > 0 {
			out.WaitAvgMS[i] = float64(s.waitSum) / float64(s.started) / float64(time.Millisecond)
			out.WaitMaxMS[i] = float64(s.waitMax) / float64(time.Millisecond)
		}
	}
	return out
}

// Activity is what this host did in each second of the last
// ActivityWindow (attempts started and ended, waits), for charts.
func (h *Host) Activity() Activity { return h.activity.snapshot(time.Now()) }
