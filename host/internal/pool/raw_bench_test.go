package pool

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/shared"
)

func BenchmarkRawInvoke(b *testing.B) {
	for _, procs := range []int{1, 8} {
		for _, callers := range []int{1, 8} {
			b.Run(fmt.Sprintf("procs=%d/callers=%d", procs, callers), func(b *testing.B) {
				p, err := New(context.Background(), NewSystem(1), Config{Type: "bench", Path: testworker, Method: "echo", Logger: hclog.NewNullLogger()})
				if err != nil {
					b.Fatal(err)
				}
				var ws []*worker
				for i := range procs {
					w, err := p.spawn(context.Background(), int64(i+1), false)
					if err != nil {
						b.Fatal(err)
					}
					defer w.close()
					ws = append(ws, w)
				}
				ctx := context.Background()
				var n atomic.Int64
				n.Store(int64(b.N))
				b.ResetTimer()
				var wg sync.WaitGroup
				for c := range callers {
					w := ws[c%procs]
					wg.Go(func() {
						for n.Add(-1) >= 0 {
							if _, err := w.rpc.Invoke(ctx, shared.Call{ID: 1, Method: "echo", Payload: []byte(`{"n":1}`)}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			})
		}
	}
}
