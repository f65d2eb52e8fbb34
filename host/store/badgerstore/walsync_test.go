package badgerstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// openValueLogStore opens a store whose memtables and value-log files
// are 1 MiB, so that they rotate quickly, and which keeps values over
// 1 KiB in the value log; gcInterval is Options.GCInterval.
func openValueLogStore(t *testing.T, gcInterval time.Duration) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	opts := testOptions(t)
	opts.GCInterval = gcInterval
	opts.tune = func(o *badger.Options) {
		o.MemTableSize = 1 << 20
		o.NumMemtables = 2
		o.BlockCacheSize = 1 << 20
		o.ValueThreshold = 1 << 10
		o.ValueLogFileSize = 1 << 20
		o.NumLevelZeroTables = 1
		o.NumLevelZeroTablesStall = 4
	}
	s, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, dir
}

// logFiles lists the files in dir whose names end in suffix.
func logFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			names = append(names, e.Name())
		}
	}
	return names
}

func syncedPaths(l *logSync) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var paths []string
	for p := range l.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

func TestLogSyncFindsTheLogs(t *testing.T) {
	t.Parallel()
	dir, vdir := t.TempDir(), t.TempDir()
	for _, name := range []string{"00001.mem", "00002.mem", "MANIFEST", "000003.sst", "KEYREGISTRY"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(vdir, "000001.vlog"), []byte("x"), 0o600))
	l := newLogSync(dir, vdir)
	t.Cleanup(l.close)

	require.NoError(t, l.sync())
	require.Equal(t, []string{filepath.Join(dir, "00001.mem"), filepath.Join(dir, "00002.mem"), filepath.Join(vdir, "000001.vlog")}, syncedPaths(l))

	// A flushed memtable's log is deleted: its descriptor is let go.
	require.NoError(t, os.Remove(filepath.Join(dir, "00001.mem")))
	require.NoError(t, l.sync())
	require.Equal(t, []string{filepath.Join(dir, "00002.mem"), filepath.Join(vdir, "000001.vlog")}, syncedPaths(l))

	// No memtable log at all: Badger's layout is not what logSync knows.
	require.NoError(t, os.Remove(filepath.Join(dir, "00002.mem")))
	require.ErrorContains(t, l.sync(), "no memtable log")
}

// TestLogSyncFollowsBadger checks the file names against Badger's real
// layout while memtables rotate and large values go to the value log:
// every durable write leaves logSync holding the memtable and value logs
// Badger has, and no more.
func TestLogSyncFollowsBadger(t *testing.T) {
	t.Parallel()
	s, dir := openValueLogStore(t, 0)
	logs := func() (mem, vlog int) {
		return len(logFiles(t, dir, ".mem")), len(logFiles(t, dir, ".vlog"))
	}
	now := time.UnixMilli(1_700_000_000_000)
	payload := []byte(`"` + strings.Repeat("p", 2<<10) + `"`) // above ValueThreshold
	maxVlogs := 0
	for i := range 40 {
		var batch []*store.Record
		for j := range 50 {
			batch = append(batch, &store.Record{Task: shared.Task{
				ID: fmt.Sprintf("t-%03d-%02d", i, j), Type: "t", Status: shared.StatusPending,
				DateCreated: now, DateModified: now, Payload: payload,
			}})
		}
		vlogSyncs := s.logs.vlogSyncs.Load()
		require.NoError(t, s.Create(context.Background(), batch...))
		require.Greater(t, s.logs.vlogSyncs.Load(), vlogSyncs, "write %d went to the value log, which was synced", i)
		synced := syncedPaths(s.logs)
		var mem, vlog int
		for _, p := range synced {
			switch {
			case strings.HasSuffix(p, ".mem"):
				mem++
			case strings.HasSuffix(p, ".vlog"):
				vlog++
			}
		}
		require.Positive(t, mem, "write %d: a memtable log was synced", i)
		require.Positive(t, vlog, "write %d: a value log was synced", i)
		dirMem, dirVlog := logs()
		// Badger may have rotated since the sync, never fewer files held
		// than there were when it ran, minus any since deleted.
		require.LessOrEqual(t, mem, dirMem+1, "write %d: descriptors of deleted logs are let go", i)
		require.LessOrEqual(t, vlog, dirVlog+1, "write %d", i)
		maxVlogs = max(maxVlogs, dirVlog)
	}
	require.Greater(t, maxVlogs, 1, "the test wrote enough to rotate value logs")
}

// TestLogSyncSkipsCleanValueLogs: writes whose values all stay in the
// LSM sync only the memtable log; one value big enough for the value log
// makes the next sync cover the value log again.
func TestLogSyncSkipsCleanValueLogs(t *testing.T) {
	t.Parallel()
	s, _ := openValueLogStore(t, 0)
	now := time.UnixMilli(1_700_000_000_000)
	create := func(id string, payloadLen int) {
		t.Helper()
		require.NoError(t, s.Create(context.Background(), &store.Record{Task: shared.Task{
			ID: id, Type: "t", Status: shared.StatusPending, DateCreated: now, DateModified: now,
			Payload: []byte(`"` + strings.Repeat("p", payloadLen) + `"`),
		}}))
	}
	create("first", 10)
	vlogSyncs := s.logs.vlogSyncs.Load()
	require.Positive(t, vlogSyncs, "the first sync covers every log")
	for i := range 20 {
		create(fmt.Sprint("small-", i), 10)
	}
	require.Equal(t, vlogSyncs, s.logs.vlogSyncs.Load(), "no value went to the value log: it was not synced again")
	create("big", 2<<10)
	require.Greater(t, s.logs.vlogSyncs.Load(), vlogSyncs, "a value in the value log: synced")
	vlogSyncs = s.logs.vlogSyncs.Load()
	create("small-again", 10)
	require.Equal(t, vlogSyncs, s.logs.vlogSyncs.Load())
}

// TestCommittedHook: a write calls the WithCommitted hook once its change
// is visible and before the sync that makes it durable; a write that
// changes nothing does not call it.
func TestCommittedHook(t *testing.T) {
	t.Parallel()
	var events []string
	opts := testOptions(t)
	opts.OnSync = func(int, time.Duration) { events = append(events, "synced") }
	s, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })

	now := time.UnixMilli(1_700_000_000_000)
	rec := &store.Record{Task: shared.Task{ID: "a", Type: "t", Status: shared.StatusPending, DateCreated: now, DateModified: now}}
	ctx := store.WithCommitted(context.Background(), func() {
		_, err := s.Get(context.Background(), "a")
		events = append(events, fmt.Sprintf("committed, get: %v", err))
	})
	events = nil // Open wrote the schema
	require.NoError(t, s.Create(ctx, rec))
	require.Equal(t, []string{"committed, get: <nil>", "synced"}, events)

	events = nil
	require.ErrorIs(t, s.Create(ctx, rec), shared.ErrInvalidArgument, "a second create of the id changes nothing")
	require.Empty(t, events)
}
