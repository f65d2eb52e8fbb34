package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/storetest"
	"github.com/taskhost/taskhost/shared"
)

// testOptions shrink Badger for tests that open dozens of stores at once.
func testOptions(t *testing.T) Options {
	return Options{
		Logger: hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Warn}),
		tune: func(o *badger.Options) {
			o.MemTableSize = 8 << 20
			o.BlockCacheSize = 1 << 20
			o.NumMemtables = 2
			o.NumCompactors = 2
			o.NumLevelZeroTables = 2
			o.NumLevelZeroTablesStall = 8
			o.ValueLogFileSize = 16 << 20
		},
	}
}

// setup opens a store in a new temporary directory, closed when the test
// ends.
func setup(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, testOptions(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, dir
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := setup(t)
		return s
	})
}

func TestConformanceInMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		opts := testOptions(t)
		opts.InMemory = true
		s, err := Open("", opts)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

func fullRecord() *store.Record {
	at := func(ms int64) *time.Time {
		t := time.UnixMilli(1_900_000_000_000 + ms).UTC()
		return &t
	}
	retain, interval, retries := int64(60_000), int64(5_000), 2
	return &store.Record{
		Task: shared.Task{
			ID: "0190a1b2c3d4e5f60718293a4b5c6d7e", Type: "image-resize", ThreadID: "main",
			Status:      shared.StatusSuccess,
			DateCreated: *at(0), DateModified: *at(1), DateCompleted: at(2), DateCancelled: at(3),
			DateRetainUntil: at(4), DateNextProcess: at(5),
			RetainFor: &retain, RetryInterval: &interval, RetriesRemaining: &retries,
			Payload:    []byte(`{"w":640}`),
			Result:     []byte(`{"path":"/out/x.png"}`),
			Error:      &shared.TaskError{Name: "Error", Message: "m", Permanent: true},
			ContextIDs: map[string]string{"b": "2", "a": "1"},
			Progress:   &shared.Progress{Percent: 99.5, Message: "almost"},
			Attempts:   4,
		},
		LeaseOwner: "node-1", LeaseUntil: *at(6),
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, testOptions(t))
	require.NoError(t, err)
	rec := fullRecord()
	pending := &store.Record{Task: shared.Task{ID: "p1", Type: "image-resize", Status: shared.StatusPending,
		DateCreated: time.UnixMilli(1_900_000_000_000).UTC(), DateModified: time.UnixMilli(1_900_000_000_000).UTC()}}
	require.NoError(t, s.Create(t.Context(), rec, pending))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice")
	_, err = s.Get(t.Context(), rec.ID)
	require.ErrorIs(t, err, shared.ErrClosed)

	s, err = Open(dir, testOptions(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	got, err := s.Get(t.Context(), rec.ID)
	require.NoError(t, err)
	require.Equal(t, rec, got)
	page, err := s.Query(t.Context(), store.Query{SortBy: store.SortStatus})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 2)
	require.Equal(t, pending.ID, page.Tasks[0].ID)
	claimed, err := s.Claim(t.Context(), "image-resize", time.UnixMilli(2_000_000_000_000), "n", time.Time{}, 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, pending.ID, claimed[0].ID)
	n, err := s.Sweep(t.Context(), time.UnixMilli(2_000_000_000_000), 10)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestOpenRefusesOtherFormat(t *testing.T) {
	t.Parallel()
	for _, v := range [][]byte{{schemaVersion + 1}, {0}, {1, 0}, {}} {
		dir := t.TempDir()
		s, err := Open(dir, testOptions(t))
		require.NoError(t, err)
		require.NoError(t, s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(schemaKey, v)
		}))
		require.NoError(t, s.Close())
		_, err = Open(dir, testOptions(t))
		require.ErrorContains(t, err, fmt.Sprintf("store format %x, want %d", v, schemaVersion))
	}

	_, err := Open("", Options{})
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
}

func TestLongStringsRefused(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	long := strings.Repeat("x", MaxStringLen+1)
	now := time.Now()
	for _, r := range []*store.Record{
		{Task: shared.Task{ID: long, Type: "t", Status: shared.StatusPending}},
		{Task: shared.Task{ID: "a", Type: long, Status: shared.StatusPending}},
		{Task: shared.Task{ID: "a", Type: "t", Status: shared.StatusProcessing}, LeaseOwner: long},
	} {
		require.ErrorIs(t, s.Create(t.Context(), r), shared.ErrInvalidArgument)
	}
	_, err := s.Claim(t.Context(), "t", now, long, now, 1)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	ok := &store.Record{Task: shared.Task{ID: strings.Repeat("i", MaxStringLen), Type: strings.Repeat("t", MaxStringLen),
		Status: shared.StatusPending, DateCreated: now, DateModified: now}}
	require.NoError(t, s.Create(t.Context(), ok))
	got, err := s.Claim(t.Context(), ok.Type, now, strings.Repeat("o", MaxStringLen), now, 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, ok.ID, got[0].ID)
}

