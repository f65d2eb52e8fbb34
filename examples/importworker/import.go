package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskhost/taskhost/sdk"
)

const (
	defaultBatchSize = 100
	maxBatchSize     = 10000
	// maxLoggedSkips bounds the per-row log lines of one import; the
	// summary line counts them all.
	maxLoggedSkips = 20
)

// ImportPayload is the payload of "import".
type ImportPayload struct {
	// Source names the file <catalogue_dir>/<source>.csv, e.g. "tenant-a".
	Source string `json:"source"`
	// BatchSize is how many rows of the file go in one transaction,
	// 1..10000; 0 means 100.
	BatchSize int `json:"batchSize"`
}

// ImportResult is the result of "import". Inserted + Skipped is the
// number of data rows in the file.
type ImportResult struct {
	Inserted int `json:"inserted"`
	// Skipped counts invalid rows, rows whose sku an earlier row of the
	// file has, and rows whose sku is already in the database.
	Skipped int `json:"skipped"`
}

func (p ImportPayload) validate() (batchSize int, err error) {
	switch {
	case p.Source == "":
		return 0, invalidPayload("source", `is required: the name of a file in catalogue_dir without ".csv", e.g. "tenant-a"`)
	case strings.ContainsAny(p.Source, `/\`+"\x00") || strings.Contains(p.Source, "..") || p.Source == ".":
		return 0, invalidPayload("source", `%q is not allowed: want a plain file name without "/", "\" or ".."`, p.Source)
	case p.BatchSize == 0:
		return defaultBatchSize, nil
	case p.BatchSize < 1 || p.BatchSize > maxBatchSize:
		return 0, invalidPayload("batchSize", "%d is out of range: want 1..%d rows (0 means %d)", p.BatchSize, maxBatchSize, defaultBatchSize)
	}
	return p.BatchSize, nil
}

// importSource loads <catalogue_dir>/<source>.csv into the database, a
// transaction per batch of rows. Rows already committed stay when the
// import fails or is cancelled; running it again skips them as existing.
func (w *importWorker) importSource(ctx context.Context, _ sdk.Task, p ImportPayload) (ImportResult, error) {
	db, dir, err := w.state()
	if err != nil {
		return ImportResult{}, err
	}
	batchSize, err := p.validate()
	if err != nil {
		return ImportResult{}, err
	}
	name := p.Source + ".csv"
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return ImportResult{}, invalidPayload("source", "%q: no %s in %s", p.Source, name, dir)
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ImportResult{}, fmt.Errorf("stat %s: %w", name, err)
	}

	log := sdk.Logger(ctx).With("source", p.Source)
	skips := &skipLog{warn: log.Warn}
	rd, err := newCatalogueReader(f, skips.row)
	if err != nil {
		return ImportResult{}, sdk.Permanent(fmt.Errorf("%s: %w", name, err))
	}

	var res ImportResult
	existingTotal := 0
	for batch := 1; ; batch++ {
		if err := ctx.Err(); err != nil {
			return ImportResult{}, fmt.Errorf("import %s stopped before batch %d, after %d rows inserted: %w", name, batch, res.Inserted, err)
		}
		first := rd.rows + 1
		rows, read, done, err := rd.next(batchSize)
		if err != nil {
			return ImportResult{}, fmt.Errorf("%s: %w", name, err)
		}
		if read == 0 {
			break
		}
		var existing []product
		if len(rows) > 0 {
			existing, err = insertBatch(ctx, db, p.Source, rows)
			if err != nil {
				return ImportResult{}, fmt.Errorf("import %s batch %d (rows %d-%d): %w", name, batch, first, rd.rows, err)
			}
		}
		for _, r := range existing {
			skips.row(r.line, fmt.Sprintf("sku %q is already in the database", r.sku))
		}
		existingTotal += len(existing)
		inserted := len(rows) - len(existing)
		res.Inserted += inserted
		res.Skipped += read - inserted
		// 100 is kept for the end, so that it means "finished".
		percent := min(99, float64(rd.offset())*100/float64(max(info.Size(), 1)))
		sdk.Progress(ctx, percent, fmt.Sprintf("batch %d: rows %d-%d, %d inserted, %d skipped", batch, first, rd.rows, inserted, read-inserted))
		if done {
			break
		}
	}
	sdk.Progress(ctx, 100, fmt.Sprintf("imported %s: %d inserted, %d skipped", name, res.Inserted, res.Skipped))
	log.Info("import done", "inserted", res.Inserted, "skipped", res.Skipped,
		"skipped_invalid", rd.invalid, "skipped_duplicate", rd.duplicate, "skipped_existing", existingTotal)
	return res, nil
}

// skipLog logs skipped rows, the first maxLoggedSkips of them one by one.
type skipLog struct {
	warn   func(msg string, args ...any)
	logged int
}

func (s *skipLog) row(line int, reason string) {
	s.logged++
	switch {
	case s.logged <= maxLoggedSkips:
		s.warn("row skipped", "line", line, "reason", reason)
	case s.logged == maxLoggedSkips+1:
		s.warn("more rows skipped; only the count is logged from here on")
	}
}
