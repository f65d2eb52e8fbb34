// Package storetest is the conformance suite of [store.Store]: every
// backend runs [Run] from its own tests and must pass all of it.
//
// The suite pins down what the interface comment leaves to words: claim
// order, index maintenance on every change, sweep boundaries, query
// order, filters and paging (also under concurrent writes), limits and
// errors. It uses no sleeps and no timing thresholds: concurrency is
// forced with channels, and every time it passes is explicit. Times are
// whole milliseconds, the precision every backend must keep.
package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Run runs the suite. open returns a new, empty store for one subtest
// and arranges for it to be closed when that test ends (t.Cleanup).
// Subtests run in parallel, each with its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"RoundTripAllFields", testRoundTripAllFields},
		{"RoundTripMinimal", testRoundTripMinimal},
		{"CreateBatch", testCreateBatch},
		{"CreateDuplicateStored", testCreateDuplicateStored},
		{"CreateDuplicateInBatch", testCreateDuplicateInBatch},
		{"CreateInvalid", testCreateInvalid},
		{"CreateCancelledContext", testCreateCancelledContext},
		{"GetNotFound", testGetNotFound},
		{"ClaimOrder", testClaimOrder},
		{"ClaimNotDue", testClaimNotDue},
		{"ClaimBatch", testClaimBatch},
		{"ClaimOnlyPendingOfType", testClaimOnlyPendingOfType},
		{"ClaimSetsFields", testClaimSetsFields},
		{"ClaimConcurrent", testClaimConcurrent},
		{"ClaimAfterEarlierCreate", testClaimAfterEarlierCreate},
		{"ClaimWhileCreating", testClaimWhileCreating},
		{"ClaimVersusCancel", testClaimVersusCancel},
		{"NextDue", testNextDue},
		{"UpdateCompareAndSwap", testUpdateCompareAndSwap},
		{"UpdateMovesIndexes", testUpdateMovesIndexes},
		{"UpdateRequeue", testUpdateRequeue},
		{"UpdateFencedByAttempt", testUpdateFencedByAttempt},
		{"Delete", testDelete},
		{"DeleteFrom", testDeleteFrom},
		{"Processing", testProcessing},
		{"Sweep", testSweep},
		{"SweepLimit", testSweepLimit},
		{"QueryOrder", testQueryOrder},
		{"QueryLimits", testQueryLimits},
		{"QueryInvalid", testQueryInvalid},
		{"QueryConcurrentWrites", testQueryConcurrentWrites},
		{"QueryProcessing", testQueryProcessing},
		{"Renew", testRenew},
		{"DeleteClaimed", testDeleteClaimed},
		{"ConcurrentOutcomes", testConcurrentOutcomes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &fixture{
				open: open,
				s:    open(t),
				ctx:  t.Context(),
				rng:  rand.New(rand.NewPCG(1, uint64(len(tc.name)))),
			})
		})
	}
}

// fixture is one subtest's store and helpers.
type fixture struct {
	open func(t *testing.T) store.Store
	s    store.Store
	ctx  context.Context
	rng  *rand.Rand
}

// t0 is the suite's epoch; at gives times relative to it.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ptr[T any](v T) *T { return &v }

// id returns a fresh random id in the contract's shape (32 hex digits).
func (f *fixture) id() string {
	return fmt.Sprintf("%016x%016x", f.rng.Uint64(), f.rng.Uint64())
}

// task returns a new record with just the required fields.
func (f *fixture) task(typ string, status shared.Status, created time.Time) *store.Record {
	return &store.Record{Task: shared.Task{
		ID: f.id(), Type: typ, ThreadID: "main", Status: status,
		DateCreated: created, DateModified: created,
	}}
}

func (f *fixture) create(t *testing.T, recs ...*store.Record) {
	t.Helper()
	require.NoError(t, f.s.Create(f.ctx, recs...))
}

func (f *fixture) get(t *testing.T, id string) *store.Record {
	t.Helper()
	r, err := f.s.Get(f.ctx, id)
	require.NoError(t, err)
	require.NotNil(t, r)
	return r
}

// claim claims one task; nil when none is due.
func (f *fixture) claim(typ string, now time.Time, owner string, until time.Time) (*store.Record, error) {
	recs, err := f.s.Claim(f.ctx, typ, now, owner, until, 1)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	if len(recs) > 1 {
		return nil, fmt.Errorf("claim with limit 1 took %d tasks", len(recs))
	}
	return recs[0], nil
}

func (f *fixture) requireGone(t *testing.T, id string) {
	t.Helper()
	_, err := f.s.Get(f.ctx, id)
	require.ErrorIs(t, err, shared.ErrNotFound)
}

// update applies change to a copy of the stored task and writes it back
// with compare-and-swap on the stored status; it returns the new version.
func (f *fixture) update(t *testing.T, id string, change func(r *store.Record)) *store.Record {
	t.Helper()
	old := f.get(t, id)
	next := clone(old)
	change(next)
	require.NoError(t, f.s.Update(f.ctx, next, old.Status))
	return next
}

// queryAll returns every task of q, walking all pages.
func (f *fixture) queryAll(t *testing.T, q store.Query) []*store.Record {
	t.Helper()
	var all []*store.Record
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10_000, "paging does not end")
		page, err := f.s.Query(f.ctx, q)
		require.NoError(t, err, "query %+v", q)
		all = append(all, page.Tasks...)
		if page.Cursor == "" {
			return all
		}
		q.Cursor = page.Cursor
	}
}

