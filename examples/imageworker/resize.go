package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // sources may be JPEG
	"image/png"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/image/draw"

	"github.com/taskhost/taskhost/sdk"
)

// maxSide bounds the width and height of both the requested image and the
// source, so that one task cannot take all the worker's memory.
const maxSide = 10000

// sourceExts are tried in this order for <imageId><ext> in source_dir.
var sourceExts = []string{".png", ".jpg", ".jpeg"}

// ResizePayload is the payload of "resize".
type ResizePayload struct {
	// ImageID names the source image without its extension, e.g. "hero"
	// for hero.png.
	ImageID string `json:"imageId"`
	// Width and Height are the output size in pixels, 1..10000 each. The
	// image is scaled to exactly this size; the aspect ratio is not kept.
	Width  int `json:"width"`
	Height int `json:"height"`
}

// ResizeResult is the result of "resize".
type ResizeResult struct {
	ImageID string `json:"imageId"`
	// Location is the file:// URL of the written PNG.
	Location string `json:"location"`
}

func (p ResizePayload) validate() error {
	switch {
	case p.ImageID == "":
		return invalidPayload("imageId", `is required: the name of an image in source_dir without its extension, e.g. "hero"`)
	case strings.ContainsAny(p.ImageID, `/\`+"\x00") || strings.Contains(p.ImageID, "..") || p.ImageID == ".":
		return invalidPayload("imageId", `%q is not allowed: want a plain file name without "/", "\" or ".."`, p.ImageID)
	case p.Width < 1 || p.Width > maxSide:
		return invalidPayload("width", "%d is out of range: want 1..%d pixels", p.Width, maxSide)
	case p.Height < 1 || p.Height > maxSide:
		return invalidPayload("height", "%d is out of range: want 1..%d pixels", p.Height, maxSide)
	}
	return nil
}

// resize scales <source_dir>/<imageId>.{png,jpg,jpeg} to width×height and
// writes <output_dir>/<imageId>-<width>x<height>.png, replacing any
// earlier file of that name.
func (w *imageWorker) resize(ctx context.Context, _ sdk.Task, p ResizePayload) (ResizeResult, error) {
	sourceDir, outputDir, err := w.dirs()
	if err != nil {
		return ResizeResult{}, err
	}
	if err := p.validate(); err != nil {
		return ResizeResult{}, err
	}
	srcPath, err := findSource(sourceDir, p.ImageID)
	if err != nil {
		return ResizeResult{}, err
	}

	sdk.Progress(ctx, 0, "decoding "+filepath.Base(srcPath))
	src, err := decode(srcPath)
	if err != nil {
		return ResizeResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return ResizeResult{}, err
	}

	b := src.Bounds()
	sdk.Progress(ctx, 20, fmt.Sprintf("scaling %dx%d to %dx%d", b.Dx(), b.Dy(), p.Width, p.Height))
	dst, err := scale(ctx, src, p.Width, p.Height)
	if err != nil {
		return ResizeResult{}, err
	}

	name := fmt.Sprintf("%s-%dx%d.png", p.ImageID, p.Width, p.Height)
	sdk.Progress(ctx, 70, "encoding "+name)
	out := filepath.Join(outputDir, name)
	if err := writePNG(ctx, out, dst); err != nil {
		return ResizeResult{}, err
	}
	w.countWritten()
	sdk.Progress(ctx, 100, "wrote "+name)
	sdk.Logger(ctx).Info("resized", "image_id", p.ImageID, "width", p.Width, "height", p.Height, "path", out)
	return ResizeResult{ImageID: p.ImageID, Location: fileURL(out)}, nil
}

// findSource returns the first of <imageId>.png, .jpg, .jpeg in dir.
func findSource(dir, imageID string) (string, error) {
	for _, ext := range sourceExts {
		path := filepath.Join(dir, imageID+ext)
		info, err := os.Stat(path)
		if err == nil && info.Mode().IsRegular() {
			return path, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("look for source image: %w", err) // e.g. EIO: worth a retry
		}
	}
	return "", invalidPayload("imageId", "%q: no %s.png, %s.jpg or %s.jpeg in %s", imageID, imageID, imageID, imageID, dir)
}

// decode reads a PNG or JPEG, refusing one larger than maxSide before
// spending memory on its pixels.
func decode(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open source image: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return nil, sdk.Permanent(fmt.Errorf("source image %s is not a readable PNG or JPEG: %w", path, err))
	}
	if cfg.Width > maxSide || cfg.Height > maxSide {
		return nil, sdk.Permanent(fmt.Errorf("source image %s is %dx%d: want at most %dx%d", path, cfg.Width, cfg.Height, maxSide, maxSide))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read source image: %w", err)
	}
	r.Reset(f)
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, sdk.Permanent(fmt.Errorf("source image %s: decode %s: %w", path, format, err))
	}
	return img, nil
}