// trickyStrings are type and owner names that break bare concatenation:
// empty, prefixes of each other, the bytes 0x00 and 0xff, the longest.
var trickyStrings = []string{"", "a", "ab", "a\x00", "a\xff", "\x00", "\xff", "\xff\xff", "b", strings.Repeat("\xff", MaxStringLen)}

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	var spaces []byte
	for _, space := range []byte{prefixRecord, prefixDispatch, prefixProcessing, prefixRetention, prefixSchedule} {
		spaces = append(spaces, space)
	}
	for _, sort := range []byte{prefixCreated, prefixModified, prefixCompleted} {
		for filter := range filterTypeStatus + 1 {
			spaces = append(spaces, sort|filter)
		}
	}
	for _, space := range spaces {
		typ, owner, status, t1, t2, ok := spaceHas(space)
		require.True(t, ok)
		for _, s := range trickyStrings {
			for _, id := range []string{"x", "\x00", "\xff", "0190a1b2c3d4e5f60718293a4b5c6d7e"} {
				p := keyParts{Space: space, ID: id}
				if typ {
					p.Type = s
				}
				if owner {
					p.Owner = s
				}
				if status {
					p.Status = 4
				}
				if t1 {
					p.Time = 0x0102030405060708
				}
				if t2 {
					p.Time2 = math.MaxUint64
				}
				key := appendKey(nil, &p)
				got, err := decodeKey(key)
				require.NoError(t, err, "%x", key)
				require.Equal(t, p, got)
				// Every proper prefix of a key is malformed or a key
				// with a shorter id, never silently something else.
				for i := range len(key) {
					if q, err := decodeKey(key[:i]); err == nil {
						require.Equal(t, p.Space, q.Space)
						require.True(t, strings.HasPrefix(p.ID, q.ID))
						require.Equal(t, p.Type, q.Type)
						require.Equal(t, p.Owner, q.Owner)
					}
				}
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x05}, {0x14}, {0x40, 'x'}, {prefixRecord}, {prefixDispatch, 3, 'a'}, {prefixCreatedStatus, 9, 0, 0, 0, 0, 0, 0, 0, 0, 'x'}} {
		_, err := decodeKey(bad)
		require.ErrorIs(t, err, errBadKey, "%x", bad)
	}
}

// TestKeyTypeScans checks that a scan of one type's prefix sees no other
// type, for every pair of tricky names.
func TestKeyTypeScans(t *testing.T) {
	t.Parallel()
	for _, a := range trickyStrings {
		for _, b := range trickyStrings {
			if a == b {
				continue
			}
			ka := appendKey(nil, &keyParts{Space: prefixCreatedType, Type: a, Time: 1, ID: "id"})
			require.False(t, bytes.HasPrefix(ka, appendString([]byte{prefixCreatedType}, b)), "%q under %q", a, b)
		}
	}
}

func TestTimeKeyOrder(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(-1, 999_999_999),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
		time.Date(2030, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		require.Less(t, timeKey(times[i-1]), timeKey(times[i]), "%v < %v", times[i-1], times[i])
	}
	for _, tm := range times[1:] {
		require.True(t, tm.Equal(keyTime(timeKey(tm))), "%v", tm)
	}
	require.Equal(t, timeKey(time.Time{}), timeKey(times[0]), "times before 1678 clamp")
	require.Equal(t, uint64(0), timeKey(times[0]))
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Less(t, optTimeKey(&far), optTimeKey(nil), "a missing time sorts last")
}

