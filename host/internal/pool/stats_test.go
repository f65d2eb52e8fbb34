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

// Stats reads a worker's RSS from /proc at most every rssMaxAge.
func TestStatsReadsRSSAtMostEveryMaxAge(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "alloc"
	cfg.MinWorkers = 1
	p := newPool(t, NewSystem(1), cfg)
	pid := warmPIDs(t, p, 1)[0]
	p.rssMaxAge = time.Hour
	before := p.Stats().Workers[0].RSS
	require.Positive(t, before)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, Request{Payload: json.RawMessage(`{"MB":64,"HoldMS":60000}`), Task: shared.CallTask{ID: "alloc", Type: "test", Attempt: 1}}, nil)
		done <- err
	}()
	grown := before + 60<<20
	eventually(t, "the worker to hold 64 MiB more", func() bool {
		rss, err := residentBytes(pid)
		return err == nil && rss >= grown
	})
	require.Equal(t, before, p.Stats().Workers[0].RSS, "read less than rssMaxAge ago: not read again")
	p.rssMaxAge = 0
	require.GreaterOrEqual(t, p.Stats().Workers[0].RSS, grown, "older than rssMaxAge: read again")
	cancel() // the method returns when cancelled
	<-done
}
