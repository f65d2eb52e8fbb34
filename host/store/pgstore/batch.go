package pgstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskhost/taskhost/shared"
)

// A task's conditional single-row writes (Update, Delete, DeleteClaimed)
// go through a writer, which commits the writes that wait together in
// one transaction: one round trip and one WAL flush for the outcomes of
// many tasks that finish at once, instead of one each, as River marks its
// jobs completed in batches. Unlike River's, a batch is sent as soon as a
// flusher is free: an idle store adds no delay, and each write is still
// durable when its call returns.

// Bounds of the writer.
const (
	writeFlushers = 2    // transactions of batched writes in flight at once
	maxWriteBatch = 256  // writes in one transaction
	writeQueue    = 1024 // writes waiting for a flusher
	// writeTimeout bounds one batch's transaction: writes wait for it
	// whatever their own contexts say, since it serves other callers too.
	writeTimeout = 30 * time.Second
)

// write is one statement of a batch and, once done is closed, its result.
type write struct {
	ctx  context.Context
	id   string // the task it changes: batches lock rows in id order
	sql  string
	args []any

	rows int64
	err  error
	done chan struct{}
}

// writer runs writes in batches on writeFlushers goroutines.
type writer struct {
	pool    *pgxpool.Pool
	queue   chan *write
	stop    chan struct{}
	stopped sync.WaitGroup
}

func newWriter(pool *pgxpool.Pool) *writer {
	w := &writer{pool: pool, queue: make(chan *write, writeQueue), stop: make(chan struct{})}
	for range writeFlushers {
		w.stopped.Go(w.flushLoop)
	}
	return w
}

// exec runs sql on task id in the next batch and returns the rows it
// changed. It returns when the batch is committed, or with ctx's error
// (the write may still happen) or shared.ErrClosed once the writer stops.
func (w *writer) exec(ctx context.Context, id, sql string, args ...any) (int64, error) {
	wr := &write{ctx: ctx, id: id, sql: sql, args: args, done: make(chan struct{})}
	select {
	case w.queue <- wr:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-w.stop:
		return 0, shared.ErrClosed
	}
	select {
	case <-wr.done:
		return wr.rows, wr.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-w.stop:
		// Close waits for the batch in flight; a write still queued
		// then never runs.
		select {
		case <-wr.done:
			return wr.rows, wr.err
		default:
			return 0, shared.ErrClosed
		}
	}
}

// close stops the flushers after the batches they are running.
func (w *writer) close() {
	close(w.stop)
	w.stopped.Wait()
}

func (w *writer) flushLoop() {
	for {
		var batch []*write
		select {
		case wr := <-w.queue:
			batch = append(batch, wr)
		case <-w.stop:
			return
		}
	drain:
		for len(batch) < maxWriteBatch {
			select {
			case wr := <-w.queue:
				batch = append(batch, wr)
			default:
				break drain
			}
		}
		w.flush(batch)
	}
}

// flush runs the batch's writes in one transaction (a pgx batch is one
// implicit transaction: one round trip, one commit). A write that fails
// aborts the others, so then each runs again on its own and gets its own
// result.
func (w *writer) flush(batch []*write) {
	defer func() {
		for _, wr := range batch {
			close(wr.done)
		}
	}()
	live := batch[:0:0]
	for _, wr := range batch {
		if err := wr.ctx.Err(); err != nil {
			wr.err = err // its caller has gone: don't write
			continue
		}
		live = append(live, wr)
	}
	if len(live) == 1 {
		live[0].run(live[0].ctx, w.pool)
		return
	}
	// The same lock order in every batch: two batches never deadlock.
	slices.SortStableFunc(live, func(a, b *write) int { return strings.Compare(a.id, b.id) })
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	b := &pgx.Batch{}
	for _, wr := range live {
		b.Queue(wr.sql, wr.args...)
	}
	results := w.pool.SendBatch(ctx, b)
	rows := make([]int64, len(live))
	var err error
	for i := range live {
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
		for i, wr := range live {
			wr.rows = rows[i]
		}
		return
	}
	for _, wr := range live {
		wr.run(ctx, w.pool)
	}
}

// run executes the write alone.
func (wr *write) run(ctx context.Context, pool *pgxpool.Pool) {
	tag, err := pool.Exec(ctx, wr.sql, wr.args...)
	wr.rows, wr.err = tag.RowsAffected(), err
}
