package host

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestActivityKeepsEachSecondOfTheWindow(t *testing.T) {
	t.Parallel()
	var a activity
	now := time.Unix(1_000_000, 0)
	at := func(ago int) time.Time { return now.Add(-time.Duration(ago) * time.Second) }
	record := func(t time.Time, wait time.Duration) {
		a.mu.Lock()
		s := a.slot(t)
		s.finished[0]++ // success, the first outcome
		s.started++
		s.waitSum += wait
		s.waitMax = max(s.waitMax, wait)
		a.mu.Unlock()
	}
	record(at(0), 10*time.Millisecond)
	record(at(0), 30*time.Millisecond)
	record(at(activitySlots-1), time.Second) // the oldest second kept

	got := a.snapshot(now)
	require.Equal(t, at(activitySlots-1).UTC(), got.Start)
	require.Len(t, got.Started, activitySlots)
	last := activitySlots - 1
	require.Equal(t, 2, got.Started[last])
	require.Equal(t, 2, got.Finished[OutcomeSuccess][last])
	require.InDelta(t, 20, got.WaitAvgMS[last], 1e-9)
	require.InDelta(t, 30, got.WaitMaxMS[last], 1e-9)
	require.Equal(t, 1, got.Started[0])
	require.Equal(t, 1000.0, got.WaitMaxMS[0])
	sum := 0
	for _, n := range got.Started {
		sum += n
	}
	require.Equal(t, 3, sum)

	// A minute later the oldest second has left the window.
	got = a.snapshot(now.Add(time.Minute))
	require.Zero(t, got.Started[0])
	require.Equal(t, 2, got.Started[last-60])
	for _, n := range got.Finished[OutcomeFailed] {
		require.Zero(t, n)
	}
}
