package pgstore

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/shared"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// Migration is one schema migration and when it was applied.
type Migration struct {
	Version int
	Name    string // e.g. "001_tasks"
	// AppliedAt is nil while the migration is pending.
	AppliedAt *time.Time
}

// script is an embedded migration.
type script struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{3})_[a-z0-9_]+\.up\.sql$`)

// scripts lists the embedded migrations in version order.
func scripts() ([]script, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []script
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: want NNN_name.up.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		v, _ := strconv.Atoi(m[1])
		out = append(out, script{version: v, name: e.Name()[:len(e.Name())-len(".up.sql")], sql: string(b)})
	}
	slices.SortFunc(out, func(a, b script) int { return cmp.Compare(a.version, b.version) })
	for i, s := range out {
		if s.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %03d", s.name, i+1)
		}
	}
	return out, nil
}

// Migrate creates schema in the database at url if needed and applies
// the migrations it lacks, each in its own transaction, and returns the
// names of those it applied. Nodes may migrate at once: each
// transaction holds an advisory lock of the schema and looks again at
// what is applied once it has it.
func Migrate(ctx context.Context, url, schema string) (applied []string, err error) {
	schema, err = checkSchema(schema)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	conn, err := connectOne(ctx, url, schema)
	if err != nil {
		return nil, fmt.Errorf("migrate%s: %w", where(url, err), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	applied, err = migrate(ctx, conn, mustStatements(), schema, hclog.NewNullLogger())
	if err != nil {
		return applied, fmt.Errorf("migrate %s, schema %s: %w", RedactURL(url), schema, RedactError(err, url))
	}
	return applied, nil
}

// DropSchema drops schema and everything in it, if it exists: for
// throwaway schemas (tests, benchmarks), never for a cluster's own. "" is
// refused rather than taken as DefaultSchema.
func DropSchema(ctx context.Context, url, schema string) error {
	if schema == "" {
		return fmt.Errorf("drop schema: %w: no schema named", shared.ErrInvalidArgument)
	}
	schema, err := checkSchema(schema)
	if err != nil {
		return fmt.Errorf("drop schema: %w", err)
	}
	conn, err := connectOne(ctx, url, schema)
	if err != nil {
		return fmt.Errorf("drop schema %s%s: %w", schema, where(url, err), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// checkSchema has vetted the identifier, which cannot be a parameter.
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, RedactError(err, url))
	}
	return nil
}

// MigrationStatus lists every migration this build knows, and any the
// schema has that it does not (a newer build applied them), in version
// order, with when each was applied. A schema that does not exist has
// every migration pending.
func MigrationStatus(ctx context.Context, url, schema string) ([]Migration, error) {
	schema, err := checkSchema(schema)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	conn, err := connectOne(ctx, url, schema)
	if err != nil {
		return nil, fmt.Errorf("migration status%s: %w", where(url, err), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st := mustStatements()
	done, err := appliedMigrations(ctx, conn, st, schema)
	if err != nil {
		return nil, fmt.Errorf("migration status %s, schema %s: %w", RedactURL(url), schema, RedactError(err, url))
	}
	all, err := scripts()
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(all))
	for _, sc := range all {
		m := Migration{Version: sc.version, Name: sc.name}
		if d, ok := done[sc.version]; ok {
			m.AppliedAt = d.AppliedAt
			delete(done, sc.version)
		}
		out = append(out, m)
	}
	for _, d := range done {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// connectOne opens a single connection for schema; errors are redacted.
func connectOne(ctx context.Context, url, schema string) (*pgx.Conn, error) {
	cfg, err := poolConfig(url, schema)
	if err != nil {
		return nil, RedactError(err, url)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, RedactError(err, url)
	}
	return conn, nil
}

// appliedMigrations reads the migration table of schema, by version;
// empty when there is none yet.
func appliedMigrations(ctx context.Context, conn *pgx.Conn, st *statements, schema string) (map[int]Migration, error) {
	var exists bool
	if err := conn.QueryRow(ctx, st.migrationTableExists, schema).Scan(&exists); err != nil {
		return nil, err
	}
	done := make(map[int]Migration)
	if !exists {
		return done, nil
	}
	rows, _ := conn.Query(ctx, st.appliedMigrations)
	var m Migration
	var at time.Time
	_, err := pgx.ForEachRow(rows, []any{&m.Version, &m.Name, &at}, func() error {
		t := at.UTC()
		m.AppliedAt = &t
		done[m.Version] = m
		return nil
	})
	return done, err
}

// migrate brings schema up to date on conn, whose search_path is schema.
func migrate(ctx context.Context, conn *pgx.Conn, st *statements, schema string, log hclog.Logger) ([]string, error) {
	all, err := scripts()
	if err != nil {
		return nil, err
	}
	// The schema and the migration table, under the lock too: CREATE …
	// IF NOT EXISTS races with itself. The schema is the one identifier
	// a statement cannot take as a parameter; checkSchema has vetted it.
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, st.migrationLock, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, st.createMigrationTable)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create schema: %w", err)
	}
	var applied []string
	for _, sc := range all {
		ran := false
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, st.migrationLock, schema); err != nil {
				return err
			}
			// Applied meanwhile by another node?
			var done bool
			if err := tx.QueryRow(ctx, st.migrationApplied, sc.version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, sc.sql); err != nil {
				return err
			}
			ran = true
			_, err := tx.Exec(ctx, st.recordMigration, sc.version, sc.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", sc.name, err)
		}
		if ran {
			applied = append(applied, sc.name)
			log.Info("applied migration", "schema", schema, "migration", sc.name)
		}
	}
	done, err := appliedMigrations(ctx, conn, st, schema)
	if err != nil {
		return applied, err
	}
	if len(done) > len(all) {
		log.Warn("the schema has migrations this build does not know: a newer taskhost applied them", "schema", schema, "known", len(all), "applied", len(done))
	}
	return applied, nil
}
