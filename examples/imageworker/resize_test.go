package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
	"github.com/taskhost/taskhost/shared"
)

// setup starts the plugin in-process and initialises it with the shipped
// images and a fresh output directory, which it returns.
func setup(t *testing.T) (*sdktest.Plugin, string) {
	t.Helper()
	p := sdktest.Start(t, newImageWorker().methods())
	out := filepath.Join(t.TempDir(), "out")
	_, err := sdktest.Call[none](context.Background(), p, "initialise", Config{SourceDir: "images", OutputDir: out})
	require.NoError(t, err)
	return p, out
}

// decodePNGAt opens the file a location URL names and decodes it as PNG.
func decodePNGAt(t *testing.T, location string) (image.Image, string) {
	t.Helper()
	u, err := url.Parse(location)
	require.NoError(t, err)
	require.Equal(t, "file", u.Scheme)
	require.True(t, filepath.IsAbs(u.Path), u.Path)
	f, err := os.Open(u.Path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	return img, u.Path
}

func requireInvalidPayload(t *testing.T, err error, field string) {
	t.Helper()
	var te *shared.TaskError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "InvalidPayload", te.Name, te.Message)
	require.True(t, te.Permanent, te.Message)
	require.Contains(t, te.Message, `payload field "`+field+`"`)
}

func TestResizeWritesPNGOfRequestedSize(t *testing.T) {
	t.Parallel()
	p, out := setup(t)
	for _, size := range []image.Point{{1920, 1080}, {64, 36}, {100, 300}, {1, 1}} {
		got, err := sdktest.Call[ResizeResult](context.Background(), p, "resize", ResizePayload{ImageID: "hero", Width: size.X, Height: size.Y})
		require.NoError(t, err)
		require.Equal(t, "hero", got.ImageID)

		img, path := decodePNGAt(t, got.Location)
		require.Equal(t, image.Rect(0, 0, size.X, size.Y), img.Bounds())
		wantPath, err := filepath.Abs(filepath.Join(out, fmt.Sprintf("hero-%dx%d.png", size.X, size.Y)))
		require.NoError(t, err)
		require.Equal(t, wantPath, path)
		info, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), info.Mode().Perm())
	}
	// Only the four images: no temporary files left behind.
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 4)
}

func TestResizeKeepsTheGradient(t *testing.T) {
	t.Parallel()
	p, _ := setup(t)
	got, err := sdktest.Call[ResizeResult](context.Background(), p, "resize", ResizePayload{ImageID: "hero", Width: 320, Height: 180})
	require.NoError(t, err)
	img, _ := decodePNGAt(t, got.Location)
	// hero.png runs from blue at the top left to yellow at the bottom right.
	tl := color.RGBAModel.Convert(img.At(0, 0)).(color.RGBA)
	br := color.RGBAModel.Convert(img.At(319, 179)).(color.RGBA)
	require.Greater(t, tl.B, uint8(200))
	require.Less(t, tl.R, uint8(30))
	require.Greater(t, br.R, uint8(200))
	require.Greater(t, br.G, uint8(200))
}

func TestResizeReadsJPEGAndReplacesEarlierOutput(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	f, err := os.Create(filepath.Join(src, "photo.jpeg"))
	require.NoError(t, err)
	require.NoError(t, jpeg.Encode(f, image.NewGray(image.Rect(0, 0, 50, 40)), nil))
	require.NoError(t, f.Close())

	p := sdktest.Start(t, newImageWorker().methods())
	out := t.TempDir()
	_, err = sdktest.Call[none](context.Background(), p, "initialise", Config{SourceDir: src, OutputDir: out})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out, "photo-25x20.png"), []byte("stale"), 0o644))

	got, err := sdktest.Call[ResizeResult](context.Background(), p, "resize", ResizePayload{ImageID: "photo", Width: 25, Height: 20})
	require.NoError(t, err)
	img, _ := decodePNGAt(t, got.Location)
	require.Equal(t, image.Rect(0, 0, 25, 20), img.Bounds())
}

func TestResizeRejectsBadPayloads(t *testing.T) {
	t.Parallel()
	p, out := setup(t)
	for _, tc := range []struct {
		payload ResizePayload
		field   string
		says    string
	}{
		{ResizePayload{Width: 10, Height: 10}, "imageId", "is required"},
		{ResizePayload{ImageID: "../images/hero", Width: 10, Height: 10}, "imageId", "without"},
		{ResizePayload{ImageID: "a/b", Width: 10, Height: 10}, "imageId", "without"},
		{ResizePayload{ImageID: `a\b`, Width: 10, Height: 10}, "imageId", "without"},
		{ResizePayload{ImageID: "..", Width: 10, Height: 10}, "imageId", "without"},
		{ResizePayload{ImageID: "nope", Width: 10, Height: 10}, "imageId", "no nope.png, nope.jpg or nope.jpeg in"},
		{ResizePayload{ImageID: "hero", Width: 0, Height: 10}, "width", "want 1..10000"},
		{ResizePayload{ImageID: "hero", Width: -5, Height: 10}, "width", "want 1..10000"},
		{ResizePayload{ImageID: "hero", Width: 10001, Height: 10}, "width", "want 1..10000"},
		{ResizePayload{ImageID: "hero", Width: 10, Height: 0}, "height", "want 1..10000"},
		{ResizePayload{ImageID: "hero", Width: 10, Height: 10001}, "height", "want 1..10000"},
	} {
		_, err := sdktest.Call[ResizeResult](context.Background(), p, "resize", tc.payload)
		requireInvalidPayload(t, err, tc.field)
		require.ErrorContains(t, err, tc.says)
	}
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestResizeBeforeInitialiseFailsPermanently(t *testing.T) {
	t.Parallel()
	p := sdktest.Start(t, newImageWorker().methods())
	_, err := sdktest.Call[ResizeResult](context.Background(), p, "resize", ResizePayload{ImageID: "hero", Width: 10, Height: 10})
	var te *shared.TaskError
	require.ErrorAs(t, err, &te)
	require.True(t, te.Permanent)
	require.Contains(t, te.Message, "not initialised")
}

func TestResizeReportsProgress(t *testing.T) {
	t.Parallel()
	p, _ := setup(t)
	var mu sync.Mutex
	var got []shared.Progress
	_, err := p.Call(context.Background(), "resize", sdk.Task{ID: "t1"}, ResizePayload{ImageID: "hero", Width: 32, Height: 18}, func(pr shared.Progress) {
		mu.Lock()
		got = append(got, pr)
		mu.Unlock()
	})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []shared.Progress{
		{Percent: 0, Message: "decoding hero.png"},
		{Percent: 20, Message: "scaling 640x360 to 32x18"},
		{Percent: 70, Message: "encoding hero-32x18.png"},
		{Percent: 100, Message: "wrote hero-32x18.png"},
	}, got)
}

// A cancelled resize returns the context's error and leaves no file,
// whole or partial, in the output directory. The method is called
// directly: over gRPC a cancelled context never reaches it.
func TestResizeHonoursCancellation(t *testing.T) {
	t.Parallel()
	w := newImageWorker()
	out := t.TempDir()
	_, err := w.initialise(context.Background(), sdk.Task{}, Config{SourceDir: "images", OutputDir: out})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = w.resize(ctx, sdk.Task{}, ResizePayload{ImageID: "hero", Width: 2000, Height: 2000})
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, sdk.IsPermanent(err))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestWritePNGLeavesNoFileWhenStopped(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := writePNG(ctx, filepath.Join(out, "x.png"), image.NewRGBA(image.Rect(0, 0, 500, 500)))
	require.ErrorIs(t, err, context.Canceled)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries)
}
