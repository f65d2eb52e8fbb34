package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/taskhost/taskhost/sdk"
)

// Config is the handler's config object: the payload of initialise and
// shutdown. Relative paths are relative to the worker's working
// directory: under taskhost serve, the config file's directory.
type Config struct {
	// SourceDir holds the images to resize, named <imageId>.png, .jpg or
	// .jpeg. It must exist.
	SourceDir string `json:"source_dir"`
	// OutputDir receives the resized PNGs; initialise creates it.
	OutputDir string `json:"output_dir"`
}

// none is the result of initialise and shutdown: JSON {}.
type none struct{}

// imageWorker is the state of one worker process. The host runs one call
// at a time per process; the mutex is for tests that share a worker
// between goroutines.
type imageWorker struct {
	mu        sync.Mutex
	sourceDir string // absolute; empty until initialise
	outputDir string // absolute
	written   int    // images written since initialise
}

func newImageWorker() *imageWorker { return &imageWorker{} }

// initialise checks the config and prepares the output directory, so that
// a bad config fails the worker's start rather than every task.
func (w *imageWorker) initialise(ctx context.Context, _ sdk.Task, c Config) (none, error) {
	src, err := configDir("source_dir", c.SourceDir)
	if err != nil {
		return none{}, err
	}
	info, err := os.Stat(src)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return none{}, fmt.Errorf("config field \"source_dir\": %s does not exist; want an existing directory of .png/.jpg/.jpeg images", src)
	case err != nil:
		return none{}, fmt.Errorf("config field \"source_dir\": %w", err)
	case !info.IsDir():
		return none{}, fmt.Errorf("config field \"source_dir\": %s is not a directory", src)
	}

	out, err := configDir("output_dir", c.OutputDir)
	if err != nil {
		return none{}, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return none{}, fmt.Errorf("config field \"output_dir\": create: %w", err)
	}
	// Find out now, not at the first task, that the directory is not writable.
	probe, err := os.CreateTemp(out, ".imageworker-probe-*")
	if err != nil {
		return none{}, fmt.Errorf("config field \"output_dir\": not writable: %w", err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	// Before this worker writes anything: temporary files that killed
	// workers left behind would otherwise stay for ever.
	removed, err := removeStaleTemps(out)
	if err != nil {
		// Not worth refusing to start for: the files only take space.
		sdk.Logger(ctx).Warn("imageworker: remove stale temporary files", "output_dir", out, "error", err)
	}
	if len(removed) > 0 {
		sdk.Logger(ctx).Info("imageworker: removed temporary files of killed workers", "output_dir", out, "files", removed)
	}

	w.mu.Lock()
	w.sourceDir, w.outputDir, w.written = src, out, 0
	w.mu.Unlock()
	sdk.Logger(ctx).Info("imageworker ready", "source_dir", src, "output_dir", out)
	return none{}, nil
}

// shutdown has nothing to flush: every resize has written and renamed its
// file before it returns. It reports what this worker did and forgets its
// config, so a later call without initialise fails clearly.
func (w *imageWorker) shutdown(ctx context.Context, _ sdk.Task, _ Config) (none, error) {
	w.mu.Lock()
	written, out := w.written, w.outputDir
	w.sourceDir, w.outputDir, w.written = "", "", 0
	w.mu.Unlock()
	sdk.Logger(ctx).Info("imageworker stopping", "images_written", written, "output_dir", out)
	return none{}, nil
}

// dirs returns the directories set by initialise.
func (w *imageWorker) dirs() (source, output string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sourceDir == "" {
		return "", "", sdk.Permanent(errors.New("worker not initialised: set initialise_method = \"initialise\" in the handler and give it a config with source_dir and output_dir"))
	}
	return w.sourceDir, w.outputDir, nil
}

func (w *imageWorker) countWritten() {
	w.mu.Lock()
	w.written++
	w.mu.Unlock()
}

// configDir checks that a directory field is set and makes it absolute.
func configDir(field, dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("config field %q is required", field)
	}
	abs, err := filepath.Abs(dir)
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
