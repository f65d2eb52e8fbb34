// Package pgtest gives tests a PostgreSQL schema of their own: the
// server named by TASKHOST_TEST_DATABASE_URL (DefaultURL when unset) and
// a fresh schema, dropped when the test ends. Without a server a test is
// skipped with one loud line, unless CI is set: then it fails.
//
// It is for tests only, pgstore's and the end-to-end tests that run the
// host on PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/host/store/pgstore"
)

// EnvURL names the test database; DefaultURL when unset.
const EnvURL = "TASKHOST_TEST_DATABASE_URL"

// DefaultURL is a local server with trust authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL is the test database's connection string.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Schema returns the test database's URL and the name of a schema no
// other test uses (it does not create it: pgstore.Open does), which is
// dropped with everything in it when t ends. With no server answering, t
// is skipped, or fails when the environment variable CI is set.
func Schema(t testing.TB) (url, schema string) {
	t.Helper()
	url = URL()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		msg := "no PostgreSQL at " + pgstore.RedactURL(url) + " (set " + EnvURL + "): " + oneLine(err, url)
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set, so PostgreSQL tests must run: " + msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	_ = conn.Close(ctx)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema = "taskhost_test_" + hex.EncodeToString(b)
	t.Cleanup(func() { Drop(t, url, schema) })
	return url, schema
}

// Drop drops schema and everything in it.
func Drop(t testing.TB, url, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgstore.DropSchema(ctx, url, schema); err != nil {
		t.Error(err)
	}
}

// oneLine is err's message with url's password masked.
func oneLine(err error, url string) string {
	return pgstore.RedactError(err, url).Error()
}