// ids lists the records' ids; nil for none.
func ids(recs []*store.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// clone is a deep copy of r.
func clone(r *store.Record) *store.Record {
	c := *r
	for _, p := range []**time.Time{&c.DateCompleted, &c.DateCancelled, &c.DateRetainUntil, &c.DateNextProcess} {
		if *p != nil {
			*p = ptr(**p)
		}
	}
	for _, p := range []**int64{&c.RetainFor, &c.RetryInterval} {
		if *p != nil {
			*p = ptr(**p)
		}
	}
	if c.RetriesRemaining != nil {
		c.RetriesRemaining = ptr(*c.RetriesRemaining)
	}
	c.Payload = slices.Clone(c.Payload)
	c.Result = slices.Clone(c.Result)
	if c.Error != nil {
		c.Error = ptr(*c.Error)
	}
	if c.Progress != nil {
		c.Progress = ptr(*c.Progress)
	}
	if c.ContextIDs != nil {
		c.ContextIDs = make(map[string]string, len(r.ContextIDs))
		for k, v := range r.ContextIDs {
			c.ContextIDs[k] = v
		}
	}
	return &c
}

// normal is r in a form require.Equal can compare across backends: times
// in UTC without monotonic readings, raw JSON checked apart (a backend may
// reformat it), an empty contextIds map as nil.
func normal(t *testing.T, want, got *store.Record) (*store.Record, *store.Record) {
	t.Helper()
	want, got = clone(want), clone(got)
	for _, pair := range [][2]*json.RawMessage{{&want.Payload, &got.Payload}, {&want.Result, &got.Result}} {
		w, g := *pair[0], *pair[1]
		if w == nil {
			require.Nil(t, g, "raw JSON present after a round trip")
		} else {
			require.JSONEq(t, string(w), string(g))
		}
		*pair[0], *pair[1] = nil, nil
	}
	for _, r := range []*store.Record{want, got} {
		r.DateCreated = norm(r.DateCreated)
		r.DateModified = norm(r.DateModified)
		r.LeaseUntil = norm(r.LeaseUntil)
		for _, p := range []*time.Time{r.DateCompleted, r.DateCancelled, r.DateRetainUntil, r.DateNextProcess} {
			if p != nil {
				*p = norm(*p)
			}
		}
		if len(r.ContextIDs) == 0 {
			r.ContextIDs = nil
		}
	}
	return want, got
}

func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// requireRecord checks that got is want, field by field.
func requireRecord(t *testing.T, want, got *store.Record) {
	t.Helper()
	require.NotNil(t, got)
	w, g := normal(t, want, got)
	require.Equal(t, w, g)
}

// requireAllFieldsSet fails if any field of v (recursively through
// embedded structs and pointers to structs) is zero, so that a field added
// to the task later cannot slip past the round-trip test.
func requireAllFieldsSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct && v.Type() != reflect.TypeFor[*time.Time]() {
		require.False(t, v.IsNil(), "%s is not set", path)
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeFor[time.Time]() {
		require.False(t, v.IsZero(), "%s is not set", path)
		return
	}
	for i := range v.NumField() {
		requireAllFieldsSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
	}
}

func testRoundTripAllFields(t *testing.T, f *fixture) {
	rec := &store.Record{
		Task: shared.Task{
			ID:               f.id(),
			Type:             "round-trip",
			ThreadID:         "node-7",
			Status:           shared.StatusFailed,
			DateCreated:      at(1),
			DateModified:     at(1_002),
			DateCompleted:    ptr(at(2_003)),
			DateCancelled:    ptr(at(3_004)),
			DateRetainUntil:  ptr(at(400_000_005)),
			DateNextProcess:  ptr(at(-5_006)),
			RetainFor:        ptr(int64(60_000)),
			RetryInterval:    ptr(int64(5_000)),
			RetriesRemaining: ptr(2),
			Payload:          []byte(`{"a":[1,2.5,{"b":"\u00fc\"q"}],"n":null,"t":true}`),
			Result:           []byte(`"done"`),
			Error:            &shared.TaskError{Name: "Boom", Message: "it broke: \"badly\"", Permanent: true},
			ContextIDs:       map[string]string{"org": "o-1", "user": "u \u00e9"},
			Progress:         &shared.Progress{Percent: 42.5, Message: "halfway"},
			Attempts:         3,
		},
		LeaseOwner: "node-7",
		LeaseUntil: at(9_999),
	}
	requireAllFieldsSet(t, reflect.ValueOf(rec), "Record")
	f.create(t, rec)
	requireRecord(t, rec, f.get(t, rec.ID))

	// Zero values behind pointers are values, not absence.
	zeros := f.task("round-trip", shared.StatusPending, at(7))
	zeros.RetriesRemaining = ptr(0)
	zeros.RetainFor = ptr(int64(0))
	zeros.RetryInterval = ptr(int64(-1))
	zeros.Error = &shared.TaskError{}
	zeros.Progress = &shared.Progress{}
	zeros.DateNextProcess = ptr(at(7))
	f.create(t, zeros)
	requireRecord(t, zeros, f.get(t, zeros.ID))

	// Any valid JSON, and any string inside the JSON fields: NUL
	// characters too, which PostgreSQL's jsonb refuses.
	nul := f.task("round-trip", shared.StatusFailed, at(8))
	nul.Payload = []byte(`{"s":"a\u0000b","z":0.10}`)
	nul.Result = []byte(`["\u0000"]`)
	nul.Error = &shared.TaskError{Name: "Crash", Message: "stderr: \x00\x01 binary"}
	nul.ContextIDs = map[string]string{"k\x00": "v\x00"}
	nul.Progress = &shared.Progress{Message: "\x00"}
	f.create(t, nul)
	requireRecord(t, nul, f.get(t, nul.ID))
	update := clone(nul)
	update.Result = []byte(`{"again":"\u0000"}`)
	require.NoError(t, f.s.Update(f.ctx, update, nul.Status))
	requireRecord(t, update, f.get(t, nul.ID))
}

func testRoundTripMinimal(t *testing.T, f *fixture) {
	rec := f.task("minimal", shared.StatusPending, at(0))
	f.create(t, rec)
	got := f.get(t, rec.ID)
	requireRecord(t, rec, got)
	require.Nil(t, got.DateCompleted)
	require.Nil(t, got.DateCancelled)
	require.Nil(t, got.DateRetainUntil)
	require.Nil(t, got.DateNextProcess)
	require.Nil(t, got.RetainFor)
	require.Nil(t, got.RetryInterval)
	require.Nil(t, got.RetriesRemaining)
	require.Nil(t, got.Payload)
	require.Nil(t, got.Result)
	require.Nil(t, got.Error)
	require.Nil(t, got.Progress)
	require.Empty(t, got.ContextIDs)
	require.Zero(t, got.Attempts)
	require.Empty(t, got.LeaseOwner)
	require.True(t, got.LeaseUntil.IsZero())
}

func testCreateBatch(t *testing.T, f *fixture) {
	recs := []*store.Record{
		f.task("batch", shared.StatusPending, at(0)),
		f.task("batch", shared.StatusProcessing, at(1)),
		f.task("batch", shared.StatusSuccess, at(2)),
	}
	recs[1].LeaseOwner = "n1"
	f.create(t, recs...)
	for _, r := range recs {
		requireRecord(t, r, f.get(t, r.ID))
	}
	require.Equal(t, ids(recs), ids(f.queryAll(t, store.Query{Type: "batch"})))
}

// requireNoTrace checks that the task id left nothing behind: no record
// and no entry in any index.
func (f *fixture) requireNoTrace(t *testing.T, id, typ string, now time.Time) {
	t.Helper()
	f.requireGone(t, id)
	for _, sort := range []store.SortField{store.SortDateCreated, store.SortDateModified, store.SortDateCompleted, store.SortStatus} {
		for _, q := range []store.Query{{SortBy: sort}, {SortBy: sort, Type: typ}} {
			require.NotContains(t, ids(f.queryAll(t, q)), id, "query %+v", q)
		}
	}
	r, err := f.claim(typ, now, "probe", now)
	require.NoError(t, err)
	if r != nil {
		require.NotEqual(t, id, r.ID)
	}
}

func testCreateDuplicateStored(t *testing.T, f *fixture) {
	a := f.task("dup", shared.StatusPending, at(0))
	f.create(t, a)

	b := f.task("dup-other", shared.StatusPending, at(1))
	again := f.task("dup-again", shared.StatusSuccess, at(2))
	again.ID = a.ID
	err := f.s.Create(f.ctx, b, again)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorIs(t, err, store.ErrExists, "a create made twice under one id says so")

	requireRecord(t, a, f.get(t, a.ID))
	f.requireNoTrace(t, b.ID, b.Type, at(10))
	require.Empty(t, f.queryAll(t, store.Query{Type: "dup-again"}))
	require.Empty(t, f.queryAll(t, store.Query{Status: shared.StatusSuccess}))
	require.Equal(t, []string{a.ID}, ids(f.queryAll(t, store.Query{})))
}

func testCreateDuplicateInBatch(t *testing.T, f *fixture) {
	c := f.task("dup", shared.StatusPending, at(0))
	other := f.task("dup", shared.StatusPending, at(1))
	twin := f.task("dup", shared.StatusPending, at(2))
	twin.ID = c.ID
	require.ErrorIs(t, f.s.Create(f.ctx, c, other, twin), shared.ErrInvalidArgument)
	f.requireNoTrace(t, c.ID, "dup", at(10))
	f.requireNoTrace(t, other.ID, "dup", at(10))
}

func testCreateInvalid(t *testing.T, f *fixture) {
	good := f.task("ok", shared.StatusPending, at(0))
	for name, change := range map[string]func(r *store.Record){
		"no id":      func(r *store.Record) { r.ID = "" },
		"no type":    func(r *store.Record) { r.Type = "" },
		"bad status": func(r *store.Record) { r.Status = "running" },
		"no status":  func(r *store.Record) { r.Status = "" },
	} {
		bad := f.task("ok", shared.StatusPending, at(1))
		change(bad)
		require.ErrorIs(t, f.s.Create(f.ctx, good, bad), shared.ErrInvalidArgument, name)
		f.requireGone(t, good.ID)
	}
}

func testCreateCancelledContext(t *testing.T, f *fixture) {
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	r := f.task("cancelled", shared.StatusPending, at(0))
	require.ErrorIs(t, f.s.Create(ctx, r), context.Canceled)
	f.requireGone(t, r.ID)
}

func testGetNotFound(t *testing.T, f *fixture) {
	f.create(t, f.task("x", shared.StatusPending, at(0)))
	_, err := f.s.Get(f.ctx, f.id())
	require.ErrorIs(t, err, shared.ErrNotFound)
}

// claimCmp is the claim order: Due, then DateCreated, then ID.
func claimCmp(a, b *store.Record) int {
	if c := a.Due().Compare(b.Due()); c != 0 {
		return c
	}
	if c := a.DateCreated.Compare(b.DateCreated); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func testClaimOrder(t *testing.T, f *fixture) {
	var recs []*store.Record
	add := func(created int64, next *int64) *store.Record {
		r := f.task("q", shared.StatusPending, at(created))
		if next != nil {
			r.DateNextProcess = ptr(at(*next))
		}
		recs = append(recs, r)
		return r
	}
	add(0, ptr(int64(5_000)))    // due later than created
	add(1_000, nil)              // due at created
	add(0, ptr(int64(1_000)))    // same due as above, created earlier
	add(2_000, ptr(int64(-500))) // due before it was created
	for range 6 {
		add(3_000, nil) // same due and created: by id
	}
	for range 10 {
		add(f.rng.Int64N(40)*100, ptr(f.rng.Int64N(40)*100))
	}
	f.rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	f.create(t, recs...)

	want := slices.SortedFunc(slices.Values(recs), claimCmp)
	now := at(10_000)
	for i, w := range want {
		got, err := f.claim("q", now, "n1", now.Add(time.Minute))
		require.NoError(t, err)
		require.NotNil(t, got, "claim %d", i)
		require.Equal(t, w.ID, got.ID, "claim %d", i)
	}
	got, err := f.claim("q", now, "n1", now.Add(time.Minute))
	require.NoError(t, err)
	require.Nil(t, got)
}

func testClaimNotDue(t *testing.T, f *fixture) {
	later := f.task("q", shared.StatusPending, at(0))
	later.DateNextProcess = ptr(at(5_000))
	f.create(t, later)

	got, err := f.claim("q", at(4_999), "n1", at(60_000))
	require.NoError(t, err)
	require.Nil(t, got, "a task due later is not claimed")
	requireRecord(t, later, f.get(t, later.ID))

	got, err = f.claim("q", at(5_000), "n1", at(60_000))
	require.NoError(t, err)
	require.NotNil(t, got, "a task due exactly now is claimed")
	require.Equal(t, later.ID, got.ID)

	created := f.task("q", shared.StatusPending, at(7_000))
	f.create(t, created)
	got, err = f.claim("q", at(6_999), "n1", at(60_000))
	require.NoError(t, err)
	require.Nil(t, got, "without DateNextProcess a task is due when created")
}

// testClaimBatch claims with a limit: the batches together are the due
// tasks in claim order, none bigger than the limit, and a task not yet due
// is never in one.
func testClaimBatch(t *testing.T, f *fixture) {
	var due, later []*store.Record
	for i := range 23 {
		r := f.task("b", shared.StatusPending, at(int64(i%7)*100))
		r.DateNextProcess = ptr(at(f.rng.Int64N(50) * 100))
		due = append(due, r)
	}
	for range 5 {
		r := f.task("b", shared.StatusPending, at(0))
		r.DateNextProcess = ptr(at(10_001 + f.rng.Int64N(1_000)))
		later = append(later, r)
	}
	other := f.task("b2", shared.StatusPending, at(0))
	f.create(t, append(append(slices.Clone(due), later...), other)...)

	for _, limit := range []int{0, -1} {
		_, err := f.s.Claim(f.ctx, "b", at(10_000), "n1", at(60_000), limit)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "limit %d", limit)
	}
	now := at(10_000)
	var got []string
	for batch := 0; ; batch++ {
		recs, err := f.s.Claim(f.ctx, "b", now, "n1", at(60_000), 4)
		require.NoError(t, err)
		require.LessOrEqual(t, len(recs), 4, "batch %d", batch)
		if len(recs) == 0 {
			break
		}
		require.Less(t, batch, len(due), "claims never run dry")
		for _, r := range recs {
			require.Equal(t, shared.StatusProcessing, r.Status)
			require.Equal(t, now, r.DateModified)
			require.Equal(t, "n1", r.LeaseOwner)
			requireRecord(t, r, f.get(t, r.ID))
			got = append(got, r.ID)
		}
	}
	require.Equal(t, ids(slices.SortedFunc(slices.Values(due), claimCmp)), got)
	for _, r := range append(later, other) {
		requireRecord(t, r, f.get(t, r.ID))
	}
	recs, err := f.s.Claim(f.ctx, "b", at(20_000), "n1", at(60_000), 100)
	require.NoError(t, err)
	require.ElementsMatch(t, ids(later), ids(recs))
}

func testClaimOnlyPendingOfType(t *testing.T, f *fixture) {
	var others []*store.Record
	// "q\x01": the smallest byte every backend can store after "q"
	// (PostgreSQL's text takes no NUL).
	for _, typ := range []string{"qq", "Q", "q ", "q\x01"} {
		others = append(others, f.task(typ, shared.StatusPending, at(0)))
	}
	for _, st := range shared.Statuses()[1:] {
		r := f.task("q", st, at(0))
		r.LeaseOwner = "n0"
		others = append(others, r)
	}
	f.create(t, others...)
	got, err := f.claim("q", at(10_000), "n1", at(60_000))
	require.NoError(t, err)
	require.Nil(t, got)

	mine := f.task("q", shared.StatusPending, at(5))
	f.create(t, mine)
	got, err = f.claim("q", at(10_000), "n1", at(60_000))
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, mine.ID, got.ID)
	for _, o := range others {
		requireRecord(t, o, f.get(t, o.ID))
	}
}

