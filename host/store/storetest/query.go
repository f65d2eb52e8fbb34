package storetest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

var allSorts = []store.SortField{store.SortDateCreated, store.SortDateModified, store.SortDateCompleted, store.SortStatus}

// queryCmp is the order of a sort field, ascending: the rule the store
// documents, computed in memory.
func queryCmp(sort store.SortField) func(a, b *store.Record) int {
	byID := func(a, b *store.Record) int { return cmp.Compare(a.ID, b.ID) }
	switch sort {
	case store.SortDateModified:
		return func(a, b *store.Record) int {
			return cmp.Or(a.DateModified.Compare(b.DateModified), byID(a, b))
		}
	case store.SortDateCompleted:
		return func(a, b *store.Record) int {
			return cmp.Or(cmpCompleted(a.DateCompleted, b.DateCompleted), byID(a, b))
		}
	case store.SortStatus:
		return func(a, b *store.Record) int {
			return cmp.Or(
				cmp.Compare(slices.Index(shared.Statuses(), a.Status), slices.Index(shared.Statuses(), b.Status)),
				a.DateCreated.Compare(b.DateCreated),
				byID(a, b))
		}
	}
	return func(a, b *store.Record) int {
		return cmp.Or(a.DateCreated.Compare(b.DateCreated), byID(a, b))
	}
}

// cmpCompleted orders a missing dateCompleted after every present one.
func cmpCompleted(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}

func matches(r *store.Record, q store.Query) bool {
	return (q.Type == "" || r.Type == q.Type) && (q.Status == "" || r.Status == q.Status)
}

