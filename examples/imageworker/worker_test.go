package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/sdk/sdktest"
)

func TestInitialiseChecksSourceDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		source string
		says   string
	}{
		{"", `config field "source_dir" is required`},
		{filepath.Join(dir, "missing"), "missing does not exist"},
		{file, "is not a directory"},
	} {
		p := sdktest.Start(t, newImageWorker().methods())
		out := filepath.Join(dir, "out")
		_, err := sdktest.Call[none](context.Background(), p, "initialise", Config{SourceDir: tc.source, OutputDir: out})
		require.ErrorContains(t, err, tc.says)
		require.NoDirExists(t, out, "a failed initialise creates nothing")
	}
}

func TestInitialiseCreatesOutputDir(t *testing.T) {
	t.Parallel()
	p := sdktest.Start(t, newImageWorker().methods())
	out := filepath.Join(t.TempDir(), "a", "b")
	_, err := sdktest.Call[none](context.Background(), p, "initialise", Config{SourceDir: "images", OutputDir: out})
	require.NoError(t, err)
	require.DirExists(t, out)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "the writability probe is removed")

	_, err = sdktest.Call[none](context.Background(), p, "initialise", Config{SourceDir: "images"})
	require.ErrorContains(t, err, `config field "output_dir" is required`)
}

func TestShutdownForgetsConfig(t *testing.T) {
	t.Parallel()
	p, _ := setup(t)
	_, err := sdktest.Call[ResizeResult](context.Background(), p, "resize", ResizePayload{ImageID: "hero", Width: 8, Height: 8})
	require.NoError(t, err)
	_, err = sdktest.Call[none](context.Background(), p, "shutdown", Config{})
	require.NoError(t, err)
	_, err = sdktest.Call[ResizeResult](context.Background(), p, "resize", ResizePayload{ImageID: "hero", Width: 8, Height: 8})
	require.ErrorContains(t, err, "not initialised")
}

func TestFileURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "file:///srv/out/hero-1x1.png", fileURL("/srv/out/hero-1x1.png"))
	require.Equal(t, "file:///srv/my%20images/a%23b.png", fileURL("/srv/my images/a#b.png"))
}
