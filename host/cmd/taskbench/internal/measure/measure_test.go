package measure

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		p, want float64
	}{
		{0, 1}, {10, 1}, {11, 2}, {50, 5}, {51, 6}, {90, 9}, {99, 10}, {100, 10},
	} {
		require.Equal(t, tc.want, Percentile(xs, tc.p), "p%v", tc.p)
	}
	require.Equal(t, []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}, xs, "the input is left as it was")
	require.Equal(t, 7.0, Percentile([]float64{7}, 99))
	require.True(t, math.IsNaN(Percentile(nil, 50)))
}

func TestLatencies(t *testing.T) {
	t.Parallel()
	l := Latencies{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 1500 * time.Microsecond}
	require.InDelta(t, 1.5, l.PMs(50), 1e-9)
	require.InDelta(t, 3000, l.PUs(99), 1e-9)
}

func TestClosedLoop(t *testing.T) {
	t.Parallel()
	var calls [3]atomic.Int64
	rate, lat, err := ClosedLoop(3, 20*time.Millisecond, 0, func(g, i int) error {
		if int64(i) != calls[g].Add(1)-1 {
			return fmt.Errorf("goroutine %d: call %d out of order", g, i)
		}
		return nil
	})
	require.NoError(t, err)
	total := calls[0].Load() + calls[1].Load() + calls[2].Load()
	require.Len(t, lat, int(total), "one latency per call")
	require.Equal(t, rate == 0, total == 0)

	boom := errors.New("boom")
	_, _, err = ClosedLoop(2, time.Hour, 0, func(g, i int) error {
		if i == 3 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom, "an error ends the loop and is returned")
}

func TestPaced(t *testing.T) {
	t.Parallel()
	const n, rate = 20, 1000
	var at [n]time.Time
	var calls atomic.Int64
	t0 := time.Now()
	Paced(n, rate, 3, func(i int) {
		calls.Add(1)
		at[i] = time.Now()
	})
	require.Equal(t, int64(n), calls.Load(), "each index once")
	require.GreaterOrEqual(t, at[n-1].Sub(t0), (n-2)*time.Second/rate, "the calls are spread at the rate, not sent at once")
}

func TestUntil(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	sent := []Sent[string]{{Key: "a", At: t0}, {Key: "b", At: t0.Add(time.Millisecond)}}
	l, _, ok := Until(sent, map[string]time.Time{"a": t0.Add(3 * time.Millisecond), "b": t0.Add(2 * time.Millisecond), "c": t0})
	require.True(t, ok)
	require.Equal(t, Latencies{3 * time.Millisecond, time.Millisecond}, l, "in the order sent, each from its own send")
	_, missing, ok := Until(sent, map[string]time.Time{"a": t0})
	require.False(t, ok)
	require.Equal(t, "b", missing)
}
