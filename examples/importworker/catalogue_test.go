package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A worker that opens the database while another writes to it before it
// is in WAL mode (two workers creating it at once) waits for the writer:
// SQLite fails the switch to WAL at once then, without busy_timeout.
func TestOpenWaitsForAWriterWhileSwitchingToWAL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "catalogue.db")
	// The writer waits out the opener's tries as they read the database
	// (its commit needs them gone); without a busy_timeout its commit
	// failed at once with SQLITE_BUSY when one overlapped it.
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	_, err = db.Exec("CREATE TABLE other (a)")
	require.NoError(t, err)
	tx, err := db.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO other VALUES (1)")
	require.NoError(t, err)

	opened := make(chan error, 1)
	go func() {
		c, err := openCatalogue(context.Background(), path)
		if err == nil {
			err = c.Close()
		}
		opened <- err
	}()
	// The open is refused while the writer holds its lock; once that
	// ends, it gets through.
	require.Never(t, func() bool { return len(opened) > 0 }, 200*time.Millisecond, 5*time.Millisecond)
	require.NoError(t, tx.Commit())
	require.NoError(t, <-opened)
}
