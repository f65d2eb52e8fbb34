package badgerstore

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// writeFormat turns s's data into format 3, 2 or 1: pending tasks also
// in the indexes with a status filter alone; with format 2 or 1 every
// task also in the indexes without a status filter and no values in the
// processing index; with format 1 the processing tasks in the status
// indexes too.
func writeFormat(t *testing.T, s *Store, version byte) {
	t.Helper()
	require.NoError(t, s.db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			b, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			r, err := decodeRecord(b)
			if err != nil {
				return err
			}
			sorts := []byte{prefixCreated, prefixModified, prefixCompleted}
			if r.Status == shared.StatusPending {
				for _, sort := range sorts {
					p := queryKeyParts(r, sort|filterStatus)
					if err := txn.Set(appendKey(nil, &p), nil); err != nil {
						return err
					}
				}
			}
			if version == 3 {
				continue
			}
			for _, sort := range sorts {
				for _, filter := range []byte{filterNone, filterType} {
					p := queryKeyParts(r, sort|filter)
					if err := txn.Set(appendKey(nil, &p), nil); err != nil {
						return err
					}
				}
			}
			if r.Status != shared.StatusProcessing {
				continue
			}
			// Format 2 kept no value in the processing index.
			if err := txn.Set(indexKeys(r)[slotProcessing], nil); err != nil {
				return err
			}
			if version == 1 {
				for _, key := range statusIndexKeys(r) {
					if err := txn.Set(key, nil); err != nil {
						return err
					}
				}
			}
		}
		return txn.Set(schemaKey, []byte{version})
	}))
}

// oldIndexKeys counts the keys of processing tasks in the status
// indexes, the keys in indexes without a status filter and the keys of
// pending tasks in the indexes with a status filter alone, and returns
// the format version.
func oldIndexKeys(t *testing.T, s *Store) (processing, unfiltered, pendingAlone int, version []byte) {
	t.Helper()
	proc, _ := statusCode(shared.StatusProcessing)
	pending, _ := statusCode(shared.StatusPending)
	require.NoError(t, s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			if key[0]&0xf0 == 0 {
				continue
			}
			if key[0]&filterStatus == 0 {
				unfiltered++
				continue
			}
			p, err := decodeKey(key)
			if err != nil {
				return err
			}
			if p.Status == proc {
				processing++
			}
			if p.Status == pending && key[0]&filterType == 0 {
				pendingAlone++
			}
		}
		item, err := txn.Get(schemaKey)
		if err != nil {
			return err
		}
		version, err = item.ValueCopy(nil)
		return err
	}))
	return processing, unfiltered, pendingAlone, version
}

// TestMigrate opens stores of formats 1, 2 and 3. Format 3 had pending
// tasks in the indexes with a status filter alone too, format 2 also
// every task in the indexes without a status filter, and format 1 also
// processing tasks in the status indexes: Open deletes those keys, and
// queries and counts give what they gave before.
func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, from := range []byte{1, 2, 3} {
		t.Run(fmt.Sprintf("from %d", from), func(t *testing.T) {
			t.Parallel()
			testMigrate(t, from)
		})
	}
}

