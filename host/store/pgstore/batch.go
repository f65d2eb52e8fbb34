package pgstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskhost/taskhost/host/store"
)

// A task's conditional single-row writes (Update, Delete, DeleteClaimed)
// go through store.Batches: the writes that wait together are sent as one
// pgx batch, which is one implicit transaction, one round trip and one
// WAL flush.

// Bounds of the batches.
const (
	writeFlushers = 2   // transactions of batched writes in flight at once
	maxWriteBatch = 256 // writes in one transaction
	// writeTimeout bounds one batch's transaction: writes wait for it
	// whatever their own contexts say, since it serves other callers too.
	writeTimeout = 30 * time.Second
)

// write is one statement on one task.
type write struct {
	id   string // the task it changes: batches lock rows in id order
	sql  string
	args []any
}

// newWrites starts the batches of pool.
func newWrites(pool *pgxpool.Pool) *store.Batches[write] {
	return store.NewBatches(writeFlushers, maxWriteBatch, func(batch []*store.Write[write]) { flush(pool, batch) })
}

// flush runs the batch's writes in one transaction. A write that fails
// aborts the others, so then each runs again on its own and gets its own
// result.
func flush(pool *pgxpool.Pool, batch []*store.Write[write]) {
	if len(batch) == 1 {
		run(batch[0].Ctx, pool, batch[0])
		return
	}
	// The same lock order in every batch: two batches never deadlock.
	slices.SortStableFunc(batch, func(a, b *store.Write[write]) int { return strings.Compare(a.W.id, b.W.id) })
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	b := &pgx.Batch{}
	for _, wr := range batch {
		b.Queue(wr.W.sql, wr.W.args...)
	}
	results := pool.SendBatch(ctx, b)
	rows := make([]int64, len(batch))
	var err error
	for i := range batch {
		tag, e := results.Exec()
		if e != nil {
			err = e
			break
		}
		rows[i] = tag.RowsAffected()
	}
	if e := results.Close(); err == nil {
		err = e
	}
	if err == nil {
		for i, wr := range batch {
			wr.N = rows[i]
		}
		return
	}
	for _, wr := range batch {
		run(ctx, pool, wr)
	}
}

// run executes the write alone.
func run(ctx context.Context, pool *pgxpool.Pool, wr *store.Write[write]) {
	tag, err := pool.Exec(ctx, wr.W.sql, wr.W.args...)
	wr.N, wr.Err = tag.RowsAffected(), err
}