func testClaimSetsFields(t *testing.T, f *fixture) {
	rec := f.task("q", shared.StatusPending, at(0))
	rec.Attempts = 2
	rec.DateNextProcess = ptr(at(100))
	rec.Payload = []byte(`{"k":1}`)
	rec.RetriesRemaining = ptr(1)
	rec.RetryInterval = ptr(int64(1_000))
	rec.Error = &shared.TaskError{Name: "Error", Message: "last attempt"}
	f.create(t, rec)

	now, until := at(1_234), at(61_234)
	got, err := f.claim("q", now, "node-a", until)
	require.NoError(t, err)
	want := clone(rec)
	want.Status = shared.StatusProcessing
	want.Attempts = 3
	want.DateModified = now
	want.LeaseOwner = "node-a"
	want.LeaseUntil = until
	requireRecord(t, want, got)
	requireRecord(t, want, f.get(t, rec.ID))

	require.Equal(t, []string{rec.ID}, ids(f.queryAll(t, store.Query{Status: shared.StatusProcessing})))
	require.Empty(t, f.queryAll(t, store.Query{Status: shared.StatusPending}))
	_, ok, err := f.s.NextDue(f.ctx, "q")
	require.NoError(t, err)
	require.False(t, ok)
	procs, err := f.s.Processing(f.ctx, "node-a")
	require.NoError(t, err)
	require.Equal(t, []string{rec.ID}, ids(procs))
}

