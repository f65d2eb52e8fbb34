package main

import (
	"context"
	"os"
	"os/exec"
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

func TestInitialiseRemovesTempFilesOfDeadWorkersOnly(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	// A pid that is certainly free: that of a process that has exited
	// and been waited for, as a worker killed mid-write would be.
	exited := exec.Command(os.Args[0], "-test.run=^$")
	require.NoError(t, exited.Run())
	deadPID := exited.Process.Pid
	// The go command running this test stands for another live worker
	// writing into the same directory.
	livePID := os.Getppid()

	temp := func(name string, pid int) string {
		f, err := os.CreateTemp(out, tempPattern(filepath.Join(out, name), pid))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		return f.Name()
	}
	stale := temp("hero-9000x9000.png", deadPID)
	live := temp("hero-320x180.png", livePID)
	mine := temp("hero-64x36.png", os.Getpid())
	others := []string{filepath.Join(out, ".notes.tmp"), filepath.Join(out, "hero-1x1.png"), filepath.Join(out, ".hero-1x1.png.123456.tmp")}
	for _, name := range others {
		require.NoError(t, os.WriteFile(name, nil, 0o644))
	}

	p := sdktest.Start(t, newImageWorker().methods())
	_, err := sdktest.Call[none](context.Background(), p, "initialise", Config{SourceDir: "images", OutputDir: out})
	require.NoError(t, err)

	require.NoFileExists(t, stale, "the killed worker's temporary file is removed")
	for _, keep := range append([]string{live, mine}, others...) {
		require.FileExists(t, keep, "only temporary files of dead writers are removed")
	}
}

func TestTempWriter(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]int{
		".hero-9000x9000.png.4242-2938475.tmp": 4242,
		".a.b-1x1.png.7-1.tmp":                 7,
		".hero-1x1.png.2938475.tmp":            0, // no pid: not this pattern
		".hero-1x1.png.x-1.tmp":                0,
		".hero-1x1.png.0-1.tmp":                0,
		".hero-1x1.png.5-.tmp":                 0,
		".notes.5-1.tmp":                       0,
		"hero-1x1.png.5-1.tmp":                 0,
		".hero-1x1.png.5-1":                    0,
	} {
		pid, ok := tempWriter(name)
		require.Equal(t, want != 0, ok, name)
		require.Equal(t, want, pid, name)
	}
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