func testMigrate(t *testing.T, from byte) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions(t))
	require.NoError(t, err)
	ctx := t.Context()
	t0 := time.UnixMilli(1_900_000_000_000).UTC()
	var recs []*store.Record
	for i := range 9 {
		recs = append(recs, benchRecord(fmt.Sprintf("t%d", i), []string{"m", "n"}[i%2], t0.Add(time.Duration(i)*time.Second)))
	}
	done := t0.Add(time.Minute)
	recs[8].Status, recs[8].DateCompleted = shared.StatusSuccess, &done
	// A type whose only task is processing.
	alone := benchRecord("alone", "o", t0.Add(time.Hour))
	alone.Status, alone.LeaseOwner = shared.StatusProcessing, "c"
	require.NoError(t, s.Create(ctx, append(recs, alone)...))
	for i, typ := range []string{"m", "m", "n"} {
		claimed, err := s.Claim(ctx, typ, t0.Add(time.Hour), []string{"a", "b"}[i%2], t0.Add(2*time.Hour), 1)
		require.NoError(t, err)
		require.Len(t, claimed, 1)
	}

	queries := []store.Query{
		{SortBy: store.SortStatus}, {SortBy: store.SortStatus, Desc: true}, {SortBy: store.SortStatus, Type: "m"},
		{Status: shared.StatusProcessing}, {Status: shared.StatusProcessing, SortBy: store.SortDateModified, Desc: true},
		{Type: "n", Status: shared.StatusProcessing, SortBy: store.SortDateCompleted}, {Status: shared.StatusPending},
		{}, {Desc: true}, {Type: "m", SortBy: store.SortDateModified}, {SortBy: store.SortDateCompleted, Desc: true},
	}
	answers := func(s *Store) (pages [][]string, counts map[string]map[shared.Status]int) {
		for _, q := range queries {
			var got []string
			for q.Limit = 2; ; {
				page, err := s.Query(ctx, q)
				require.NoError(t, err)
				for _, r := range page.Tasks {
					got = append(got, r.ID)
				}
				if q.Cursor = page.Cursor; q.Cursor == "" {
					break
				}
			}
			pages = append(pages, got)
		}
		counts, err := s.Counts(ctx)
		require.NoError(t, err)
		return pages, counts
	}
	wantPages, wantCounts := answers(s)
	require.Len(t, wantPages[0], 10)
	require.Equal(t, []string{"t0", "t1", "t2", "alone"}, wantPages[3])
	require.Equal(t, []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "alone"}, wantPages[7])
	counted := func(pending, processing, success int) map[shared.Status]int {
		return map[shared.Status]int{shared.StatusPending: pending, shared.StatusProcessing: processing, shared.StatusSuccess: success,
			shared.StatusFailed: 0, shared.StatusCancelled: 0}
	}
	require.Equal(t, map[string]map[shared.Status]int{"m": counted(2, 2, 1), "n": counted(3, 1, 0), "o": counted(0, 1, 0)}, wantCounts)

	writeFormat(t, s, from)
	processing, unfiltered, pendingAlone, version := oldIndexKeys(t, s)
	if from <= 2 {
		require.Equal(t, 10*6, unfiltered)
	}
	if from == 1 {
		require.Equal(t, 4*6, processing)
	}
	require.Equal(t, 5*3, pendingAlone, "the 5 pending tasks in the 3 indexes with a status filter alone")
	require.Equal(t, []byte{from}, version)
	require.NoError(t, s.Close())

	var log bytes.Buffer
	opts := testOptions(t)
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: &log, Level: hclog.Info})
	s, err = Open(dir, opts)
	require.NoError(t, err)
	if from == 1 {
		require.Contains(t, log.String(), "migrated store format: from=1 to=2 processing_tasks=4")
	}
	if from <= 2 {
		require.Contains(t, log.String(), "migrated store format: from=2 to=3")
	}
	require.Contains(t, log.String(), "migrated store format: from=3 to=4")
	processing, unfiltered, pendingAlone, version = oldIndexKeys(t, s)
	require.Zero(t, processing, "no processing task is left in a status index")
	require.Zero(t, unfiltered, "no index without a status filter is left")
	require.Zero(t, pendingAlone, "no pending task is left in an index with a status filter alone")
	require.Equal(t, []byte{schemaVersion}, version)
	pages, counts := answers(s)
	require.Equal(t, wantPages, pages)
	require.Equal(t, wantCounts, counts)
	require.NoError(t, s.Close())

	// Format 4 opens as it is.
	log.Reset()
	s, err = Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NotContains(t, log.String(), "migrated")
	pages, counts = answers(s)
	require.Equal(t, wantPages, pages)
	require.Equal(t, wantCounts, counts)
}
