package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
	"github.com/taskhost/taskhost/shared"
)

// setup starts the plugin in-process and initialises it with catalogueDir
// and the database file dbPath.
func setup(t *testing.T, catalogueDir, dbPath string) *sdktest.Plugin {
	t.Helper()
	p := sdktest.Start(t, newImportWorker().methods())
	_, err := sdktest.Call[none](context.Background(), p, "initialise", Config{CatalogueDir: catalogueDir, Database: dbPath})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := sdktest.Call[none](context.Background(), p, "shutdown", Config{})
		require.NoError(t, err)
	})
	return p
}

func importSource(t *testing.T, p *sdktest.Plugin, payload ImportPayload) ImportResult {
	t.Helper()
	got, err := sdktest.Call[ImportResult](context.Background(), p, "import", payload)
	require.NoError(t, err)
	return got
}

// openDB opens the database the way a reader beside the workers would.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func countProducts(t *testing.T, db *sql.DB, source string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM products WHERE source = ?`, source).Scan(&n))
	return n
}

// writeCatalogue writes <dir>/<source>.csv with rows valid rows whose skus
// start with prefix.
func writeCatalogue(t *testing.T, dir, source, prefix string, rows int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("sku,name,price,quantity\n")
	for i := range rows {
		fmt.Fprintf(&b, "%s-%05d,Item %d,%d.%02d,%d\n", prefix, i, i, i%500, i%100, i%7)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, source+".csv"), []byte(b.String()), 0o644))
}

func requireInvalidPayload(t *testing.T, err error, field string) {
	t.Helper()
	var te *shared.TaskError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "InvalidPayload", te.Name, te.Message)
	require.True(t, te.Permanent, te.Message)
	require.Contains(t, te.Message, `payload field "`+field+`"`)
}

func TestImportShippedCatalogue(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "catalogue.db")
	p := setup(t, "catalogue", dbPath)

	require.Equal(t, ImportResult{Inserted: 248, Skipped: 2}, importSource(t, p, ImportPayload{Source: "tenant-a", BatchSize: 250}))

	db := openDB(t, dbPath)
	require.Equal(t, 248, countProducts(t, db, "tenant-a"))
	// The first row with a repeated sku wins: line 13, not line 181.
	var name string
	var cents, qty int64
	require.NoError(t, db.QueryRow(`SELECT name, price_cents, quantity FROM products WHERE sku = 'TA-0012'`).Scan(&name, &cents, &qty))
	require.Equal(t, "Heavy-Duty Candle", name)
	require.Equal(t, int64(9043), cents)
	require.Equal(t, int64(444), qty)
	// The row with a negative price is not there; a quoted name with a comma is.
	require.ErrorIs(t, db.QueryRow(`SELECT name FROM products WHERE sku = 'TA-0057'`).Scan(&name), sql.ErrNoRows)
	require.NoError(t, db.QueryRow(`SELECT name FROM products WHERE sku = 'TA-0003'`).Scan(&name))
	require.Equal(t, "Compact Backpack, pack of 2", name)
}

func TestImportAgainSkipsExistingRows(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "catalogue.db")
	p := setup(t, "catalogue", dbPath)
	require.Equal(t, ImportResult{Inserted: 248, Skipped: 2}, importSource(t, p, ImportPayload{Source: "tenant-a"}))
	require.Equal(t, ImportResult{Inserted: 0, Skipped: 250}, importSource(t, p, ImportPayload{Source: "tenant-a", BatchSize: 7}))

	// A new worker on the same file sees the same rows.
	p2 := setup(t, "catalogue", dbPath)
	require.Equal(t, ImportResult{Inserted: 0, Skipped: 250}, importSource(t, p2, ImportPayload{Source: "tenant-a"}))
	require.Equal(t, 248, countProducts(t, openDB(t, dbPath), "tenant-a"))
}