// reference is what q must return over all its pages.
func reference(model map[string]*store.Record, q store.Query) []string {
	var recs []*store.Record
	for _, r := range model {
		if matches(r, q) {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, queryCmp(q.SortBy))
	if q.Desc {
		slices.Reverse(recs)
	}
	return ids(recs)
}

// walk pages through q and returns the ids in order and the page count.
// Every page but the last has a cursor; no page is empty unless it is the
// only one; no page is longer than the limit.
func (f *fixture) walk(t *testing.T, q store.Query) ([]string, int) {
	t.Helper()
	var got []string
	for pages := 1; ; pages++ {
		require.Less(t, pages, 10_000, "paging does not end: %+v", q)
		page, err := f.s.Query(f.ctx, q)
		require.NoError(t, err, "query %+v", q)
		require.LessOrEqual(t, len(page.Tasks), q.Limit, "query %+v", q)
		if pages > 1 {
			require.NotEmpty(t, page.Tasks, "empty page after a cursor: %+v", q)
		}
		got = append(got, ids(page.Tasks)...)
		if page.Cursor == "" {
			return got, pages
		}
		q.Cursor = page.Cursor
	}
}

// randomTask makes a task with times on a coarse grid, so that sort values
// tie often and the id tie-break matters.
func (f *fixture) randomTask(types []string) *store.Record {
	statuses := shared.Statuses()
	r := f.task(types[f.rng.IntN(len(types))], statuses[f.rng.IntN(len(statuses))], at(f.rng.Int64N(20)*1_000))
	f.randomize(r)
	return r
}

// randomize gives r a new modification time, completion time and lease.
func (f *fixture) randomize(r *store.Record) {
	r.DateModified = r.DateCreated.Add(time.Duration(f.rng.IntN(10)) * time.Second)
	r.DateCompleted = nil
	if f.rng.IntN(3) > 0 {
		r.DateCompleted = ptr(at(f.rng.Int64N(15) * 1_000))
	}
	r.LeaseOwner = ""
	if r.Status == shared.StatusProcessing {
		r.LeaseOwner = "n1"
	}
}

// verifyQueries checks every sort, direction and filter against the model.
func (f *fixture) verifyQueries(t *testing.T, model map[string]*store.Record, types []string) {
	t.Helper()
	filters := []store.Query{{}}
	for _, typ := range types {
		filters = append(filters, store.Query{Type: typ})
	}
	for _, st := range shared.Statuses() {
		filters = append(filters, store.Query{Status: st})
		for _, typ := range types {
			filters = append(filters, store.Query{Type: typ, Status: st})
		}
	}
	const limit = 7
	for _, sort := range append([]store.SortField{""}, allSorts...) {
		for _, desc := range []bool{false, true} {
			for _, q := range filters {
				q.SortBy, q.Desc, q.Limit = sort, desc, limit
				want := reference(model, q)
				got, pages := f.walk(t, q)
				require.Equal(t, want, got, "query %+v", q)
				require.Equal(t, max(1, (len(want)+limit-1)/limit), pages, "pages of query %+v", q)
			}
			// One page of DefaultLimit holds everything.
			q := store.Query{SortBy: sort, Desc: desc}
			page, err := f.s.Query(f.ctx, q)
			require.NoError(t, err)
			require.Equal(t, reference(model, q), ids(page.Tasks), "query %+v", q)
			require.Empty(t, page.Cursor)
		}
	}
}

func testQueryOrder(t *testing.T, f *fixture) {
	// "a" is a prefix of "ab": a filter on one must not match the other.
	types := []string{"a", "ab", "b"}
	queried := append(slices.Clone(types), "zz")
	model := make(map[string]*store.Record)
	var recs []*store.Record
	for range 80 {
		r := f.randomTask(types)
		recs = append(recs, r)
		model[r.ID] = r
	}
	f.create(t, recs...)
	f.verifyQueries(t, model, queried)

	// Change, delete and add tasks; every index must follow.
	for _, id := range slices.Sorted(maps.Keys(model)) {
		old := model[id]
		switch f.rng.IntN(10) {
		case 0:
			require.NoError(t, f.s.Delete(f.ctx, id))
			delete(model, id)
		case 1, 2, 3, 4:
			next := clone(old)
			next.Status = shared.Statuses()[f.rng.IntN(5)]
			if f.rng.IntN(4) == 0 {
				next.Type = types[f.rng.IntN(len(types))]
			}
			f.randomize(next)
			require.NoError(t, f.s.Update(f.ctx, next, old.Status))
			model[id] = next
		}
	}
	for range 15 {
		r := f.randomTask(types)
		f.create(t, r)
		model[r.ID] = r
	}
	f.verifyQueries(t, model, queried)
}

func testQueryLimits(t *testing.T, f *fixture) {
	const n = store.MaxLimit + 5
	var recs []*store.Record
	for i := range n {
		recs = append(recs, f.task("lim", shared.StatusPending, at(int64(i))))
	}
	for batch := range slices.Chunk(recs, 100) {
		f.create(t, batch...)
	}

	page, err := f.s.Query(f.ctx, store.Query{})
	require.NoError(t, err)
	require.Equal(t, ids(recs[:store.DefaultLimit]), ids(page.Tasks), "limit 0 is DefaultLimit")
	require.NotEmpty(t, page.Cursor)

	page, err = f.s.Query(f.ctx, store.Query{Limit: store.MaxLimit + 500})
	require.NoError(t, err)
	require.Equal(t, ids(recs[:store.MaxLimit]), ids(page.Tasks), "a limit above MaxLimit is cut to MaxLimit")
	require.NotEmpty(t, page.Cursor)
	page, err = f.s.Query(f.ctx, store.Query{Limit: store.MaxLimit + 500, Cursor: page.Cursor})
	require.NoError(t, err)
	require.Equal(t, ids(recs[store.MaxLimit:]), ids(page.Tasks))
	require.Empty(t, page.Cursor)

	page, err = f.s.Query(f.ctx, store.Query{Limit: n})
	require.NoError(t, err)
	require.Len(t, page.Tasks, store.MaxLimit)

	_, err = f.s.Query(f.ctx, store.Query{Limit: -1})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
}

func testQueryInvalid(t *testing.T, f *fixture) {
	for i := range 3 {
		f.create(t, f.task("inv", shared.StatusPending, at(int64(i))))
	}
	for _, cursor := range []string{"%%%", "AAAA", "not a cursor", strings.Repeat("A", 40), "\x00"} {
		_, err := f.s.Query(f.ctx, store.Query{Cursor: cursor})
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "cursor %q", cursor)
	}
	page, err := f.s.Query(f.ctx, store.Query{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.Cursor)
	for _, sort := range allSorts[1:] {
		_, err = f.s.Query(f.ctx, store.Query{SortBy: sort, Cursor: page.Cursor})
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "a dateCreated cursor with sort %s", sort)
	}
	_, err = f.s.Query(f.ctx, store.Query{Status: "running"})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	_, err = f.s.Query(f.ctx, store.Query{SortBy: "size"})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)

	page, err = f.s.Query(f.ctx, store.Query{Type: "nope"})
	require.NoError(t, err)
	require.Empty(t, page.Tasks)
	require.Empty(t, page.Cursor)
}

