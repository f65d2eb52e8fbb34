package badgerstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// benchStore opens a store with Badger's default sizes; syncWrites makes
// Badger sync every commit itself instead of the group commit.
func benchStore(b *testing.B, syncWrites bool) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), Options{tune: func(o *badger.Options) { o.SyncWrites = syncWrites }})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	return s
}

func benchRecord(id string, typ string, t time.Time) *store.Record {
	return &store.Record{Task: shared.Task{
		ID: id, Type: typ, ThreadID: "main", Status: shared.StatusPending,
		DateCreated: t, DateModified: t,
		Payload: []byte(`{"image":"https://example.com/a.png","width":640,"height":480}`),
	}}
}

// syncStats counts the group commit's syncs and the time spent in them.
type syncStats struct {
	n    atomic.Int64
	busy atomic.Int64 // nanoseconds
}

// countSyncs wraps the store's sync (there is none with SyncWrites).
func countSyncs(s *Store) *syncStats {
	st := &syncStats{}
	if s.syncer != nil {
		sync := s.syncer.sync
		s.syncer.sync = func() error {
			start := time.Now()
			err := sync()
			st.n.Add(1)
			st.busy.Add(int64(time.Since(start)))
			return err
		}
	}
	return st
}

// report adds commits per sync and the mean sync time to b's metrics.
func (st *syncStats) report(b *testing.B, commits int) {
	if n := st.n.Load(); n > 0 {
		b.ReportMetric(float64(commits)/float64(n), "commits/sync")
		b.ReportMetric(float64(st.busy.Load())/float64(n)/1e6, "ms/sync")
	}
}

// runWriters calls op b.N times from the given number of goroutines and
// reports operations per second.
func runWriters(b *testing.B, writers int, unit string, op func(w, i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(w, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkCreate measures durable single-task creates: each is one
// transaction and is acknowledged only once synced.
func BenchmarkCreate(b *testing.B) {
	for _, sync := range []struct {
		name       string
		syncWrites bool
	}{{"group", false}, {"syncwrites", true}} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", sync.name, writers), func(b *testing.B) {
				s := benchStore(b, sync.syncWrites)
				syncs := countSyncs(s)
				ctx := b.Context()
				t0 := time.Now()
				runWriters(b, writers, "commits/s", func(_, i int) error {
					return s.Create(ctx, benchRecord(fmt.Sprintf("%032x", i), "bench", t0.Add(time.Duration(i))))
				})
				syncs.report(b, b.N)
			})
		}
	}
}

// BenchmarkCycle measures what a task costs the store end to end: create,
// claim, complete (success, retained), each its own durable transaction.
// With 64 workers over 8 types it approximates a busy host.
func BenchmarkCycle(b *testing.B) {
	for _, writers := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := benchStore(b, false)
			syncs := countSyncs(s)
			ctx := b.Context()
			t0 := time.Now()
			defer func() { syncs.report(b, 3*b.N) }()
			runWriters(b, writers, "tasks/s", func(w, i int) error {
				typ := fmt.Sprintf("type-%d", w%8)
				now := t0.Add(time.Duration(i))
				if err := s.Create(ctx, benchRecord(fmt.Sprintf("%032x", i), typ, now)); err != nil {
					return err
				}
				recs, err := s.Claim(ctx, typ, now.Add(time.Hour), "node", now.Add(2*time.Hour), 1)
				if err != nil || len(recs) != 1 {
					return fmt.Errorf("claim: %d tasks, %w", len(recs), err)
				}
				next := *recs[0]
				done := now.Add(time.Hour)
				retain := done.Add(time.Hour)
				next.Status = shared.StatusSuccess
				next.DateModified, next.DateCompleted, next.DateRetainUntil = done, &done, &retain
				next.Result = []byte(`{"ok":true}`)
				next.LeaseOwner, next.LeaseUntil = "", time.Time{}
				return s.Update(ctx, &next, shared.StatusProcessing)
			})
		})
	}
}

// BenchmarkQuery reads a 100-task page from a store of 10,000 tasks.
func BenchmarkQuery(b *testing.B) {
	s := benchStore(b, false)
	t0 := time.Now()
	var recs []*store.Record
	for i := range 10_000 {
		recs = append(recs, benchRecord(fmt.Sprintf("%032x", i), "q", t0.Add(time.Duration(i))))
		if len(recs) == 1_000 {
			require.NoError(b, s.Create(b.Context(), recs...))
			recs = recs[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		page, err := s.Query(b.Context(), store.Query{Type: "q", Status: shared.StatusPending, SortBy: store.SortDateModified, Desc: true})
		require.NoError(b, err)
		require.Len(b, page.Tasks, store.DefaultLimit)
	}
}

// BenchmarkQueryProcessing reads 100-task pages that hold processing
// tasks, in a store of 10,000 pending tasks and 256 processing ones (a
// host's running tasks): the processing tasks, those sorted by status
// that cross from pending into processing, and the first page sorted by
// status (pending tasks only).
func BenchmarkQueryProcessing(b *testing.B) {
	for _, processing := range []int{256, 2048} {
		b.Run(fmt.Sprintf("processing=%d", processing), func(b *testing.B) {
			benchmarkQueryProcessing(b, processing)
		})
	}
}

func benchmarkQueryProcessing(b *testing.B, processing int) {
	s := benchStore(b, false)
	ctx := b.Context()
	t0 := time.Now()
	const pending = 10_000
	var recs []*store.Record
	for i := range pending + processing {
		recs = append(recs, benchRecord(fmt.Sprintf("%032x", i), "q", t0.Add(time.Duration(i))))
		if len(recs) == 1_000 || i == pending+processing-1 {
			require.NoError(b, s.Create(ctx, recs...))
			recs = recs[:0]
		}
	}
	// The first created, in claims of 256.
	for left := processing; left > 0; left -= 256 {
		claimed, err := s.Claim(ctx, "q", t0.Add(time.Hour), "node", t0.Add(2*time.Hour), min(left, 256))
		require.NoError(b, err)
		require.Len(b, claimed, min(left, 256))
	}
	// The cursor after the first 9,950 pending tasks.
	crossing := store.Query{SortBy: store.SortStatus, Limit: 995}
	for range 10 {
		page, err := s.Query(ctx, crossing)
		require.NoError(b, err)
		crossing.Cursor = page.Cursor
	}
	crossing.Limit = 100
	for _, bc := range []struct {
		name string
		q    store.Query
		// want: how many of the page's tasks are processing
		want int
	}{
		{"status=processing", store.Query{Status: shared.StatusProcessing, SortBy: store.SortDateModified, Desc: true, Limit: 100}, 100},
		{"sort=status/crossing", crossing, 50},
		{"sort=status/first", store.Query{SortBy: store.SortStatus, Limit: 100}, 0},
		{"sort=created/first", store.Query{Limit: 100}, 100},
		{"sort=created/last", store.Query{Desc: true, Limit: 100}, 0},
		{"type,sort=modified/last", store.Query{Type: "q", SortBy: store.SortDateModified, Desc: true, Limit: 100}, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := s.Query(ctx, bc.q)
				require.NoError(b, err)
				require.Len(b, page.Tasks, 100)
				n := 0
				for _, r := range page.Tasks {
					if r.Status == shared.StatusProcessing {
						n++
					}
				}
				require.Equal(b, bc.want, n)
			}
		})
	}
}