func testClaimConcurrent(t *testing.T, f *fixture) {
	const tasks, claimers = 200, 8
	var recs []*store.Record
	for i := range tasks {
		recs = append(recs, f.task("race", shared.StatusPending, at(int64(i%17))))
	}
	f.create(t, recs...)

	var cs []claimer
	for c := range claimers {
		// Claimers take batches of different sizes.
		cs = append(cs, claimer{f: f, owner: fmt.Sprintf("claimer-%d", c), batch: 1 + c%3})
	}
	seen := claimRace(t, "race", cs)
	require.Len(t, seen, tasks, "every task claimed")
	for id, n := range seen {
		require.Equal(t, 1, n, "task %s claimed %d times", id, n)
	}
	total := 0
	for c := range claimers {
		procs, err := f.s.Processing(f.ctx, fmt.Sprintf("claimer-%d", c))
		require.NoError(t, err)
		for _, r := range procs {
			require.Equal(t, 1, r.Attempts)
		}
		total += len(procs)
	}
	require.Equal(t, tasks, total, "each claimed task is processing under its claimer")
}

// claimer is one goroutine of claimRace: it claims through f's store.
type claimer struct {
	f     *fixture
	owner string
	batch int
}

// claimRace starts the claimers at once, each claiming tasks of typ in
// batches until a claim returns none, and returns how often each task was
// claimed. A claimed task must come back processing under its claimer,
// on its first attempt.
func claimRace(t *testing.T, typ string, claimers []claimer) map[string]int {
	t.Helper()
	start := make(chan struct{})
	type result struct {
		ids []string
		err error
	}
	results := make(chan result, len(claimers))
	for _, c := range claimers {
		go func() {
			var res result
			defer func() { results <- res }()
			<-start
			for {
				recs, err := c.f.s.Claim(c.f.ctx, typ, at(1_000), c.owner, at(60_000), c.batch)
				if err != nil {
					res.err = err
					return
				}
				if len(recs) == 0 {
					return
				}
				for _, r := range recs {
					if r.LeaseOwner != c.owner || r.Status != shared.StatusProcessing || r.Attempts != 1 {
						res.err = fmt.Errorf("claimed task %s: owner %q, status %s, attempts %d", r.ID, r.LeaseOwner, r.Status, r.Attempts)
						return
					}
					res.ids = append(res.ids, r.ID)
				}
			}
		}()
	}
	close(start)
	seen := make(map[string]int)
	for range claimers {
		res := <-results
		require.NoError(t, res.err)
		for _, id := range res.ids {
			seen[id]++
		}
	}
	return seen
}