// testQueryProcessing pages through the orders that put claimed tasks
// between others (sorted by status, filtered by processing, with and
// without a type), in both directions, with pages that end on either side
// of the processing tasks and among them; then through pages that end on
// a processing task which finishes (or whose neighbours are claimed or
// requeued) before the next page. A store may keep processing tasks apart
// from its indexes (badgerstore does); they must page like any other.
func testQueryProcessing(t *testing.T, f *fixture) {
	types := []string{"p", "q"}
	var recs []*store.Record
	for i := range 24 {
		recs = append(recs, f.task(types[i%2], shared.StatusPending, at(int64(i)*1_000)))
	}
	f.create(t, recs...)
	// Ten claimed by two owners at different times, then some of the rest
	// finished, so that every status but cancelled has tasks of both types.
	for i := range 10 {
		r, err := f.claim(types[i%2], at(100_000+int64(i)*1_000), fmt.Sprintf("n%d", i%3), at(200_000))
		require.NoError(t, err)
		require.NotNil(t, r)
	}
	model := make(map[string]*store.Record)
	for _, r := range recs {
		model[r.ID] = f.get(t, r.ID)
	}
	finish := func(id string, status shared.Status, ms int64) {
		t.Helper()
		model[id] = f.update(t, id, func(r *store.Record) {
			r.Status = status
			r.DateModified = at(ms)
			r.DateCompleted = ptr(at(ms))
			r.LeaseOwner, r.LeaseUntil = "", time.Time{}
		})
	}
	for i, r := range recs[14:20] {
		finish(r.ID, []shared.Status{shared.StatusSuccess, shared.StatusFailed}[i%2], 150_000-int64(i)*1_000)
	}

	filters := []store.Query{{}, {Type: "p"}, {Status: shared.StatusProcessing}, {Type: "q", Status: shared.StatusProcessing}, {Status: shared.StatusPending}}
	for _, sort := range allSorts {
		for _, desc := range []bool{false, true} {
			for _, q := range filters {
				for _, limit := range []int{1, 3, 4, 100} {
					q.SortBy, q.Desc, q.Limit = sort, desc, limit
					got, _ := f.walk(t, q)
					require.Equal(t, reference(model, q), got, "query %+v", q)
				}
			}
		}
	}

	// crossing reads the first n tasks of q, which must end on a
	// processing task, lets change write, and checks that the next pages
	// hold exactly the tasks that now sort after that task as it was.
	crossing := func(q store.Query, n int, change func(last *store.Record)) {
		t.Helper()
		q.Limit = n
		page, err := f.s.Query(f.ctx, q)
		require.NoError(t, err)
		require.Equal(t, reference(model, q)[:n], ids(page.Tasks), "query %+v", q)
		require.NotEmpty(t, page.Cursor)
		last := page.Tasks[n-1]
		require.Equal(t, shared.StatusProcessing, last.Status, "query %+v", q)
		change(last)
		var want []string
		for _, id := range reference(model, q) {
			if c := queryCmp(q.SortBy)(model[id], last); (c > 0) != q.Desc && c != 0 {
				want = append(want, id)
			}
		}
		q.Cursor = page.Cursor
		got, _ := f.walk(t, q)
		require.Equal(t, want, got, "query %+v after its first page", q)
	}
	count := func(q store.Query) int { return len(reference(model, q)) }
	pending := count(store.Query{Status: shared.StatusPending})

	// Ascending by status: pending, then processing. The page ends on the
	// first processing task, which then succeeds; a pending task is
	// claimed.
	crossing(store.Query{SortBy: store.SortStatus}, pending+1, func(last *store.Record) {
		finish(last.ID, shared.StatusSuccess, 160_000)
		r, err := f.claim("p", at(161_000), "n1", at(200_000))
		require.NoError(t, err)
		require.NotNil(t, r)
		model[r.ID] = r
	})
	// Descending by status within a type: finished, then processing. The
	// page ends on the newest processing task of q, which then fails; the
	// oldest is requeued, to the pending tasks that come after.
	finished := count(store.Query{Type: "q", Status: shared.StatusSuccess}) + count(store.Query{Type: "q", Status: shared.StatusFailed})
	crossing(store.Query{SortBy: store.SortStatus, Type: "q", Desc: true}, finished+1, func(last *store.Record) {
		finish(last.ID, shared.StatusFailed, 170_000)
		procs := reference(model, store.Query{Type: "q", Status: shared.StatusProcessing})
		require.NotEmpty(t, procs)
		model[procs[0]] = f.update(t, procs[0], func(r *store.Record) {
			r.Status = shared.StatusPending
			r.DateModified = at(171_000)
			r.LeaseOwner, r.LeaseUntil = "", time.Time{}
		})
	})
	// Filtered by processing, by modification time: the page ends among
	// them, and the task after the cursor finishes.
	q := store.Query{Status: shared.StatusProcessing, SortBy: store.SortDateModified}
	crossing(q, 2, func(*store.Record) {
		finish(reference(model, q)[2], shared.StatusSuccess, 180_000)
	})
}

