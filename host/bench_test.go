package host_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

// BenchmarkBulk creates b.N echo tasks in batches and waits for all of
// them to succeed, with 8 workers.
func BenchmarkBulk(b *testing.B) {
	st, err := badgerstore.Open(b.TempDir(), badgerstore.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st, host.Options{SystemWorkerCount: 8, Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	var done atomic.Int64
	finished := make(chan struct{}, 1)
	var want atomic.Int64
	cb := func(_ context.Context, t shared.Task) error {
		if t.Status == shared.StatusSuccess && done.Add(1) == want.Load() {
			finished <- struct{}{}
		}
		return nil
	}
	ctx := context.Background()
	if err := h.RegisterHandler(ctx, "echo", testworker, "echo", cb, host.HandlerOptions{MaxWorkerCount: 8, IdleShutdownTimeout: host.KeepForever}); err != nil {
		b.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer h.Stop(ctx)
	run := func(n int) {
		done.Store(0)
		want.Store(int64(n))
		for i := 0; i < n; i += 1000 {
			batch := make([]host.NewTask, min(1000, n-i))
			for j := range batch {
				batch[j] = host.NewTask{Type: "echo", Payload: json.RawMessage(`{}`)}
			}
			if _, err := h.CreateMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-finished:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d finished", done.Load(), n)
		}
	}
	run(64) // warm the workers
	b.ResetTimer()
	run(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