func testNextDue(t *testing.T, f *fixture) {
	_, ok, err := f.s.NextDue(f.ctx, "n")
	require.NoError(t, err)
	require.False(t, ok, "no task")

	notPending := f.task("n", shared.StatusSuccess, at(-10_000))
	other := f.task("n2", shared.StatusPending, at(-10_000))
	f.create(t, notPending, other)
	_, ok, err = f.s.NextDue(f.ctx, "n")
	require.NoError(t, err)
	require.False(t, ok, "only pending tasks of the type count")

	a := f.task("n", shared.StatusPending, at(3_000))
	b := f.task("n", shared.StatusPending, at(1_000))
	b.DateNextProcess = ptr(at(8_000))
	c := f.task("n", shared.StatusPending, at(2_000))
	c.DateNextProcess = ptr(at(2_500))
	f.create(t, a, b, c)

	for _, want := range []time.Time{at(2_500), at(3_000), at(8_000)} {
		due, ok, err := f.s.NextDue(f.ctx, "n")
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, want.Equal(due), "want %v, got %v", want, due)
		_, err = f.claim("n", due, "n1", due.Add(time.Hour))
		require.NoError(t, err)
	}
	_, ok, err = f.s.NextDue(f.ctx, "n")
	require.NoError(t, err)
	require.False(t, ok)
}

