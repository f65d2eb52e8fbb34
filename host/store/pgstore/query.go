package pgstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// A query is one of 4 sorts × 4 filters × 2 directions × first page or
// later: 64 statements that differ only in their WHERE and ORDER BY, so
// they are built here from the sort keys below rather than written out
// in sql/ (see doc.go).

// sortKeys are the columns of a sort, in order: the leading columns of
// its query indexes after the filter columns (migrations/001_tasks.up.sql).
func sortKeys(f store.SortField) []string {
	switch f {
	case store.SortDateModified:
		return []string{"date_modified", "id"}
	case store.SortDateCompleted:
		return []string{"completed_key", "id"}
	case store.SortStatus:
		return []string{"status", "date_created", "id"}
	}
	return []string{"date_created", "id"}
}

// querySQL is the statement of q (validated, SortBy set) and its
// arguments; c is the decoded cursor or nil. It reads limit+1 rows: the
// extra one says whether there is another page.
func (st *statements) querySQL(q store.Query, c *cursor, limit int) (string, []any) {
	var where, rowCols, rowVals []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	keys := sortKeys(q.SortBy)
	if q.Type != "" {
		p := arg(q.Type)
		where = append(where, "type = "+p)
		rowCols, rowVals = append(rowCols, "type"), append(rowVals, p)
	}
	if q.Status != "" {
		p := arg(string(q.Status)) + "::task_status"
		where = append(where, "status = "+p)
		if keys[0] != "status" {
			rowCols, rowVals = append(rowCols, "status"), append(rowVals, p)
		}
	}
	dir, cmp := "ASC", ">"
	if q.Desc {
		dir, cmp = "DESC", "<"
	}
	if c != nil {
		// The row compared is the whole key of the index that serves q,
		// filter columns included (their values are fixed, so the order is
		// the same): the planner estimates a row comparison by its first
		// column, and after a cursor at 'infinity' (where every task
		// without dateCompleted sits) it would expect no rows and might
		// take any index whose leading columns match. With the filter
		// columns first, only the index of q has a range to read.
		for i, v := range c.values(q.SortBy) {
			p := arg(v)
			if keys[i] == "status" {
				p += "::task_status"
			}
			rowVals = append(rowVals, p)
		}
		rowCols = append(rowCols, keys...)
		where = append(where, fmt.Sprintf("(%s) %s (%s)", strings.Join(rowCols, ", "), cmp, strings.Join(rowVals, ", ")))
	}
	order := make([]string, len(keys))
	for i, k := range keys {
		order[i] = k + " " + dir
	}
	sql := "SELECT " + st.columns + "\nFROM tasks"
	if len(where) > 0 {
		sql += "\nWHERE " + strings.Join(where, " AND ")
	}
	sql += "\nORDER BY " + strings.Join(order, ", ") + "\nLIMIT " + arg(limit+1)
	return sql, args
}

// cursor is where a page ended: the query it belongs to (sort and
// filters) and the sort key of its last task. Times are unix
// microseconds, PostgreSQL's precision, so the key is exact.
type cursor struct {
	Sort   store.SortField `json:"s"`
	Type   string          `json:"t,omitempty"`
	Status shared.Status   `json:"f,omitempty"`
	// The key: KeyStatus (SortStatus only), Time, or no time at all
	// (SortDateCompleted, a task without one: 'infinity'), ID.
	KeyStatus shared.Status `json:"ks,omitempty"`
	Time      *int64        `json:"k,omitempty"`
	ID        string        `json:"id"`
}

// newCursor is the cursor after r in q.
func newCursor(q store.Query, r *store.Record) string {
	c := cursor{Sort: q.SortBy, Type: q.Type, Status: q.Status, ID: r.ID}
	t := &r.DateCreated
	switch q.SortBy {
	case store.SortDateModified:
		t = &r.DateModified
	case store.SortDateCompleted:
		t = r.DateCompleted
	case store.SortStatus:
		c.KeyStatus = r.Status
	}
	if t != nil {
		us := t.UnixMicro()
		c.Time = &us
	}
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads s and checks that it belongs to q.
func decodeCursor(s string, q store.Query) (*cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == "" || !storable(c.ID) ||
		c.Time == nil && c.Sort != store.SortDateCompleted ||
		(c.Sort == store.SortStatus) != c.KeyStatus.Valid() {
		return nil, fmt.Errorf("%w: malformed cursor", shared.ErrInvalidArgument)
	}
	if c.Sort != q.SortBy || c.Type != q.Type || c.Status != q.Status {
		return nil, fmt.Errorf("%w: cursor is not from this query", shared.ErrInvalidArgument)
	}
	return &c, nil
}

// values are the cursor's key as arguments, in sortKeys order.
func (c *cursor) values(f store.SortField) []any {
	var t any = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	if c.Time != nil {
		t = time.UnixMicro(*c.Time)
	}
	if f == store.SortStatus {
		return []any{string(c.KeyStatus), t, c.ID}
	}
	return []any{t, c.ID}
}

// Query reads one page with the statement of its sort, filter and
// direction: a range of the index that serves them (see querySQL), on
// the ordered pool, whose planner settings keep the planner on it.
func (s *Store) Query(ctx context.Context, q store.Query) (store.Page, error) {
	q, limit, err := q.Check()
	if err != nil {
		return store.Page{}, fmt.Errorf("query tasks: %w", err)
	}
	var c *cursor
	if q.Cursor != "" {
		if c, err = decodeCursor(q.Cursor, q); err != nil {
			return store.Page{}, err // the caller's mistake, said once
		}
	}
	if err := s.enter(ctx); err != nil {
		return store.Page{}, fmt.Errorf("query tasks: %w", err)
	}
	if !storable(q.Type) {
		return store.Page{}, nil // no such type can be stored
	}
	sql, args := s.sql.querySQL(q, c, limit)
	rows, _ := s.ordered.Query(ctx, sql, args...)
	recs, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return store.Page{}, fmt.Errorf("query tasks: %w", err)
	}
	page := store.Page{Tasks: recs}
	if len(recs) > limit {
		page.Tasks = recs[:limit]
		page.Cursor = newCursor(q, recs[limit-1])
	}
	return page, nil
}
