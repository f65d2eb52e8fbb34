package pgstore

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskhost/taskhost/host/store"
)

// QueryStatement is the statement and arguments Query runs for q (SortBy
// set, Limit positive), for tests that EXPLAIN it.
func (s *Store) QueryStatement(q store.Query) (string, []any, error) {
	var c *cursor
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q.Cursor, q); err != nil {
			return "", nil, err
		}
	}
	sql, args := s.sql.querySQL(q, c, q.Limit)
	return sql, args, nil
}

// FinalChannel is the channel of the store's final states.
func (s *Store) FinalChannel() string { return s.finalChannel }

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Statements are the statements of the store's other index reads, by
// name, for tests that EXPLAIN them.
func (s *Store) Statements() map[string]string {
	return map[string]string{"claim": s.sql.claimTasks, "next_due": s.sql.nextDue, "processing": s.sql.processing, "sweep": s.sql.sweep, "counts": s.sql.counts, "delete_claimed": s.sql.deleteClaimed}
}

// ExplainOrdered is the plan of sql on the ordered pool; plain, on the
// other. With literals (the arguments as SQL), the generic plan of sql
// prepared: the one a connection may cache and keep as the table grows.
func (s *Store) ExplainOrdered(ctx context.Context, plain bool, literals string, sql string, args ...any) (string, error) {
	pool := s.ordered
	if plain {
		pool = s.pool
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	explain := "EXPLAIN " + sql
	if literals != "" {
		b.Queue("SET LOCAL plan_cache_mode = force_generic_plan")
		b.Queue("PREPARE explained AS " + sql)
		explain, args = "EXPLAIN EXECUTE explained("+literals+")", nil
	}
	var lines []string
	b.Queue(explain, args...).Query(func(rows pgx.Rows) error {
		var err error
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if literals != "" {
		b.Queue("DEALLOCATE explained")
	}
	b.Queue("COMMIT")
	err := pool.SendBatch(ctx, b).Close()
	return strings.Join(lines, "\n"), err
}
