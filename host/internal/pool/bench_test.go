package pool

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/shared"
)

// BenchmarkColdStart measures spawn + handshake + initialise of a worker.
func BenchmarkColdStart(b *testing.B) {
	p, err := New(context.Background(), NewSystem(1), Config{
		Type: "bench", Path: testworker, Method: "echo", InitialiseMethod: "initialise",
		Logger: hclog.NewNullLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		w, err := p.spawn(ctx, int64(i+1), true)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		w.close()
		b.StartTimer()
	}
}

// BenchmarkWarmCall measures one call's round trip on a warm worker.
func BenchmarkWarmCall(b *testing.B) {
	benchCalls(b, 1)
}

// BenchmarkWarmCall8 measures throughput with 8 workers and 8 callers.
func BenchmarkWarmCall8(b *testing.B) {
	benchCalls(b, 8)
}

func benchCalls(b *testing.B, n int) {
	p, err := New(context.Background(), NewSystem(n), Config{
		Type: "bench", Path: testworker, Method: "echo", MaxWorkerCount: n,
		IdleShutdownTimeout: KeepForever, Logger: hclog.NewNullLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	req := Request{Payload: json.RawMessage(`{"n":1}`), Task: shared.CallTask{ID: "x", Type: "bench", Attempt: 1}}
	ctx := context.Background()
	// Warm every worker up first.
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { _, _ = p.Call(ctx, req, nil) })
	}
	wg.Wait()
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	for range n {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if _, err := p.Call(ctx, req, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
