package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

// TestE2EPluginInItsOwnModule builds the README's example plugin the way
// its "A plugin in its own module" section says, in a module of its own
// outside this one, and runs it under taskhost serve.
func TestE2EPluginInItsOwnModule(t *testing.T) {
	t.Parallel()
	greeter := buildOwnModulePlugin(t, readmeBlock(t, "## Writing a plugin", "go"))
	addr, _, _ := serveReal(t, fmt.Sprintf(`
handler "greet" {
  plugin = %q
  method = "greet"
}
`, greeter))

	r := taskhost(t, addr, "", "create", "greet", `{"name":"twin"}`, "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	var done shared.Task
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &done), r.stdout)
	require.Equal(t, shared.StatusSuccess, done.Status, r.stdout)
	require.JSONEq(t, `"hello, twin"`, string(done.Result))
}

// buildOwnModulePlugin makes module example.com/greeter of mainGo in a
// temporary directory, depending on this checkout through a replace
// directive, builds it and returns the binary's path.
//
// Tests must not need the network, so the go commands run with
// GOPROXY=off, from the module cache that building this repository has
// filled. That rules out the README's go mod tidy (it also wants the
// modules that the dependencies' own tests import); go build -mod=mod
// adds the requirements the build needs instead. The repository's go.sum
// is a superset of what the plugin needs, so it serves as the plugin's.
func buildOwnModulePlugin(t *testing.T, mainGo string) string {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", "..", "..")) // tests run in host/cmd/taskhost
	require.NoError(t, err)
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	require.NoError(t, err)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(mainGo), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	goCmd("mod", "init", "example.com/greeter")
	goCmd("mod", "edit", "-require=github.com/taskhost/taskhost@v0.0.0", "-replace=github.com/taskhost/taskhost="+repo)
	goCmd("build", "-o", "greeter", ".")

	bin := filepath.Join(dir, "greeter")
	// The host refuses group- or world-writable plugins, whatever the
	// umask made of this one.
	require.NoError(t, os.Chmod(bin, 0o755))
	return bin
}

// readmeBlock returns the first ```lang block after heading in the
// repository's README.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	require.True(t, ok, "README has no %q", heading)
	_, code, ok := strings.Cut(section, "```"+lang+"\n")
	require.True(t, ok, "README's %q has no %s block", heading, lang)
	code, _, ok = strings.Cut(code, "```")
	require.True(t, ok)
	return code
}
