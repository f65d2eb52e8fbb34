package pgstore_test

import (
	"context"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/pgstore"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
	"github.com/taskhost/taskhost/host/store/storetest"
	"github.com/taskhost/taskhost/shared"
)

// setup opens a store on a fresh schema, closed when the test ends.
func setup(t *testing.T) (*pgstore.Store, string, string) {
	t.Helper()
	url, schema := pgtest.Schema(t)
	s := openSchema(t, url, schema)
	return s, url, schema
}

// openSchema opens a store on schema, closed when the test ends.
func openSchema(t *testing.T, url, schema string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), url, pgstore.Options{
		Schema: schema,
		Logger: hclog.New(&hclog.LoggerOptions{Output: t.Output(), Level: hclog.Warn}),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _, _ := setup(t)
		return s
	})
}

func TestScheduleConformance(t *testing.T) {
	t.Parallel()
	storetest.RunSchedules(t, func(t *testing.T) storetest.ScheduleStore {
		s, _, _ := setup(t)
		return s
	})
}

func TestSharedConformance(t *testing.T) {
	t.Parallel()
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		a, url, schema := setup(t)
		return a, openSchema(t, url, schema)
	})
}

// TestMigrateRace has several nodes start on a fresh schema at once:
// every Open and Migrate succeeds and each migration is applied once.
func TestMigrateRace(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	const nodes = 6
	start := make(chan struct{})
	applied := make(chan []string, nodes)
	errs := make(chan error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				names, err := pgstore.Migrate(t.Context(), url, schema)
				applied <- names
				errs <- err
				return
			}
			s, err := pgstore.Open(t.Context(), url, pgstore.Options{Schema: schema})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(applied)
	for err := range errs {
		require.NoError(t, err)
	}
	status, err := pgstore.MigrationStatus(t.Context(), url, schema)
	require.NoError(t, err)
	require.NotEmpty(t, status)
	for i, m := range status {
		require.Equal(t, i+1, m.Version)
		require.NotNil(t, m.AppliedAt, "migration %s", m.Name)
	}
	// The table has one row per migration (its primary key would refuse a
	// second anyway: a node that applied one twice would have failed).
	var rows int
	require.NoError(t, query(t, url, "SELECT count(*) FROM "+schema+".schema_migrations").Scan(&rows))
	require.Equal(t, len(status), rows)
	// Migrate reported some of them, at most once each; Open did the rest.
	seen := map[string]int{}
	for names := range applied {
		for _, n := range names {
			seen[n]++
		}
	}
	for n, c := range seen {
		require.Equal(t, 1, c, "migration %s applied by %d callers", n, c)
	}

	again, err := pgstore.Migrate(t.Context(), url, schema)
	require.NoError(t, err)
	require.Empty(t, again, "nothing left to apply")
}

// query runs one statement on its own connection, for checks behind the
// store's back.
func query(t *testing.T, url, sql string, args ...any) pgx.Row {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn.QueryRow(t.Context(), sql, args...)
}

func TestMigrationStatus(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	status, err := pgstore.MigrationStatus(t.Context(), url, schema)
	require.NoError(t, err, "a schema that does not exist has everything pending")
	require.Equal(t, []pgstore.Migration{{Version: 1, Name: "001_tasks"}, {Version: 2, Name: "002_schedules"}, {Version: 3, Name: "003_cluster"}}, status)

	before := time.Now().Add(-time.Minute) // the server's clock may differ a little
	applied, err := pgstore.Migrate(t.Context(), url, schema)
	require.NoError(t, err)
	require.Equal(t, []string{"001_tasks", "002_schedules", "003_cluster"}, applied)
	status, err = pgstore.MigrationStatus(t.Context(), url, schema)
	require.NoError(t, err)
	require.Len(t, status, 3)
	for _, m := range status {
		require.NotNil(t, m.AppliedAt)
		require.True(t, m.AppliedAt.After(before), "applied at %v", m.AppliedAt)
	}

	// A migration a newer build applied is listed too.
	err = query(t, url, "INSERT INTO "+schema+".schema_migrations (version, name) VALUES (99, '099_future') RETURNING version").Scan(new(int))
	require.NoError(t, err)
	status, err = pgstore.MigrationStatus(t.Context(), url, schema)
	require.NoError(t, err)
	require.Len(t, status, 4)
	require.Equal(t, "099_future", status[3].Name)
	openSchema(t, url, schema) // and Open still works
}

