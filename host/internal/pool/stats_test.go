package pool

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

// Not parallel: its worker, busy for as long as the test runs, is done
// before the parallel tests start, which look at the live processes.
func TestStatsShowWhatEachWorkerRuns(t *testing.T) {
	before := time.Now()
	p := newPool(t, NewSystem(2), setup(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, Request{Payload: json.RawMessage(`{"ms":60000}`), Task: shared.CallTask{ID: "running-task", Type: "test", Attempt: 1}}, nil)
		done <- err
	}()
	eventually(t, "the worker to run the task", func() bool {
		s := p.Stats()
		return len(s.Workers) == 1 && slices.Equal(s.Workers[0].Tasks, []string{"running-task"})
	})
	w := p.Stats().Workers[0]
	require.True(t, w.Busy)
	require.Positive(t, w.RSS, "a live process has resident memory")
	require.False(t, w.Started.Before(before.Add(-time.Second)))
	require.False(t, w.Started.After(time.Now()))

	cancel()
	require.Error(t, <-done)
	eventually(t, "the worker to be idle or gone", func() bool {
		s := p.Stats()
		return len(s.Workers) == 0 || len(s.Workers[0].Tasks) == 0
	})
}