func testUpdateCompareAndSwap(t *testing.T, f *fixture) {
	rec := f.task("u", shared.StatusPending, at(0))
	f.create(t, rec)

	next := clone(rec)
	next.Status = shared.StatusCancelled
	next.DateModified = at(10)
	next.DateCancelled = ptr(at(10))
	for _, from := range shared.Statuses()[1:] {
		require.ErrorIs(t, f.s.Update(f.ctx, next, from), store.ErrConflict, "from %s", from)
		requireRecord(t, rec, f.get(t, rec.ID))
	}
	require.NoError(t, f.s.Update(f.ctx, next, shared.StatusPending))
	requireRecord(t, next, f.get(t, rec.ID))
	require.ErrorIs(t, f.s.Update(f.ctx, next, shared.StatusPending), store.ErrConflict, "a second swap from the old status")

	missing := f.task("u", shared.StatusPending, at(0))
	err := f.s.Update(f.ctx, missing, shared.StatusPending)
	require.ErrorIs(t, err, shared.ErrNotFound)
	require.NotErrorIs(t, err, store.ErrConflict)
	f.requireGone(t, missing.ID)
}

func testUpdateMovesIndexes(t *testing.T, f *fixture) {
	rec := f.task("u", shared.StatusPending, at(0))
	f.create(t, rec)

	done := f.update(t, rec.ID, func(r *store.Record) {
		r.Status = shared.StatusSuccess
		r.DateModified = at(500)
		r.DateCompleted = ptr(at(500))
		r.Result = []byte(`{"ok":true}`)
	})
	require.Empty(t, f.queryAll(t, store.Query{Status: shared.StatusPending}))
	require.Empty(t, f.queryAll(t, store.Query{Type: "u", Status: shared.StatusPending}))
	require.Equal(t, []string{rec.ID}, ids(f.queryAll(t, store.Query{Status: shared.StatusSuccess})))
	require.Equal(t, []string{rec.ID}, ids(f.queryAll(t, store.Query{Type: "u", Status: shared.StatusSuccess, SortBy: store.SortDateCompleted})))
	got, err := f.claim("u", at(10_000), "n1", at(60_000))
	require.NoError(t, err)
	require.Nil(t, got, "a task that left pending is not claimed")
	_, ok, err := f.s.NextDue(f.ctx, "u")
	require.NoError(t, err)
	require.False(t, ok)

	// A change of type moves every type index too.
	f.update(t, done.ID, func(r *store.Record) { r.Type = "v" })
	for _, sort := range []store.SortField{store.SortDateCreated, store.SortDateModified, store.SortDateCompleted, store.SortStatus} {
		require.Empty(t, f.queryAll(t, store.Query{Type: "u", SortBy: sort}))
		require.Equal(t, []string{rec.ID}, ids(f.queryAll(t, store.Query{Type: "v", SortBy: sort})))
		require.Equal(t, []string{rec.ID}, ids(f.queryAll(t, store.Query{Type: "v", Status: shared.StatusSuccess, SortBy: sort})))
	}
}

func testUpdateRequeue(t *testing.T, f *fixture) {
	rec := f.task("r", shared.StatusPending, at(0))
	f.create(t, rec)
	claimed, err := f.claim("r", at(100), "n1", at(60_000))
	require.NoError(t, err)
	require.NotNil(t, claimed)

	// A failed attempt with retries left: pending again, due later.
	f.update(t, rec.ID, func(r *store.Record) {
		r.Status = shared.StatusPending
		r.DateModified = at(200)
		r.DateNextProcess = ptr(at(5_200))
		r.RetriesRemaining = ptr(0)
		r.LeaseOwner, r.LeaseUntil = "", time.Time{}
		r.Error = &shared.TaskError{Name: "Error", Message: "try again"}
	})
	procs, err := f.s.Processing(f.ctx, "n1")
	require.NoError(t, err)
	require.Empty(t, procs)
	due, ok, err := f.s.NextDue(f.ctx, "r")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, at(5_200).Equal(due))
	got, err := f.claim("r", at(5_199), "n2", at(60_000))
	require.NoError(t, err)
	require.Nil(t, got)
	got, err = f.claim("r", at(5_200), "n2", at(60_000))
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, "n2", got.LeaseOwner)
}

func testDelete(t *testing.T, f *fixture) {
	pending := f.task("d", shared.StatusPending, at(0))
	processing := f.task("d", shared.StatusProcessing, at(1))
	processing.LeaseOwner = "n1"
	retained := f.task("d", shared.StatusSuccess, at(2))
	retained.DateCompleted = ptr(at(3))
	retained.DateRetainUntil = ptr(at(4))
	keep := f.task("d", shared.StatusPending, at(5))
	f.create(t, pending, processing, retained, keep)

	for _, r := range []*store.Record{pending, processing, retained} {
		require.NoError(t, f.s.Delete(f.ctx, r.ID))
		f.requireGone(t, r.ID)
	}
	require.Equal(t, []string{keep.ID}, ids(f.queryAll(t, store.Query{})))
	procs, err := f.s.Processing(f.ctx, "n1")
	require.NoError(t, err)
	require.Empty(t, procs)
	n, err := f.s.Sweep(f.ctx, at(1_000_000), 100)
	require.NoError(t, err)
	require.Zero(t, n, "a deleted task is not swept")
	got, err := f.claim("d", at(1_000), "n1", at(60_000))
	require.NoError(t, err)
	require.Equal(t, keep.ID, got.ID, "a deleted task is not claimed")

	require.ErrorIs(t, f.s.Delete(f.ctx, pending.ID), shared.ErrNotFound)
	require.ErrorIs(t, f.s.Delete(f.ctx, f.id(), shared.StatusPending), shared.ErrNotFound)
}

