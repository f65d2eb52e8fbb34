package pgstore

import "github.com/jackc/pgx/v5"

// The statements that read an index in order (the claim, the next due
// task, a page of a query) would each be one range of one index, if the planner saw it.
// With stale statistics it may not. On a new schema that had just taken
// a backlog of 10,000 tasks it estimated a row or two for any filter,
// found every index as cheap, and claimed through (type, status,
// completed_key, id) with a sort of the 10,000 rows: 13 ms a claim. And
// a generic plan (a connection caches it and keeps it) made while the
// table held 190 rows joined the claimed ids to tasks with a hash join
// over a sequential scan: a scan of the whole table per claim once it
// had grown.
//
// So they run with enable_sort and enable_seqscan off for their
// transaction: both become the planner's last resort, and the index that
// gives the order wins whatever the statistics say. The final sort of
// the few claimed rows stays (there is no other way). JIT goes off with
// them: a last resort's penalty adds 10^10 to the cost, far above
// jit_above_cost, and compiling a claim costs more than running it.
// TestStalePlans checks the plans.

// orderedBatch is a batch that opens a transaction in which sorts and
// sequential scans are a last resort and, unless durable, commits without waiting for the WAL
// flush (for claims: store.Store.Claim). Queue the statement, then call
// the returned commit.
func orderedBatch(durable bool) (b *pgx.Batch, commit func()) {
	b = &pgx.Batch{}
	b.Queue("BEGIN")
	sync := "on"
	if !durable {
		sync = "off"
	}
	b.Queue("SELECT set_config('enable_sort', 'off', true), set_config('enable_seqscan', 'off', true), "+
		"set_config('jit', 'off', true), set_config('synchronous_commit', $1, true)", sync)
	return b, func() { b.Queue("COMMIT") }
}