func TestImportReportsProgressPerBatch(t *testing.T) {
	t.Parallel()
	p := setup(t, "catalogue", filepath.Join(t.TempDir(), "catalogue.db"))
	var mu sync.Mutex
	var got []shared.Progress
	_, err := p.Call(context.Background(), "import", sdk.Task{ID: "t1"}, ImportPayload{Source: "tenant-a", BatchSize: 100}, func(pr shared.Progress) {
		mu.Lock()
		got = append(got, pr)
		mu.Unlock()
	})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 4)
	require.Equal(t, "batch 1: rows 1-100, 99 inserted, 1 skipped", got[0].Message)   // line 58: price -4.99
	require.Equal(t, "batch 2: rows 101-200, 99 inserted, 1 skipped", got[1].Message) // line 181: repeats TA-0012
	require.Equal(t, "batch 3: rows 201-250, 50 inserted, 0 skipped", got[2].Message)
	require.Equal(t, shared.Progress{Percent: 100, Message: "imported tenant-a.csv: 248 inserted, 2 skipped"}, got[3])
	require.Less(t, got[0].Percent, got[1].Percent)
	require.Less(t, got[1].Percent, got[2].Percent)
	require.Less(t, got[2].Percent, 100.0)
}

func TestImportRejectsBadPayloads(t *testing.T) {
	t.Parallel()
	p := setup(t, "catalogue", filepath.Join(t.TempDir(), "catalogue.db"))
	for _, tc := range []struct {
		payload ImportPayload
		field   string
		says    string
	}{
		{ImportPayload{}, "source", "is required"},
		{ImportPayload{Source: "../catalogue/tenant-a"}, "source", "without"},
		{ImportPayload{Source: "a/b"}, "source", "without"},
		{ImportPayload{Source: `a\b`}, "source", "without"},
		{ImportPayload{Source: ".."}, "source", "without"},
		{ImportPayload{Source: "tenant-z"}, "source", "no tenant-z.csv in"},
		{ImportPayload{Source: "tenant-a", BatchSize: -1}, "batchSize", "want 1..10000 rows (0 means 100)"},
		{ImportPayload{Source: "tenant-a", BatchSize: 10001}, "batchSize", "want 1..10000 rows (0 means 100)"},
	} {
		_, err := sdktest.Call[ImportResult](context.Background(), p, "import", tc.payload)
		requireInvalidPayload(t, err, tc.field)
		require.ErrorContains(t, err, tc.says)
	}
}

func TestImportRejectsFileWithoutCatalogueHeader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty.csv"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nameless.csv"), []byte("sku,price,quantity\nA,1,1\n"), 0o644))
	p := setup(t, dir, filepath.Join(t.TempDir(), "catalogue.db"))
	for source, says := range map[string]string{
		"empty":    "the file is empty",
		"nameless": `header "sku,price,quantity" lacks column(s) name`,
	} {
		_, err := sdktest.Call[ImportResult](context.Background(), p, "import", ImportPayload{Source: source})
		var te *shared.TaskError
		require.ErrorAs(t, err, &te)
		require.True(t, te.Permanent)
		require.Contains(t, te.Message, source+".csv: "+says)
	}
}

func TestImportSkipsMalformedRows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csv := "Quantity,SKU,extra,Name,Price\n" + // any order and case; extra columns ignored
		"1,A1,x,Alpha,1.5\n" +
		"1,A2,x,Beta\n" + // a field short
		"1,A3,x,Ga\"mma,2\n" + // a bare quote
		"1,A4,x,Delta,2.999\n" + // three decimals
		"-1,A5,x,Epsilon,2\n" +
		"1,,x,Zeta,2\n" +
		"1,A 7,x,Eta,2\n" +
		"1,A8,x,  ,2\n" +
		"1,A9,x,Iota,2\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mixed.csv"), []byte("\ufeff"+csv), 0o644))
	dbPath := filepath.Join(t.TempDir(), "catalogue.db")
	p := setup(t, dir, dbPath)
	require.Equal(t, ImportResult{Inserted: 2, Skipped: 7}, importSource(t, p, ImportPayload{Source: "mixed", BatchSize: 2}))
	var cents int64
	require.NoError(t, openDB(t, dbPath).QueryRow(`SELECT price_cents FROM products WHERE sku = 'A1'`).Scan(&cents))
	require.Equal(t, int64(150), cents)
}