func TestIndexKeys(t *testing.T) {
	t.Parallel()
	r := fullRecord()
	keys := indexKeys(r)
	require.Nil(t, keys[slotDispatch])
	require.Nil(t, keys[slotProcessing])
	require.NotNil(t, keys[slotRetention])
	for slot, k := range keys[slotRetention:] {
		p, err := decodeKey(k)
		require.NoError(t, err, "slot %d", slot)
		require.Equal(t, r.ID, p.ID)
	}
	p, _ := decodeKey(keys[slotQuery+5])
	require.Equal(t, keyParts{Space: prefixCompletedTypeStatus, Type: r.Type, Status: 2, Time: timeKey(*r.DateCompleted), ID: r.ID}, p)

	r.Status = shared.StatusPending
	keys = indexKeys(r)
	p, err := decodeKey(keys[slotDispatch])
	require.NoError(t, err)
	require.Equal(t, keyParts{Space: prefixDispatch, Type: r.Type, Time: timeKey(*r.DateNextProcess), Time2: timeKey(r.DateCreated), ID: r.ID}, p)
	require.Nil(t, keys[slotRetention], "only terminal tasks are retained")

	r.Status = shared.StatusProcessing
	keys = indexKeys(r)
	p, err = decodeKey(keys[slotProcessing])
	require.NoError(t, err)
	require.Equal(t, keyParts{Space: prefixProcessing, Owner: r.LeaseOwner, ID: r.ID}, p)
	for i, space := range queryIndexes {
		require.Nil(t, keys[slotQuery+i], "a processing task is in no query index (%#x)", space)
	}
}

// keysWritten counts the keys (sets and deletes) that commits newer than
// version since wrote, and returns the newest version. Every version is
// still in the memtable in a small test store.
func keysWritten(t *testing.T, s *Store, since uint64) (n int, newest uint64) {
	t.Helper()
	require.NoError(t, s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v := it.Item().Version()
			if v > since {
				n++
			}
			newest = max(newest, v)
		}
		return nil
	}))
	return n, newest
}

// TestKeysPerTask counts the keys a task writes over its life: 5 + 6 + 2
// = 13 for a task removed when it finishes, 5 + 6 + 9 (+ 8 at the sweep)
// for a retained one, and 6 for a requeue. Format 3 wrote 8 + 9 + 2 and
// 8 + 9 + 9 (+ 8), and 9 for a requeue: pending tasks were also in the
// three indexes with a status filter alone. Format 2 wrote 14 + 13 + 8 =
// 35 and 14 + 13 + 17 (+ 14), and 13 for a requeue: it also had the six
// indexes without a status filter, where a claim and an end re-keyed
// dateModified and dateCompleted. Format 1 wrote 14 + 19 + 14 = 47: the
// claim and the end also moved the task through the six status indexes,
// which no longer hold processing tasks.
func TestKeysPerTask(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	t0 := time.UnixMilli(1_900_000_000_000).UTC()
	_, version := keysWritten(t, s, 0)
	step := func(what string, want int, fn func() error) {
		t.Helper()
		require.NoError(t, fn(), what)
		var n int
		n, version = keysWritten(t, s, version)
		t.Logf("%s: %d keys", what, n)
		require.Equal(t, want, n, "keys written by %s", what)
	}
	claim := func() (*store.Record, error) {
		recs, err := s.Claim(ctx, "k", t0.Add(time.Hour), "node", t0.Add(2*time.Hour), 1)
		if err == nil && len(recs) != 1 {
			err = fmt.Errorf("claimed %d tasks", len(recs))
		}
		if err != nil {
			return nil, err
		}
		return recs[0], nil
	}
	finished := func(r *store.Record, retain bool) *store.Record {
		next := *r
		done := t0.Add(90 * time.Minute)
		next.Status = shared.StatusSuccess
		next.DateModified, next.DateCompleted = done, &done
		next.Result = []byte(`{"ok":true}`)
		next.LeaseOwner, next.LeaseUntil = "", time.Time{}
		if retain {
			until := done.Add(time.Hour)
			next.DateRetainUntil = &until
		}
		return &next
	}

	// Finished and removed (retain_for 0): record, dispatch and the 3
	// type+status query indexes; the claim moves it out of dispatch and
	// the query indexes into processing; the end deletes record and
	// processing key.
	var r *store.Record
	step("create", 5, func() error { return s.Create(ctx, benchRecord("a", "k", t0)) })
	step("claim", 6, func() (err error) { r, err = claim(); return err })
	step("finish, removed", 2, func() error {
		return s.DeleteClaimed(ctx, store.Lease{ID: r.ID, Attempt: r.Attempts})
	})

	// Finished and retained: the end writes the record, deletes the
	// processing key, adds the retention key and the 6 query index keys;
	// the sweep deletes all 8 keys.
	step("create", 5, func() error { return s.Create(ctx, benchRecord("b", "k", t0)) })
	step("claim", 6, func() (err error) { r, err = claim(); return err })
	step("finish, retained", 9, func() error { return s.Update(ctx, finished(r, true), shared.StatusProcessing) })
	step("sweep", 8, func() error {
		n, err := s.Sweep(ctx, t0.Add(3*time.Hour), 10)
		if err == nil && n != 1 {
			err = fmt.Errorf("swept %d tasks", n)
		}
		return err
	})

	// A retry: processing to pending, back into dispatch and the 3
	// type+status query indexes.
	step("create", 5, func() error { return s.Create(ctx, benchRecord("c", "k", t0)) })
	step("claim", 6, func() (err error) { r, err = claim(); return err })
	step("requeue", 6, func() error {
		next := *r
		next.Status = shared.StatusPending
		next.DateModified = t0.Add(90 * time.Minute)
		next.LeaseOwner, next.LeaseUntil = "", time.Time{}
		return s.Update(ctx, &next, shared.StatusProcessing)
	})
}

func TestQueryPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q      store.Query
		prefix []byte
		fixed  int
		// unindexed: where processing tasks' keys would be; nil when
		// the index would not hold them.
		unindexed []byte
	}{
		{store.Query{SortBy: store.SortDateCreated}, []byte{prefixCreated}, 8, []byte{prefixCreated}},
		{store.Query{SortBy: store.SortDateModified, Type: "ab"}, []byte{prefixModifiedType, 2, 'a', 'b'}, 8, []byte{prefixModifiedType, 2, 'a', 'b'}},
		{store.Query{SortBy: store.SortDateCompleted, Status: shared.StatusFailed}, []byte{prefixCompletedStatus, 3}, 8, nil},
		{store.Query{SortBy: store.SortDateCompleted, Type: "a", Status: shared.StatusFailed}, []byte{prefixCompletedTypeStatus, 1, 'a', 3}, 8, nil},
		{store.Query{SortBy: store.SortStatus}, []byte{prefixCreatedStatus}, 9, []byte{prefixCreatedStatus, 1}},
		{store.Query{SortBy: store.SortStatus, Type: "a"}, []byte{prefixCreatedTypeStatus, 1, 'a'}, 9, []byte{prefixCreatedTypeStatus, 1, 'a', 1}},
		{store.Query{SortBy: store.SortStatus, Status: shared.StatusPending}, []byte{prefixCreatedStatus, 0}, 8, nil},
		{store.Query{SortBy: store.SortStatus, Type: "a", Status: shared.StatusCancelled}, []byte{prefixCreatedTypeStatus, 1, 'a', 4}, 8, nil},
		{store.Query{SortBy: store.SortStatus, Status: shared.StatusProcessing}, []byte{prefixCreatedStatus, 1}, 8, []byte{prefixCreatedStatus, 1}},
		{store.Query{SortBy: store.SortDateModified, Type: "a", Status: shared.StatusProcessing}, []byte{prefixModifiedTypeStatus, 1, 'a', 1}, 8, []byte{prefixModifiedTypeStatus, 1, 'a', 1}},
	} {
		prefix, fixed := queryPrefix(&tc.q)
		require.Equal(t, tc.prefix, prefix, "%+v", tc.q)
		require.Equal(t, tc.fixed, fixed, "%+v", tc.q)
		require.Equal(t, tc.unindexed, unindexedPrefix(&tc.q, prefix), "%+v", tc.q)
	}
	require.Equal(t, []byte{0x11, 2}, prefixEnd([]byte{0x11, 1, 0xff}))
	require.Nil(t, prefixEnd([]byte{0xff, 0xff}))

	// A page after a cursor meets the processing tasks' keys only if the
	// cursor is before them in its direction; a walk has reached them
	// when its key is at or past their start.
	proc := []byte{prefixCreatedStatus, 1}
	key := func(status byte) []byte {
		return appendKey(nil, &keyParts{Space: prefixCreatedStatus, Status: status, Time: 5, ID: "x"})
	}
	for _, tc := range []struct {
		after                 []byte
		asc, desc             bool
		withinAsc, withinDesc bool
	}{
		{nil, true, true, false, true},
		{key(0), true, false, false, true},
		{key(1), true, true, true, true},
		{key(2), false, true, true, false},
		{[]byte{prefixCreatedStatus, 1}, true, false, true, true},
		{[]byte{prefixCreatedStatus, 2}, false, true, true, false},
	} {
		require.Equal(t, tc.asc, reaches(tc.after, proc, false), "ascending after %x", tc.after)
		require.Equal(t, tc.desc, reaches(tc.after, proc, true), "descending after %x", tc.after)
		require.Equal(t, tc.withinAsc, within(tc.after, proc, prefixEnd(proc), false), "ascending at %x", tc.after)
		require.Equal(t, tc.withinDesc, within(tc.after, proc, prefixEnd(proc), true), "descending at %x", tc.after)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	minimal := &store.Record{Task: shared.Task{ID: "m", Type: "t", Status: shared.StatusPending}}
	empty := fullRecord()
	empty.Payload, empty.Result, empty.ContextIDs = []byte{}, []byte{}, map[string]string{}
	for _, r := range []*store.Record{fullRecord(), minimal, empty} {
		b := appendRecord(nil, r)
		got, err := decodeRecord(b)
		require.NoError(t, err)
		require.Equal(t, r, got)
		require.Equal(t, b, appendRecord(nil, got), "encoding is deterministic")
		for i := range len(b) {
			_, err := decodeRecord(b[:i])
			require.ErrorIs(t, err, errBadRecord, "prefix of %d bytes", i)
		}
		_, err = decodeRecord(append(slices.Clone(b), 0))
		require.ErrorIs(t, err, errBadRecord, "trailing byte")
	}
	// Payload and Result must not grow into each other.
	got, err := decodeRecord(appendRecord(nil, fullRecord()))
	require.NoError(t, err)
	_ = append(got.Payload, "xxxxxxxx"...)
	require.Equal(t, []byte(fullRecord().Result), []byte(got.Result))
}

