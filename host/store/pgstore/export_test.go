package pgstore

import (
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

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Statements are the statements of the store's other index reads, by
// name, for tests that EXPLAIN them.
func (s *Store) Statements() map[string]string {
	return map[string]string{"claim": s.sql.claimTasks, "next_due": s.sql.nextDue, "processing": s.sql.processing, "sweep": s.sql.sweep, "counts": s.sql.counts}
}
