package host

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The dispatcher claims ahead what a handler's slots finish within
// claimAheadWindow at the recent length of a task, at most its capacity.
func TestPaceAhead(t *testing.T) {
	t0 := time.Unix(1_900_000_000, 0)
	ran := func(d time.Duration, n int) (*pace, time.Time) {
		var p pace
		at := t0
		for range n {
			at = at.Add(d)
			p.finished(at, d)
		}
		return &p, at
	}
	var none pace
	require.Zero(t, none.ahead(8, t0), "no task ran yet")

	p, last := ran(10*time.Millisecond, 1)
	require.Equal(t, 4, p.ahead(8, last), "8 slots of 10 ms tasks: 4 end within 5 ms")
	require.Zero(t, p.ahead(8, last.Add(2*time.Second)), "nothing ended for a second: the pace is old")

	p, last = ran(500*time.Microsecond, 50)
	require.Equal(t, 8, p.ahead(8, last), "at most one more task per slot")
	require.Equal(t, 1, p.ahead(1, last))

	p, last = ran(100*time.Millisecond, 50)
	require.Zero(t, p.ahead(8, last), "100 ms tasks: none")

	// Slow tasks that end together say nothing about a fast pace: what
	// counts is how long each ran.
	var burst pace
	for range 4 {
		burst.finished(t0, 500*time.Millisecond)
	}
	require.Zero(t, burst.ahead(4, t0))

	// The length follows the recent tasks: from 1 ms to 50 ms, ahead
	// drops to none.
	p, last = ran(time.Millisecond, 50)
	for range 30 {
		last = last.Add(50 * time.Millisecond)
		p.finished(last, 50*time.Millisecond)
	}
	require.Zero(t, p.ahead(8, last))
}
