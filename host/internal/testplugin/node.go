package testplugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Node is what a test needs to run Node.js plugins: node and the built
// SDK of this checkout (sdk/node) with its test plugin.
type Node struct {
	// Bin is node's absolute path.
	Bin string
	// SDK is the sdk/node directory, built.
	SDK string
	// TestWorker is the SDK's test plugin, a script with a method for
	// every way a handler can behave (sdk/node/test/fixtures/testworker.mjs).
	TestWorker string
}

var nodeOnce struct {
	sync.Once
	node Node
	err  error
}

// NeedNode returns Node once the SDK is built (npm ci when its
// node_modules is missing or older than its lock file, then its build
// when a source is newer than dist), once per test process and under a
// file lock, since several test binaries may ask at once. Without node
// and npm it skips the test with one loud line, or fails it when CI is
// set: CI must run these tests.
func NeedNode(t testing.TB) Node {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed, and CI must run the Node plugin tests: %v", tool, err)
			}
			t.Skipf("SKIPPED: %s is not installed, so this Node plugin test did not run (install Node.js 20 or later)", tool)
		}
	}
	n, err := BuildNode()
	if err != nil {
		t.Fatalf("build the Node SDK: %v", err)
	}
	return n
}

// BuildNode builds the SDK as NeedNode does, for programs that are not
// tests (the benchmarks).
func BuildNode() (Node, error) {
	nodeOnce.Do(func() { nodeOnce.node, nodeOnce.err = buildNodeSDK() })
	return nodeOnce.node, nodeOnce.err
}

// repoRoot is the checkout this file is in.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func buildNodeSDK() (Node, error) {
	bin, err := exec.LookPath("node")
	if err == nil {
		bin, err = filepath.Abs(bin)
	}
	if err != nil {
		return Node{}, err
	}
	sdk, err := filepath.Abs(filepath.Join(repoRoot(), "sdk", "node"))
	if err != nil {
		return Node{}, err
	}
	n := Node{Bin: bin, SDK: sdk, TestWorker: filepath.Join(sdk, "test", "fixtures", "testworker.mjs")}
	err = buildNodePackage(sdk, []string{bin, "scripts/build.mjs"},
		filepath.Join(sdk, "dist", "index.js"),
		filepath.Join(sdk, "src"), filepath.Join(sdk, "proto"), filepath.Join(sdk, "scripts"),
		filepath.Join(sdk, "tsconfig.json"), filepath.Join(sdk, "package.json"),
		filepath.Join(repoRoot(), "shared", "proto", "worker.proto"))
	if err != nil {
		return n, err
	}
	return n, protect(filepath.Join(sdk, "test", "fixtures"))
}

// NeedTSWorker builds examples/tsworker as make build does (after the
// SDK) and returns its directory; see NeedNode for when it skips.
func NeedTSWorker(t testing.TB) string {
	t.Helper()
	n := NeedNode(t)
	dir, err := filepath.Abs(filepath.Join(repoRoot(), "examples", "tsworker"))
	if err == nil {
		err = buildNodePackage(dir, []string{n.Bin, "node_modules/typescript/bin/tsc", "-p", "."},
			filepath.Join(dir, "dist", "main.js"), filepath.Join(dir, "src"), filepath.Join(dir, "tsconfig.json"), filepath.Join(n.SDK, "dist", "index.d.ts"))
	}
	if err == nil {
		err = errors.Join(protect(filepath.Join(dir, "dist")), protect(filepath.Join(dir, "workers")))
	}
	if err != nil {
		t.Fatalf("build examples/tsworker: %v", err)
	}
	return dir
}

// buildNodePackage runs npm ci in dir when its node_modules is missing or
// older than its lock file, then build when a source is newer than
// target, holding a file lock shared with the other test processes.
func buildNodePackage(dir string, build []string, target string, sources ...string) error {
	lock, err := os.OpenFile(filepath.Join(dir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if newer(filepath.Join(dir, "node_modules", ".package-lock.json"), filepath.Join(dir, "package-lock.json")) {
		if err := run(dir, "npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"); err != nil {
			return err
		}
	}
	if newer(target, sources...) {
		return run(dir, build[0], build[1:]...)
	}
	return nil
}

// protect takes the write bits of group and others off the files under
// dir: the host refuses scripts they may write, whatever the umask made of
// the checkout.
func protect(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(path, info.Mode().Perm()&^0o022)
	})
}

// newer reports whether any of sources (files, or directories searched
// through) was modified after target, or target is missing.
func newer(target string, sources ...string) bool {
	ti, err := os.Stat(target)
	if err != nil {
		return true
	}
	found := false
	for _, src := range sources {
		_ = filepath.WalkDir(src, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(ti.ModTime()) {
				found = true
				return fs.SkipAll
			}
			return nil
		})
	}
	return found
}

func run(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v in %s (after %v): %w\n%s", name, args, dir, time.Since(start).Round(time.Millisecond), err, out)
	}
	return nil
}