func testDeleteFrom(t *testing.T, f *fixture) {
	rec := f.task("d", shared.StatusFailed, at(0))
	f.create(t, rec)
	err := f.s.Delete(f.ctx, rec.ID, shared.StatusPending, shared.StatusSuccess, shared.StatusCancelled)
	require.ErrorIs(t, err, store.ErrConflict)
	require.NotErrorIs(t, err, shared.ErrNotFound)
	requireRecord(t, rec, f.get(t, rec.ID))
	require.NoError(t, f.s.Delete(f.ctx, rec.ID, shared.StatusSuccess, shared.StatusFailed))
	f.requireGone(t, rec.ID)
	require.Empty(t, f.queryAll(t, store.Query{Status: shared.StatusFailed}))
}

func testProcessing(t *testing.T, f *fixture) {
	procs, err := f.s.Processing(f.ctx, "nobody")
	require.NoError(t, err)
	require.Empty(t, procs)

	var recs []*store.Record
	for i := range 6 {
		recs = append(recs, f.task("p", shared.StatusPending, at(int64(i))))
	}
	f.create(t, recs...)
	owners := []string{"a", "ab", "a", "b", "ab", "a"}
	byOwner := map[string][]string{}
	for _, o := range owners {
		r, err := f.claim("p", at(100), o, at(60_000))
		require.NoError(t, err)
		byOwner[o] = append(byOwner[o], r.ID)
	}
	// Left pending, or already done, a task is not processing.
	f.create(t, f.task("p", shared.StatusPending, at(0)))
	done := f.task("p", shared.StatusSuccess, at(0))
	done.LeaseOwner = "a"
	f.create(t, done)

	for o, want := range byOwner {
		got, err := f.s.Processing(f.ctx, o)
		require.NoError(t, err)
		require.ElementsMatch(t, want, ids(got), "owner %s", o)
		for _, r := range got {
			require.Equal(t, shared.StatusProcessing, r.Status)
		}
	}

	// Finishing one and handing another over move them.
	f.update(t, byOwner["a"][0], func(r *store.Record) {
		r.Status = shared.StatusSuccess
		r.DateCompleted = ptr(at(200))
	})
	f.update(t, byOwner["a"][1], func(r *store.Record) { r.LeaseOwner = "b" })
	got, err := f.s.Processing(f.ctx, "a")
	require.NoError(t, err)
	require.ElementsMatch(t, byOwner["a"][2:], ids(got))
	got, err = f.s.Processing(f.ctx, "b")
	require.NoError(t, err)
	require.ElementsMatch(t, append([]string{byOwner["a"][1]}, byOwner["b"]...), ids(got))
}