// Two workers, each with its own connection as if in its own process,
// create the same fresh database and import into it at once.
func TestWorkersShareOneDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const rows = 1500
	writeCatalogue(t, dir, "tenant-x", "X", rows)
	writeCatalogue(t, dir, "tenant-y", "Y", rows)
	shipped, err := os.ReadFile(filepath.Join("catalogue", "tenant-a.csv"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tenant-a.csv"), shipped, 0o644))
	dbPath := filepath.Join(t.TempDir(), "shared", "catalogue.db")

	workers := make([]*sdktest.Plugin, 2)
	for i := range workers {
		workers[i] = sdktest.Start(t, newImportWorker().methods())
	}
	var wg sync.WaitGroup
	results := make([]ImportResult, len(workers))
	errs := make([]error, len(workers))
	for i, source := range []string{"tenant-x", "tenant-y"} {
		wg.Go(func() {
			p := workers[i]
			if _, errs[i] = sdktest.Call[none](context.Background(), p, "initialise", Config{CatalogueDir: dir, Database: dbPath}); errs[i] != nil {
				return
			}
			results[i], errs[i] = sdktest.Call[ImportResult](context.Background(), p, "import", ImportPayload{Source: source, BatchSize: 25})
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, []ImportResult{{Inserted: rows}, {Inserted: rows}}, results)

	// Now both import the same file at once: each sku is inserted once.
	for i := range workers {
		wg.Go(func() {
			results[i], errs[i] = sdktest.Call[ImportResult](context.Background(), workers[i], "import", ImportPayload{Source: "tenant-a", BatchSize: 10})
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, 248, results[0].Inserted+results[1].Inserted)
	require.Equal(t, 250, results[0].Inserted+results[0].Skipped)
	require.Equal(t, 250, results[1].Inserted+results[1].Skipped)

	db := openDB(t, dbPath)
	require.Equal(t, rows, countProducts(t, db, "tenant-x"))
	require.Equal(t, rows, countProducts(t, db, "tenant-y"))
	require.Equal(t, 248, countProducts(t, db, "tenant-a"))
	var mode string
	require.NoError(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	require.Equal(t, "wal", mode)

	for _, p := range workers {
		_, err := sdktest.Call[none](context.Background(), p, "shutdown", Config{})
		require.NoError(t, err)
	}
}

// A cancelled import stops between batches and keeps what it committed.
// The method is called directly: over gRPC a cancelled context never
// reaches it.
func TestImportHonoursCancellation(t *testing.T) {
	t.Parallel()
	w := newImportWorker()
	dbPath := filepath.Join(t.TempDir(), "catalogue.db")
	_, err := w.initialise(context.Background(), sdk.Task{}, Config{CatalogueDir: "catalogue", Database: dbPath})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = w.shutdown(context.Background(), sdk.Task{}, Config{}) })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = w.importSource(ctx, sdk.Task{}, ImportPayload{Source: "tenant-a"})
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, sdk.IsPermanent(err))
	require.Contains(t, err.Error(), "stopped before batch 1")
	require.Equal(t, 0, countProducts(t, openDB(t, dbPath), "tenant-a"))
}

func TestImportBeforeInitialiseOrAfterShutdownFails(t *testing.T) {
	t.Parallel()
	p := sdktest.Start(t, newImportWorker().methods())
	_, err := sdktest.Call[ImportResult](context.Background(), p, "import", ImportPayload{Source: "tenant-a"})
	var te *shared.TaskError
	require.ErrorAs(t, err, &te)
	require.True(t, te.Permanent)
	require.Contains(t, te.Message, "not initialised")

	_, err = sdktest.Call[none](context.Background(), p, "initialise", Config{CatalogueDir: "catalogue", Database: filepath.Join(t.TempDir(), "c.db")})
	require.NoError(t, err)
	_, err = sdktest.Call[none](context.Background(), p, "shutdown", Config{})
	require.NoError(t, err)
	_, err = sdktest.Call[ImportResult](context.Background(), p, "import", ImportPayload{Source: "tenant-a"})
	require.ErrorContains(t, err, "not initialised")
}

func TestInitialiseChecksConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	db := filepath.Join(dir, "c.db")
	for _, tc := range []struct {
		config Config
		says   string
	}{
		{Config{Database: db}, `config field "catalogue_dir" is required`},
		{Config{CatalogueDir: filepath.Join(dir, "missing"), Database: db}, "missing does not exist"},
		{Config{CatalogueDir: file, Database: db}, "is not a directory"},
		{Config{CatalogueDir: "catalogue"}, `config field "database" is required`},
		{Config{CatalogueDir: "catalogue", Database: filepath.Join(dir, "what?.db")}, "may not contain '?'"},
		{Config{CatalogueDir: "catalogue", Database: filepath.Join(file, "c.db")}, `config field "database"`},
	} {
		p := sdktest.Start(t, newImportWorker().methods())
		_, err := sdktest.Call[none](context.Background(), p, "initialise", tc.config)
		require.ErrorContains(t, err, tc.says)
	}
	require.NoFileExists(t, db)
}
