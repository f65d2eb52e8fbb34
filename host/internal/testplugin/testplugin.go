// Package testplugin builds the first-party plugins that tests run as
// real subprocesses.
package testplugin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Build compiles plugins/<name> into dir and returns the binary's path.
// Call it from TestMain; the go build cache makes repeated builds cheap.
func Build(dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "github.com/taskhost/taskhost/plugins/"+name)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build plugin %s: %v\n%s", name, err, b)
	}
	// The host refuses group- or world-writable plugins, whatever the
	// umask made of this one.
	if err := os.Chmod(out, 0o755); err != nil {
		return "", err
	}
	return out, nil
}

// Main is a TestMain for packages whose tests run testworker: it builds
// plugins/testworker into a temporary directory, sets *testworker to its
// path, runs the tests, removes the directory and exits with the tests'
// code.
func Main(m *testing.M, testworker *string) {
	dir, err := os.MkdirTemp("", "testworker")
	if err == nil {
		*testworker, err = Build(dir, "testworker")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// WriteExecutable writes b to path with mode 0755 while no process can be
// forked. A child forked while this process holds the file open for
// writing keeps it open until the child execs, and meanwhile an exec of
// path fails with ETXTBSY ("text file busy"): a flake for tests that write
// a plugin and start it while other tests start plugins (go.dev/issue/22315).
func WriteExecutable(path string, b []byte) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(path, b, 0o755)
}

// Alive reports whether a process with that pid exists and is not a
// zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// Running returns the pids of live processes running the binary at path.
func Running(path string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && exe == path && Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