func testSweep(t *testing.T, f *fixture) {
	now := at(100_000)
	retained := func(st shared.Status, until *time.Time) *store.Record {
		r := f.task("s", st, at(0))
		if st.Terminal() {
			r.DateCompleted = ptr(at(1_000))
		}
		r.DateRetainUntil = until
		return r
	}
	gone := []*store.Record{
		retained(shared.StatusSuccess, ptr(at(50_000))),
		retained(shared.StatusFailed, ptr(at(99_999))),
		retained(shared.StatusCancelled, ptr(at(-1_000_000))),
	}
	stay := []*store.Record{
		retained(shared.StatusSuccess, ptr(now)), // strictly before now only
		retained(shared.StatusFailed, ptr(at(100_001))),
		retained(shared.StatusCancelled, nil), // kept forever
		retained(shared.StatusPending, ptr(at(0))),
		retained(shared.StatusProcessing, ptr(at(0))),
	}
	f.create(t, append(slices.Clone(gone), stay...)...)

	_, err := f.s.Sweep(f.ctx, now, 0)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	n, err := f.s.Sweep(f.ctx, now, 100)
	require.NoError(t, err)
	require.Equal(t, len(gone), n)
	for _, r := range gone {
		f.requireGone(t, r.ID)
	}
	for _, r := range stay {
		requireRecord(t, r, f.get(t, r.ID))
	}
	require.ElementsMatch(t, ids(stay), ids(f.queryAll(t, store.Query{})))

	n, err = f.s.Sweep(f.ctx, now, 100)
	require.NoError(t, err)
	require.Zero(t, n)

	// The task retained until exactly now goes a moment later.
	n, err = f.s.Sweep(f.ctx, now.Add(time.Millisecond), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	f.requireGone(t, stay[0].ID)

	// A task whose retention was lifted (retried) is not swept.
	f.update(t, stay[1].ID, func(r *store.Record) {
		r.Status = shared.StatusPending
		r.DateCompleted = nil
	})
	n, err = f.s.Sweep(f.ctx, at(1_000_000), 100)
	require.NoError(t, err)
	require.Zero(t, n)
}

func testSweepLimit(t *testing.T, f *fixture) {
	var recs []*store.Record
	for i := range 5 {
		r := f.task("s", shared.StatusSuccess, at(0))
		r.DateRetainUntil = ptr(at(int64(i)))
		recs = append(recs, r)
	}
	f.create(t, recs...)
	for _, want := range []int{2, 2, 1, 0} {
		n, err := f.s.Sweep(f.ctx, at(1_000), 2)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
	require.Empty(t, f.queryAll(t, store.Query{}))
}

// testClaimAfterEarlierCreate creates tasks due before the ones already
// claimed, and after the queue ran empty: a backend that remembers where
// its last claim was must still find them.
func testClaimAfterEarlierCreate(t *testing.T, f *fixture) {
	claim := func() *store.Record {
		t.Helper()
		r, err := f.claim("e", at(100_000), "n1", at(200_000))
		require.NoError(t, err)
		return r
	}
	late := f.task("e", shared.StatusPending, at(50_000))
	later := f.task("e", shared.StatusPending, at(60_000))
	f.create(t, late, later)
	require.Equal(t, late.ID, claim().ID)

	early := f.task("e", shared.StatusPending, at(10_000))
	f.create(t, early)
	require.Equal(t, early.ID, claim().ID)
	require.Equal(t, later.ID, claim().ID)
	require.Nil(t, claim())

	// Empty, then a task due long ago, and one moved earlier by Update.
	old := f.task("e", shared.StatusPending, at(-1_000_000))
	f.create(t, old)
	require.Equal(t, old.ID, claim().ID)
	notYet := f.task("e", shared.StatusPending, at(0))
	notYet.DateNextProcess = ptr(at(500_000))
	f.create(t, notYet)
	require.Nil(t, claim())
	f.update(t, notYet.ID, func(r *store.Record) { r.DateNextProcess = ptr(at(1)) })
	require.Equal(t, notYet.ID, claim().ID)
	require.Nil(t, claim())
	_, ok, err := f.s.NextDue(f.ctx, "e")
	require.NoError(t, err)
	require.False(t, ok)
}

// testClaimWhileCreating claims from several goroutines while others
// create tasks due at random times, many before tasks already claimed.
// Once creating stops, claiming until nil must have taken every task
// exactly once: none stranded, none twice.
func testClaimWhileCreating(t *testing.T, f *fixture) {
	const creators, perCreator, claimers = 4, 50, 4
	batches := make([][]*store.Record, creators)
	for c := range batches {
		for range perCreator {
			batches[c] = append(batches[c], f.task("w", shared.StatusPending, at(f.rng.Int64N(1_000))))
		}
	}
	now := at(10_000)
	created := make(chan struct{}, 1)
	createsDone := make(chan struct{})
	var creating sync.WaitGroup
	errs := make(chan error, creators+claimers)
	for _, batch := range batches {
		creating.Go(func() {
			for _, r := range batch {
				if err := f.s.Create(f.ctx, r); err != nil {
					errs <- err
					return
				}
				select {
				case created <- struct{}{}:
				default:
				}
			}
		})
	}
	go func() {
		creating.Wait()
		close(createsDone)
	}()
	results := make(chan []string, claimers)
	for c := range claimers {
		go func() {
			var got []string
			defer func() { results <- got }()
			draining := false
			for {
				recs, err := f.s.Claim(f.ctx, "w", now, fmt.Sprint(c), now, 1+c%3)
				if err != nil {
					errs <- err
					return
				}
				if len(recs) > 0 {
					for _, r := range recs {
						got = append(got, r.ID)
					}
					continue
				}
				if draining {
					return
				}
				select {
				case <-created:
				case <-createsDone:
					draining = true
				}
			}
		}()
	}
	seen := make(map[string]int)
	for range claimers {
		for _, id := range <-results {
			seen[id]++
		}
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, batch := range batches {
		for _, r := range batch {
			require.Equal(t, 1, seen[r.ID], "task %s due %v claimed %d times", r.ID, r.Due(), seen[r.ID])
		}
	}
	require.Len(t, seen, creators*perCreator)
}

// testClaimVersusCancel races claimers against a canceller that moves
// pending tasks to cancelled with compare-and-swap: each task ends up
// either claimed once or cancelled, never both.
func testClaimVersusCancel(t *testing.T, f *fixture) {
	const tasks, claimers = 200, 4
	var recs []*store.Record
	for i := range tasks {
		recs = append(recs, f.task("x", shared.StatusPending, at(int64(i))))
	}
	f.create(t, recs...)

	start := make(chan struct{})
	claimedBy := make(chan []string, claimers)
	errs := make(chan error, claimers+1)
	for c := range claimers {
		go func() {
			var got []string
			defer func() { claimedBy <- got }()
			<-start
			for {
				recs, err := f.s.Claim(f.ctx, "x", at(1_000_000), fmt.Sprint(c), at(2_000_000), 1+c%3)
				if err != nil {
					errs <- err
					return
				}
				if len(recs) == 0 {
					return
				}
				for _, r := range recs {
					got = append(got, r.ID)
				}
			}
		}()
	}
	cancelled := make(chan map[string]bool, 1)
	go func() {
		won := make(map[string]bool)
		defer func() { cancelled <- won }()
		<-start
		// From the back: the claimers start at the front.
		for _, r := range slices.Backward(recs) {
			next := clone(r)
			next.Status = shared.StatusCancelled
			next.DateCancelled = ptr(at(5))
			err := f.s.Update(f.ctx, next, shared.StatusPending)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				errs <- err
				return
			}
			won[r.ID] = true
		}
	}()
	close(start)
	claimed := make(map[string]int)
	for range claimers {
		for _, id := range <-claimedBy {
			claimed[id]++
		}
	}
	won := <-cancelled
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, r := range recs {
		stored := f.get(t, r.ID)
		if won[r.ID] {
			require.Zero(t, claimed[r.ID], "task %s cancelled and claimed", r.ID)
			require.Equal(t, shared.StatusCancelled, stored.Status)
			continue
		}
		require.Equal(t, 1, claimed[r.ID], "task %s neither cancelled nor claimed once", r.ID)
		require.Equal(t, shared.StatusProcessing, stored.Status)
	}
}
