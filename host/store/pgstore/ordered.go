package pgstore

import "github.com/jackc/pgx/v5/pgxpool"

// The statements that read an index in order (the claim, the next due
// task, a page of a query) would each be one range of one index, if the
// planner saw it. With stale statistics it may not. On a new schema that had just taken
// a backlog of 10,000 tasks it estimated a row or two for any filter,
// found every index as cheap, and claimed through (type, status,
// completed_key, id) with a sort of the 10,000 rows: 13 ms a claim. And
// a generic plan (a connection caches it and keeps it) made while the
// table held 190 rows joined the claimed ids to tasks with a hash join
// over a sequential scan: a scan of the whole table per claim once it
// had grown.
//
// So they run on connections of their own (the ordered pool) with
// enable_sort and enable_seqscan off: both become the planner's last
// resort, and the index that gives the order wins whatever the
// statistics say. The final sort of
// the few claimed rows stays (there is no other way). JIT goes off with
// them: a last resort's penalty adds 10^10 to the cost, far above
// jit_above_cost, and compiling a claim costs more than running it.
// TestStalePlans checks the plans.

// orderedConfig is the configuration of the ordered pool: cfg's, with
// those planner settings and synchronous_commit off, for the claims that
// run on it (store.Store.Claim: a claim need not be durable, and the
// outcome written later flushes it with itself).
func orderedConfig(cfg *pgxpool.Config) *pgxpool.Config {
	cfg = cfg.Copy()
	for k, v := range map[string]string{
		"enable_sort": "off", "enable_seqscan": "off", "jit": "off", "synchronous_commit": "off",
	} {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	return cfg
}
