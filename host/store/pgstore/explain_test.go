package pgstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// TestQueryPlans checks that every query shape reads a page as a range of
// an index: on 50,000 tasks, the plan of a page after a cursor has no
// sequential scan of tasks, no sort and no filter (every condition is an
// index condition), with the parameters' values
// (custom plan) and without them (the generic plan a prepared statement
// may switch to).
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("loads 50,000 tasks")
	}
	s, _, _ := setup(t)
	ctx := t.Context()
	pool := s.Pool()
	_, err := pool.Exec(ctx, `
		INSERT INTO tasks (id, type, thread_id, status, date_created, date_modified, date_completed, attempts, lease_owner)
		SELECT lpad(to_hex(i), 32, '0'), 't' || (i % 20), 'main',
			(enum_range(NULL::task_status))[1 + i % 5],
			timestamptz '2030-01-01' + i * interval '1 second',
			timestamptz '2030-01-01' + (i * 7 % 50000) * interval '1 second',
			CASE WHEN i % 2 = 0 THEN timestamptz '2030-01-01' + (i * 3 % 50000) * interval '1 second' END,
			0, ''
		FROM generate_series(1, 50000) AS i`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE tasks")
	require.NoError(t, err)

	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	explain := func(sql string, args ...any) string {
		t.Helper()
		rows, _ := conn.Query(ctx, "EXPLAIN "+sql, args...)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return strings.Join(lines, "\n")
	}

	// Claim, NextDue, Processing, Sweep and Counts read their indexes.
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for name, args := range map[string][]any{
		"claim": {"t7", now, "n", now, 10}, "next_due": {"t7"}, "processing": {"n"},
		"sweep": {now, 100}, "counts": {[]string{"pending", "processing"}},
	} {
		plan := explain(s.Statements()[name], args...)
		require.NotContains(t, plan, "Seq Scan", "%s:\n%s", name, plan)
	}
	for _, sort := range []store.SortField{store.SortDateCreated, store.SortDateModified, store.SortDateCompleted, store.SortStatus} {
		for _, filter := range []store.Query{{}, {Type: "t7"}, {Status: shared.StatusFailed}, {Type: "t3", Status: shared.StatusFailed}} {
			for _, desc := range []bool{false, true} {
				q := filter
				q.SortBy, q.Desc, q.Limit = sort, desc, 20
				page, err := s.Query(ctx, q)
				require.NoError(t, err)
				require.NotEmpty(t, page.Cursor, "%+v", q)
				q.Cursor = page.Cursor
				sql, args, err := s.QueryStatement(q)
				require.NoError(t, err)
				for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
					_, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode)
					require.NoError(t, err)
					plan := explain(sql, args...)
					require.NotContains(t, plan, "Seq Scan", "%s, %+v:\n%s", mode, q, plan)
					require.NotContains(t, plan, "Sort", "%s, %+v:\n%s", mode, q, plan)
					// Every condition bounds the range: none filters rows read.
					require.NotContains(t, plan, "Filter:", "%s, %+v:\n%s", mode, q, plan)
					require.Contains(t, plan, "Index", "%s, %+v:\n%s", mode, q, plan)
				}
			}
		}
	}
}

// TestStalePlans: with statistics taken before a backlog came, the claim and the next-due lookup
// still read the claim index in order (and the claim the lease index)
// instead of another index and a sort of the whole backlog (ordered.go);
// so do their generic plans, which a connection keeps once chosen. And
// a delete under a claim finds its task by its key.
func TestStalePlans(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t)
	ctx := t.Context()
	// Statistics that say no task is pending, taken before the backlog
	// came: as after a quiet period, or of the empty table.
	now := time.Now().UTC().Truncate(time.Millisecond)
	for range 10 {
		batch := make([]*store.Record, 1000)
		for i := range batch {
			batch[i] = &store.Record{Task: shared.Task{ID: newID(t), Type: "t", ThreadID: "main", Status: shared.StatusSuccess, DateCreated: now, DateModified: now, DateCompleted: &now}}
		}
		require.NoError(t, s.Create(ctx, batch...))
	}
	_, err := s.Pool().Exec(ctx, "ANALYZE tasks")
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, "UPDATE tasks SET status = 'pending', date_completed = NULL")
	require.NoError(t, err)
	for _, c := range []struct {
		name, literals string
		args           []any
	}{
		{"claim", "", []any{"t", now, "n", now, 10}},
		{"claim", "'t', now(), 'n', now(), 10", nil},
		{"next_due", "", []any{"t"}},
		{"next_due", "'t'", nil},
		{"delete_claimed", "", []any{"x", 1}},
		{"delete_claimed", "'x', 1", nil},
	} {
		plan, err := s.ExplainOrdered(ctx, false, c.literals, s.Statements()[c.name], c.args...)
		require.NoError(t, err)
		if c.name == "delete_claimed" {
			// Not an ordered read: found by its key, not by a scan of a
			// partial index the statistics think empty.
			require.Contains(t, plan, "using tasks_pkey on tasks", "%s:\n%s", c.name, plan)
			continue
		}
		require.Contains(t, plan, "using tasks_claim on tasks", "%s:\n%s", c.name, plan)
		if c.name == "claim" {
			require.Contains(t, plan, "using tasks_lease on tasks", "%s:\n%s", c.name, plan)
		}
		require.NotContains(t, plan, "->  Sort", "%s: the indexes are read in order (only the claimed rows are sorted, at the top):\n%s", c.name, plan)
		require.NotContains(t, plan, "Seq Scan", "%s:\n%s", c.name, plan)
		require.NotContains(t, plan, "JIT", "%s: a sort's penalty must not make it worth compiling:\n%s", c.name, plan)
	}
}