func TestGroupSyncCoversEachWriter(t *testing.T) {
	t.Parallel()
	// started counts syncs begun; finished holds the numbers of those done.
	var started atomic.Int64
	var finished sync.Map
	g := newGroupSync(func() error {
		n := started.Add(1)
		runtime.Gosched()
		finished.Store(n, true)
		return nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := range 50 {
				epoch := g.enter()
				runtime.Gosched() // the transaction
				if (w+i)%5 == 0 {
					// Nothing to commit.
					if err := g.leave(epoch, false); err != nil {
						errs <- err
						return
					}
					continue
				}
				committed := started.Load()
				if err := g.leave(epoch, true); err != nil {
					errs <- err
					return
				}
				if _, ok := finished.Load(committed + 1); !ok {
					errs <- errors.New("acknowledged before a sync that started after the commit")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestGroupSyncWaitsForEpoch checks that a sync does not start while a
// writer of its epoch is still committing.
func TestGroupSyncWaitsForEpoch(t *testing.T) {
	t.Parallel()
	var syncs atomic.Int64
	g := newGroupSync(func() error {
		syncs.Add(1)
		return nil
	})
	a, b := g.enter(), g.enter()
	require.Equal(t, a, b)
	done := make(chan error)
	go func() { done <- g.leave(a, true) }()
	// a waits for b; b commits too and one sync covers both.
	require.NoError(t, g.leave(b, true))
	require.NoError(t, <-done)
	require.Equal(t, int64(1), syncs.Load())

	// A writer that commits nothing completes the epoch for the others.
	c, d := g.enter(), g.enter()
	go func() { done <- g.leave(c, true) }()
	require.NoError(t, g.leave(d, false))
	require.NoError(t, <-done)
	require.Equal(t, int64(2), syncs.Load())

	// Alone, a writer syncs at once.
	require.NoError(t, g.leave(g.enter(), true))
	require.Equal(t, int64(3), syncs.Load())
}

func TestGroupSyncErrorSticks(t *testing.T) {
	t.Parallel()
	fail := false
	g := newGroupSync(func() error {
		if fail {
			return errors.New("disk on fire")
		}
		return nil
	})
	require.NoError(t, g.leave(g.enter(), true))
	fail = true
	require.ErrorContains(t, g.leave(g.enter(), true), "disk on fire")
	fail = false
	require.ErrorContains(t, g.leave(g.enter(), true), "disk on fire", "after a failed sync nothing is trusted")
	require.NoError(t, g.leave(g.enter(), false), "a writer that committed nothing is not hurt")
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	opts.InMemory = true
	s, err := Open("", opts)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	ctx := t.Context()
	now := time.Now()
	require.ErrorIs(t, s.Create(ctx, fullRecord()), shared.ErrClosed)
	_, err = s.Claim(ctx, "t", now, "o", now, 1)
	require.ErrorIs(t, err, shared.ErrClosed)
	_, err = s.Query(ctx, store.Query{})
	require.ErrorIs(t, err, shared.ErrClosed)
	_, err = s.Sweep(ctx, now, 1)
	require.ErrorIs(t, err, shared.ErrClosed)
}

func FuzzDecodeKey(f *testing.F) {
	for _, k := range indexKeys(fullRecord()) {
		if k != nil {
			f.Add(k)
		}
	}
	f.Add(appendKey(nil, &keyParts{Space: prefixDispatch, Type: "\xff", Time: 1, Time2: 2, ID: "x"}))
	f.Add(appendKey(nil, &keyParts{Space: prefixSchedule, ID: "daily-sync"}))
	f.Add(appendKey(nil, &keyParts{Space: prefixProcessing, Owner: "", ID: "\x00"}))
	for _, bad := range [][]byte{nil, {0x14}, {prefixRecord}, {prefixDispatch, 3, 'a'}, {prefixCreatedStatus, 9, 0, 0, 0, 0, 0, 0, 0, 0, 'x'}, schemaKey} {
		f.Add(bad)
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		p, err := decodeKey(key)
		if err != nil {
			require.ErrorIs(t, err, errBadKey)
			return
		}
		// Every key that decodes is exactly the key its parts make.
		require.Equal(t, key, appendKey(nil, &p))
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, fullRecord()))
	f.Add(appendRecord(nil, &store.Record{Task: shared.Task{ID: "m", Type: "t", Status: shared.StatusPending}}))
	f.Add([]byte{recordVersion, 9})                     // bad status
	f.Add([]byte{recordVersion, 0, 0x80, 0x00, 1, 't'}) // overlong varint
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			require.ErrorIs(t, err, errBadRecord)
			return
		}
		// One round normalises (overlong varints, repeated or unordered
		// contextIds keys), which only drops bytes; after it the encoding
		// is a fixed point and decodes to the same record.
		once := appendRecord(nil, r)
		require.LessOrEqual(t, len(once), len(b))
		r2, err := decodeRecord(once)
		require.NoError(t, err)
		requireSameRecord(t, r, r2)
		require.Equal(t, once, appendRecord(nil, r2))
	})
}

// TestCreateTooBig: a batch beyond Badger's transaction limit is refused
// whole, saying what the limit is, and stores nothing.
func TestCreateTooBig(t *testing.T) {
	t.Parallel()
	s, _ := setup(t) // 8 MiB memtables: 1.2 MB per transaction
	now := time.UnixMilli(1_700_000_000_000)
	var recs []*store.Record
	for i := range 3000 {
		recs = append(recs, &store.Record{Task: shared.Task{ID: "t" + strconv.Itoa(100000+i), Type: "t", Status: shared.StatusPending, DateCreated: now, DateModified: now}})
	}
	err := s.Create(t.Context(), recs...)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "one transaction holds at most 1258291 bytes")
	require.ErrorContains(t, err, "split it")
	page, err := s.Query(t.Context(), store.Query{})
	require.NoError(t, err)
	require.Empty(t, page.Tasks, "nothing of the batch was stored")
	require.NoError(t, s.Create(t.Context(), recs[:500]...), "a batch within the limit is fine")
}

// TestDefaultBatchLimit: with the default options (16 MiB memtables, for
// memory) one transaction holds about 5,240 small tasks, as the README
// says: a batch of 5,200 is stored, one of 5,300 refused saying the limit.
func TestDefaultBatchLimit(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	now := time.UnixMilli(1_700_000_000_000)
	batch := func(from, n int) []*store.Record {
		recs := make([]*store.Record, n)
		for i := range recs {
			recs[i] = &store.Record{Task: shared.Task{ID: strconv.Itoa(1_000_000 + from + i), Type: "t", Status: shared.StatusPending,
				DateCreated: now, DateModified: now, Payload: []byte(`{"image":"https://example.com/a.png","width":640,"height":480}`)}}
		}
		return recs
	}
	require.NoError(t, s.Create(t.Context(), batch(0, 5200)...))
	err = s.Create(t.Context(), batch(5200, 5300)...)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "at most 2516582 bytes or 26214 keys of tasks and index entries, a new task is 5 keys (about 5242 small tasks)")
	counts, err := s.Counts(t.Context(), shared.StatusPending)
	require.NoError(t, err)
	require.Equal(t, 5200, counts["t"][shared.StatusPending], "nothing of the refused batch was stored")
}