// testQueryConcurrentWrites pages through a query while one goroutine
// creates tasks and another flips tasks between pending and success. The
// pager waits for at least one write between pages, so the writes land
// between pages, not just before or after.
func testQueryConcurrentWrites(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name string
		q    store.Query
		// stable: the query's keys never move, so nothing at all may
		// repeat; otherwise only the changed tasks may.
		stable bool
	}{
		{"DateCreated", store.Query{}, true},
		{"DateCreatedDescByType", store.Query{Type: "c", Desc: true}, true},
		{"Status", store.Query{SortBy: store.SortStatus}, false},
		{"DateModifiedPendingDesc", store.Query{SortBy: store.SortDateModified, Status: shared.StatusPending, Desc: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fixture{open: f.open, s: f.open(t), ctx: t.Context(), rng: rand.New(rand.NewPCG(3, uint64(len(tc.name))))}
			pageWhileWriting(t, f, tc.q, tc.stable)
		})
	}
}

func pageWhileWriting(t *testing.T, f *fixture, q store.Query, stable bool) {
	const n = 200
	var all, volatile []*store.Record
	for i := range n {
		r := f.task("c", shared.StatusPending, at(int64(i)*1_000))
		all = append(all, r)
		if i%4 == 0 {
			volatile = append(volatile, r)
		}
	}
	f.create(t, all...)
	changed := make(map[string]bool)
	for _, r := range volatile {
		changed[r.ID] = true
	}

	ctx, stop := context.WithCancel(f.ctx)
	defer stop()
	progress := make(chan struct{}, 1)
	signal := func() {
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	fail := func(err error) {
		if ctx.Err() == nil {
			errs <- err
		}
	}
	newIDs := make([]string, 300)
	for i := range newIDs {
		newIDs[i] = f.id()
	}
	rng := rand.New(rand.NewPCG(5, 6))
	created := make([]time.Time, len(newIDs))
	for i := range created {
		// Before and after the pager's position alike.
		created[i] = at(rng.Int64N(n)*1_000 + 500)
	}
	wg.Go(func() {
		for i, id := range newIDs {
			if ctx.Err() != nil {
				return
			}
			r := &store.Record{Task: shared.Task{ID: id, Type: "c", ThreadID: "main", Status: shared.StatusPending,
				DateCreated: created[i], DateModified: created[i]}}
			if err := f.s.Create(ctx, r); err != nil {
				fail(fmt.Errorf("create: %w", err))
				return
			}
			signal()
		}
	})
	wg.Go(func() {
		for i := range 300 {
			if ctx.Err() != nil {
				return
			}
			r := volatile[i%len(volatile)]
			next := clone(r)
			next.DateModified = at(int64(n+i) * 1_000)
			if r.Status == shared.StatusPending {
				next.Status = shared.StatusSuccess
				next.DateCompleted = ptr(next.DateModified)
			} else {
				next.Status = shared.StatusPending
				next.DateCompleted = nil
			}
			if err := f.s.Update(ctx, next, r.Status); err != nil {
				fail(fmt.Errorf("update: %w", err))
				return
			}
			volatile[i%len(volatile)] = next
			signal()
		}
	})
	writersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(writersDone)
	}()

	seen := make(map[string]int)
	q.Limit = 9
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10_000, "paging does not end")
		page, err := f.s.Query(f.ctx, q)
		require.NoError(t, err)
		for _, r := range page.Tasks {
			require.True(t, matches(r, q), "task %s (%s, %s) does not match %+v", r.ID, r.Type, r.Status, q)
			seen[r.ID]++
		}
		if page.Cursor == "" {
			break
		}
		q.Cursor = page.Cursor
		select {
		case <-progress:
		case <-writersDone:
		}
	}
	stop()
	<-writersDone
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	for _, r := range all {
		if changed[r.ID] || !matches(r, q) {
			continue
		}
		require.Equal(t, 1, seen[r.ID], "unchanged task %s seen %d times", r.ID, seen[r.ID])
	}
	for id, c := range seen {
		if stable || !changed[id] {
			require.Equal(t, 1, c, "task %s seen %d times", id, c)
		}
	}
}