// TestOpenErrors: a bad URL or an unreachable server gives one line that
// says what failed and never shows the password.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pw"
	for name, url := range map[string]string{
		"unreachable port":     "postgres://taskhost:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=5",
		"password parameter":   "postgres://taskhost@127.0.0.1:1/db?sslmode=disable&password=" + secret,
		"keyword form":         "host=127.0.0.1 port=1 user=taskhost password=" + secret + " dbname=db sslmode=disable",
		"keyword form, quoted": "host=127.0.0.1 port=1 user=taskhost password='" + secret + " x' dbname=db",
		"malformed port":       "postgres://taskhost:" + secret + "@127.0.0.1:notaport/db",
		"malformed escape":     "postgres://taskhost:" + secret + "%zz@127.0.0.1/db",
		"unknown sslmode":      "postgres://taskhost:" + secret + "@127.0.0.1/db?sslmode=bogus",
		"not a URL at all":     "postgres://taskhost:" + secret + "@[::1",
		"server refuses":       missingDatabase(secret),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := pgstore.Open(t.Context(), url, pgstore.Options{Schema: "never_created"})
			require.Error(t, err)
			require.Nil(t, s)
			msg := err.Error()
			require.NotContains(t, msg, secret)
			require.NotContains(t, msg, "\n")
			require.Contains(t, msg, "open store")
			t.Log(msg)
			_, err = pgstore.Migrate(t.Context(), url, "never_created")
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret)
			_, err = pgstore.MigrationStatus(t.Context(), url, "never_created")
			require.Error(t, err)
			require.NotContains(t, err.Error(), secret)
		})
	}
}

// missingDatabase is the test server's URL with a password and a
// database that does not exist: the server answers, and refuses.
func missingDatabase(secret string) string {
	u, err := neturl.Parse(pgtest.URL())
	if err != nil {
		return pgtest.URL()
	}
	u.User = neturl.UserPassword(u.User.Username(), secret)
	u.Path = "/taskhost_no_such_database"
	return u.String()
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=pw":             "postgres://u@h/db?password=xxxxx",
		"postgres://h/db":                           "postgres://h/db",
		"host=h password=pw user=u":                 "host=h password=xxxxx user=u",
		"host=h password='p w' user=u":              "host=h password=xxxxx user=u",
		"postgres://u:p%zzw@h/db":                   "postgres://u:xxxxx@h/db",
	} {
		require.Equal(t, want, pgstore.RedactURL(in), in)
	}
}

func TestSchemaValidated(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{"Upper", "1abc", "a-b", `a"b`, "a b", "a;drop", strings.Repeat("a", 64), "ä"} {
		_, err := pgstore.Open(t.Context(), "postgres://127.0.0.1:1/db", pgstore.Options{Schema: schema})
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "schema %q", schema)
		_, err = pgstore.Migrate(t.Context(), "postgres://127.0.0.1:1/db", schema)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "schema %q", schema)
		_, err = pgstore.MigrationStatus(t.Context(), "postgres://127.0.0.1:1/db", schema)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "schema %q", schema)
	}
}

// TestSchemasIsolated: two clusters on one database, each on its own
// schema, see only their own tasks and schedules.
func TestSchemasIsolated(t *testing.T) {
	t.Parallel()
	a, url, _ := setup(t)
	_, other := pgtest.Schema(t)
	b := openSchema(t, url, other)
	ctx := t.Context()
	at := time.UnixMilli(1_900_000_000_000).UTC()
	rec := &store.Record{Task: shared.Task{ID: "0190a1b2c3d4e5f60718293a4b5c6d7e", Type: "iso", ThreadID: "main",
		Status: shared.StatusPending, DateCreated: at, DateModified: at}}
	require.NoError(t, a.Create(ctx, rec))
	_, err := b.Get(ctx, rec.ID)
	require.ErrorIs(t, err, shared.ErrNotFound)
	page, err := b.Query(ctx, store.Query{})
	require.NoError(t, err)
	require.Empty(t, page.Tasks)
	claimed, err := b.Claim(ctx, "iso", at.Add(time.Hour), "b", at.Add(2*time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, claimed)
	counts, err := b.Counts(ctx)
	require.NoError(t, err)
	require.Empty(t, counts)
	require.NoError(t, b.Create(ctx, rec), "the same id in the other schema")
	_, err = a.SaveSchedule(ctx, &store.Schedule{ID: "s", Times: []shared.ScheduledTaskTime{{IntervalHours: 1}}, Triggers: []store.Trigger{{Next: &at}}})
	require.NoError(t, err)
	_, err = b.LoadSchedule(ctx, "s")
	require.ErrorIs(t, err, shared.ErrNotFound)
}
