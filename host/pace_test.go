package host

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The dispatcher claims ahead what a handler finishes within
// claimAheadWindow at its recent pace, at most its capacity.
func TestPaceAhead(t *testing.T) {
	t0 := time.Unix(1_900_000_000, 0)
	finishEvery := func(d time.Duration, n int) (*pace, time.Time) {
		var p pace
		at := t0
		for range n {
			at = at.Add(d)
			p.finished(at)
		}
		return &p, at
	}
	var none pace
	require.Zero(t, none.ahead(8, t0), "no task finished yet")
	none.finished(t0)
	require.Zero(t, none.ahead(8, t0), "one task finished: no pace yet")

	p, last := finishEvery(time.Millisecond, 50)
	require.Equal(t, 5, p.ahead(8, last), "a task a millisecond: 5 within 5 ms")
	require.Zero(t, p.ahead(8, last.Add(2*time.Second)), "nothing finished for a second: the pace is old")

	p, last = finishEvery(100*time.Microsecond, 50)
	require.Equal(t, 8, p.ahead(8, last), "at most one more task per slot")

	p, last = finishEvery(10*time.Millisecond, 50)
	require.Zero(t, p.ahead(8, last), "a task every 10 ms: none")

	// The pace follows the recent finishes: from one a millisecond to
	// one every 20 ms, ahead drops to none.
	p, last = finishEvery(time.Millisecond, 50)
	for range 20 {
		last = last.Add(20 * time.Millisecond)
		p.finished(last)
	}
	require.Zero(t, p.ahead(8, last))
}
