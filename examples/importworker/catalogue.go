package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a write waits for another process's write
// transaction to finish before failing with "database is locked" (which
// fails the attempt; the task's retries can take it from there).
const busyTimeout = 10 * time.Second

// schema is the catalogue. sku is the key across all sources: the first
// import to insert a sku owns it; later rows with that sku are skipped.
// Prices are whole cents, so no float rounding reaches the database.
const schema = `
CREATE TABLE IF NOT EXISTS products (
	sku         TEXT    NOT NULL PRIMARY KEY,
	name        TEXT    NOT NULL,
	price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
	quantity    INTEGER NOT NULL CHECK (quantity >= 0),
	source      TEXT    NOT NULL,
	imported_at TEXT    NOT NULL
) STRICT`

// openCatalogue opens (creating if needed) the database at path, set up
// for several processes at once:
//
//   - WAL journal: readers do not block the writer nor it them;
//   - busy_timeout: a writer waits for another's transaction instead of
//     failing at once;
//   - BEGIN IMMEDIATE for every transaction: the write lock is taken at
//     BEGIN, where busy_timeout applies, rather than on the first write,
//     where SQLite fails a conflicting upgrade at once (SQLITE_BUSY).
func openCatalogue(ctx context.Context, path string) (*sql.DB, error) {
	if strings.ContainsRune(path, '?') {
		// The driver reads everything after '?' as options.
		return nil, fmt.Errorf("%s: a database path may not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Set("_txlock", "immediate")
	// Switching a database to WAL fails at once with SQLITE_BUSY, without
	// waiting busy_timeout, while another connection writes to it (as
	// when two workers create it at the same time): try again until
	// busy_timeout has passed.
	deadline := time.Now().Add(busyTimeout)
	for {
		db, err := sql.Open("sqlite", path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		// One call runs at a time in a worker, so one connection is all
		// it needs; more would only contend for the write lock among
		// themselves.
		db.SetMaxOpenConns(1)
		err = setUpCatalogue(ctx, db)
		if err == nil {
			return db, nil
		}
		_ = db.Close()
		if se, ok := errors.AsType[*sqlite.Error](err); !ok || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s: %w", path, ctx.Err())
		}
	}
}

func setUpCatalogue(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// E.g. on a network file system: sharing the file between
		// processes would not be safe.
		return fmt.Errorf("journal mode is %q, want \"wal\": put the database on a local file system", mode)
	}
	// In a transaction, so that it takes the write lock up front: two
	// workers creating a fresh database at once then wait for each other.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

// insertBatch inserts rows in one transaction and returns those whose sku
// was already in the database (and so were skipped).
func insertBatch(ctx context.Context, db *sql.DB, source string, rows []product) (existing []product, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO products (sku, name, price_cents, quantity, source, imported_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (sku) DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	defer stmt.Close()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	for _, r := range rows {
		res, err := stmt.ExecContext(ctx, r.sku, r.name, r.priceCents, r.quantity, source, now)
		if err != nil {
			return nil, fmt.Errorf("insert sku %q (line %d): %w", r.sku, r.line, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("insert sku %q (line %d): %w", r.sku, r.line, err)
		}
		if n == 0 {
			existing = append(existing, r)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return existing, nil
}