// scale resizes src to exactly width×height with Catmull-Rom.
//
// draw's Scale cannot be interrupted, so it runs in its own goroutine:
// when ctx ends the method returns at once and the goroutine's work is
// thrown away when it finishes.
func scale(ctx context.Context, src image.Image, width, height int) (*image.RGBA, error) {
	dst := image.NewRGBA(image.Rect(0, 0, width, height))
	done := make(chan struct{})
	go func() {
		defer close(done)
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	}()
	select {
	case <-done:
		return dst, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// writePNG encodes img to a temporary file beside path and renames it into
// place, so that path is either absent, the old image or the whole new
// one, whatever happens to the process meanwhile.
func writePNG(ctx context.Context, path string, img image.Image) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPattern(path, os.Getpid()))
	if err != nil {
		return fmt.Errorf("create output file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(ctxWriter{ctx: ctx, w: tmp})
	if err := png.Encode(bw, img); err != nil {
		return fmt.Errorf("encode PNG: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write output file: %w", err)
	}
	// CreateTemp makes the file private; the image is for others to read.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod output file: %w", err)
	}
	// Sync before rename: otherwise a power cut can leave the new name
	// pointing at an empty file.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync output file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close output file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename output file into place: %w", err)
	}
	return nil
}

// A temporary output file is named .<name>.<pid>-<random>.tmp, pid being
// the writing worker's. A worker killed mid-write (SIGKILL, an execution
// timeout, a memory limit) cannot remove its own; the pid lets a later
// worker tell such a file from one that a live worker is still writing,
// since max_worker_count > 1 makes several processes share output_dir. An
// age limit could not: a large image can take minutes to encode.
const tempSuffix = ".tmp"

// tempPattern is the os.CreateTemp pattern for writing path from process
// pid.
func tempPattern(path string, pid int) string {
	return "." + filepath.Base(path) + "." + strconv.Itoa(pid) + "-*" + tempSuffix
}

// tempWriter returns the pid in the name of a temporary file that
// tempPattern made for a PNG, or false for any other name.
func tempWriter(name string) (pid int, ok bool) {
	rest, ok := strings.CutSuffix(name, tempSuffix)
	if !ok || !strings.HasPrefix(rest, ".") {
		return 0, false
	}
	dot := strings.LastIndexByte(rest, '.')
	if !strings.HasSuffix(rest[:dot], ".png") {
		return 0, false
	}
	pidText, random, ok := strings.Cut(rest[dot+1:], "-")
	if !ok || random == "" {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// removeStaleTemps removes the temporary files in dir whose writer is no
// longer running, and returns their names. A process that cannot be
// signalled for another reason (another user's, say) counts as running:
// keeping a stale file is harmless, removing a live one fails its task.
// A dead writer's pid taken by a new process keeps its file until that
// process is gone too.
func removeStaleTemps(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		pid, ok := tempWriter(e.Name())
		if !ok || !e.Type().IsRegular() || processRunning(pid) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// processRunning reports whether process pid exists, by sending it signal
// 0, which checks without delivering anything.
func processRunning(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false // Windows: no such process
	}
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// ctxWriter fails writes once ctx ends, which stops the PNG encoder
// part-way through a large image.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// fileURL returns the file:// URL of an absolute path.
func fileURL(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x becomes file:///C:/x
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}
