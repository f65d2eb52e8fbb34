package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/taskhost/taskhost/sdk"
)

// Config is the handler's config object: the payload of initialise and
// shutdown. Relative paths are relative to the worker's working
// directory: under taskhost serve, the config file's directory.
type Config struct {
	// CatalogueDir holds the files to import, named <source>.csv. It must
	// exist.
	CatalogueDir string `json:"catalogue_dir"`
	// Database is the SQLite file the rows go to; initialise creates it
	// and its directory if needed. Every worker of the handler (and of
	// other handlers) may name the same file.
	Database string `json:"database"`
}

// none is the result of initialise and shutdown: JSON {}.
type none struct{}

// importWorker is the state of one worker process: the open database,
// kept from initialise to shutdown so that imports do not pay for opening
// it. The host runs one call at a time per process; the mutex is for
// tests that share a worker between goroutines.
type importWorker struct {
	mu           sync.Mutex
	db           *sql.DB // nil until initialise
	catalogueDir string  // absolute
}

func newImportWorker() *importWorker { return &importWorker{} }

// initialise checks the config and opens the database, so that a bad
// config fails the worker's start rather than every task.
func (w *importWorker) initialise(ctx context.Context, _ sdk.Task, c Config) (none, error) {
	dir, err := absConfigPath("catalogue_dir", c.CatalogueDir)
	if err != nil {
		return none{}, err
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return none{}, fmt.Errorf("config field \"catalogue_dir\": %s does not exist; want an existing directory of <source>.csv files", dir)
	case err != nil:
		return none{}, fmt.Errorf("config field \"catalogue_dir\": %w", err)
	case !info.IsDir():
		return none{}, fmt.Errorf("config field \"catalogue_dir\": %s is not a directory", dir)
	}

	path, err := absConfigPath("database", c.Database)
	if err != nil {
		return none{}, err
	}
	db, err := openCatalogue(ctx, path)
	if err != nil {
		return none{}, fmt.Errorf("config field \"database\": %w", err)
	}

	w.mu.Lock()
	old := w.db
	w.db, w.catalogueDir = db, dir
	w.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	sdk.Logger(ctx).Info("importworker ready", "catalogue_dir", dir, "database", path)
	return none{}, nil
}

// shutdown closes the database. SQLite checkpoints the write-ahead log
// into the database file when its last connection closes.
func (w *importWorker) shutdown(ctx context.Context, _ sdk.Task, _ Config) (none, error) {
	w.mu.Lock()
	db := w.db
	w.db, w.catalogueDir = nil, ""
	w.mu.Unlock()
	if db == nil {
		return none{}, nil
	}
	if err := db.Close(); err != nil {
		return none{}, fmt.Errorf("close database: %w", err)
	}
	sdk.Logger(ctx).Info("importworker stopped: database closed")
	return none{}, nil
}

// state returns what initialise set up.
func (w *importWorker) state() (*sql.DB, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.db == nil {
		return nil, "", sdk.Permanent(errors.New("worker not initialised: set initialise_method = \"initialise\" in the handler and give it a config with catalogue_dir and database"))
	}
	return w.db, w.catalogueDir, nil
}

// absConfigPath checks that a path field is set and makes it absolute.
func absConfigPath(field, path string) (string, error) {
	if strings.TrimSpace(path) == "" {
		return "", fmt.Errorf("config field %q is required", field)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("config field %q: %w", field, err)
	}
	return abs, nil
}

// invalidPayloadError is a payload a method cannot run with. Its name,
// InvalidPayload, is the one the SDK gives payloads that do not decode.
type invalidPayloadError struct {
	field   string
	problem string
}

func (e *invalidPayloadError) Error() string {
	return "payload field " + strconv.Quote(e.field) + ": " + e.problem
}

func (e *invalidPayloadError) Name() string { return "InvalidPayload" }

// invalidPayload returns an InvalidPayload error marked permanent: the
// same payload will fail the same way on every retry.
func invalidPayload(field, format string, args ...any) error {
	return sdk.Permanent(&invalidPayloadError{field: field, problem: fmt.Sprintf(format, args...)})
}
