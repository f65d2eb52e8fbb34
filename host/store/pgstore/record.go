package pgstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// recordArgs are r's values in the order of sql/columns.sql.
func recordArgs(r *store.Record) ([]any, error) {
	errJSON, err := marshalOpt(r.Error)
	if err != nil {
		return nil, err
	}
	var ctxJSON []byte
	if r.ContextIDs != nil {
		if ctxJSON, err = json.Marshal(r.ContextIDs); err != nil {
			return nil, err
		}
	}
	progJSON, err := marshalOpt(r.Progress)
	if err != nil {
		return nil, err
	}
	var leaseUntil *time.Time
	if !r.LeaseUntil.IsZero() {
		leaseUntil = &r.LeaseUntil
	}
	return []any{
		r.ID, r.Type, r.ThreadID, string(r.Status), r.DateCreated, r.DateModified,
		r.DateCompleted, r.DateCancelled, r.DateRetainUntil, r.DateNextProcess,
		r.RetainFor, r.RetryInterval, r.RetriesRemaining,
		[]byte(r.Payload), []byte(r.Result), errJSON, ctxJSON, progJSON,
		r.Attempts, r.LeaseOwner, leaseUntil,
	}, nil
}

// marshalOpt is the JSON of *v, or nil (SQL NULL) when v is nil.
func marshalOpt[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// scanRecord reads a row of sql/columns.sql. Times come back in UTC.
func scanRecord(row pgx.CollectableRow) (*store.Record, error) {
	return scanRecordWith(row)
}

// scanRecordWith is scanRecord of a row that has more columns after the
// record's, scanned into extra.
func scanRecordWith(row pgx.CollectableRow, extra ...any) (*store.Record, error) {
	var (
		r                                         store.Record
		status                                    string
		payload, result, errJSON, ctxJSON, progJS []byte
		leaseUntil                                *time.Time
	)
	dest := append([]any{
		&r.ID, &r.Type, &r.ThreadID, &status, &r.DateCreated, &r.DateModified,
		&r.DateCompleted, &r.DateCancelled, &r.DateRetainUntil, &r.DateNextProcess,
		&r.RetainFor, &r.RetryInterval, &r.RetriesRemaining,
		&payload, &result, &errJSON, &ctxJSON, &progJS,
		&r.Attempts, &r.LeaseOwner, &leaseUntil}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return nil, err
	}
	r.Status = shared.Status(status)
	r.DateCreated, r.DateModified = r.DateCreated.UTC(), r.DateModified.UTC()
	for _, t := range []*time.Time{r.DateCompleted, r.DateCancelled, r.DateRetainUntil, r.DateNextProcess} {
		if t != nil {
			*t = t.UTC()
		}
	}
	if leaseUntil != nil {
		r.LeaseUntil = leaseUntil.UTC()
	}
	r.Payload, r.Result = payload, result
	for _, f := range []struct {
		raw []byte
		dst any
	}{{errJSON, &r.Error}, {ctxJSON, &r.ContextIDs}, {progJS, &r.Progress}} {
		if f.raw == nil {
			continue
		}
		if err := json.Unmarshal(f.raw, f.dst); err != nil {
			return nil, fmt.Errorf("task %s: malformed row: %w", r.ID, err)
		}
	}
	return &r, nil
}

// validate refuses a record PostgreSQL cannot store as it is: its text
// columns take neither NUL bytes nor invalid UTF-8.
func validate(r *store.Record) error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil task", shared.ErrInvalidArgument)
	case r.ID == "":
		return fmt.Errorf("%w: task has no id", shared.ErrInvalidArgument)
	case r.Type == "":
		return fmt.Errorf("%w: task %s has no type", shared.ErrInvalidArgument, r.ID)
	case !r.Status.Valid():
		return fmt.Errorf("%w: task %s: status %q", shared.ErrInvalidArgument, r.ID, r.Status)
	}
	for _, f := range []struct{ name, v string }{{"id", r.ID}, {"type", r.Type}, {"thread id", r.ThreadID}, {"lease owner", r.LeaseOwner}} {
		if !storable(f.v) {
			return fmt.Errorf("%w: task %q: %s %q is not UTF-8 without NUL bytes", shared.ErrInvalidArgument, r.ID, f.name, f.v)
		}
	}
	return nil
}

// storable reports whether a text column can hold s.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
