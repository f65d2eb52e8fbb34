package badgerstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// TestValueLogGC: tasks too big for the LSM live in the value log; once
// most are deleted, collectGarbage rewrites and removes the old log files,
// and the tasks still stored read back whole. It runs after the writes:
// Badger races with commits during a rewrite (see collectGarbage).
func TestValueLogGC(t *testing.T) {
	t.Parallel()
	s, dir := openValueLogStore(t, -1)
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	payload := []byte(`"` + strings.Repeat("p", 4<<10) + `"`)
	var keep []string
	// Enough to flush several memtables: what is still in a memtable is
	// not compacted, so Badger does not know its deleted values are free.
	for i := range 120 {
		var batch []*store.Record
		for j := range 20 {
			batch = append(batch, &store.Record{Task: shared.Task{
				ID: fmt.Sprintf("t-%03d-%02d", i, j), Type: "t", Status: shared.StatusSuccess,
				DateCreated: now, DateModified: now, Payload: payload,
			}})
		}
		require.NoError(t, s.Create(ctx, batch...))
		for j, r := range batch {
			if j == 0 {
				keep = append(keep, r.ID)
				continue
			}
			require.NoError(t, s.Delete(ctx, r.ID))
		}
	}
	// Compaction tells the value log what it may discard.
	require.NoError(t, s.db.Flatten(1))
	require.Contains(t, logFiles(t, dir, ".vlog"), "000001.vlog")
	rewrote, err := s.collectGarbage()
	require.NoError(t, err)
	require.Positive(t, rewrote)
	// Badger numbers its log files from 1: the first has been collected.
	require.NotContains(t, logFiles(t, dir, ".vlog"), "000001.vlog")
	for _, id := range keep {
		r, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, payload, []byte(r.Payload))
	}
}
