package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// twinProject lays out a project as a twin.org team has one: the seed-
// shaped imageWorker module in workers/, and @taskhost/sdk installed in
// node_modules (a link to this checkout's, as npm makes for a file:
// dependency). It returns the module's path.
func twinProject(t *testing.T, node testplugin.Node) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "node_modules", "@taskhost"), 0o755))
	require.NoError(t, os.Symlink(node.SDK, filepath.Join(dir, "node_modules", "@taskhost", "sdk")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "workers"), 0o755))
	src, err := os.ReadFile(filepath.Join(node.SDK, "test", "fixtures", "twin", "workers", "imageWorker.mjs"))
	require.NoError(t, err)
	module := filepath.Join(dir, "workers", "imageWorker.mjs")
	require.NoError(t, os.WriteFile(module, src, 0o644))
	require.NoError(t, os.Chmod(module, 0o644))
	return module
}

// A Node plugin (plugin = "node", args) and a twin.org module (runtime =
// "node", module) under taskhost serve, driven through the CLI and API.
func TestE2ENodePluginAndTwinModule(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	module := twinProject(t, node)
	sum := sha256File(t, module)
	record := filepath.Join(t.TempDir(), "record")
	addr, serve, _ := serveReal(t, fmt.Sprintf(`
handler "node-echo" {
  plugin = "node"
  args   = [%q]
  method = "echo"
}

handler "image-resize" {
  runtime           = "node"
  module            = %q
  method            = "resize"
  initialise_method = "initialise"
  shutdown_method   = "shutdown"
  idle_shutdown_timeout = "forever"
  sha256            = %q
  config            = { bucket = "tenant-a", record = %q }
}
`, node.TestWorker, module, sum, record))

	done := createWait(t, addr, 0, "node-echo", `{"from":"node"}`)
	require.Equal(t, shared.StatusSuccess, done.Status)
	require.JSONEq(t, `{"from":"node"}`, string(done.Result))

	// The twin module, with the task's context ids.
	c, err := api.NewClient(addr)
	require.NoError(t, err)
	ctx := context.Background()
	id, err := c.Create(ctx, "image-resize", json.RawMessage(`{"imageId":"hero","width":1920,"height":1080}`),
		host.CreateOptions{RetainFor: host.RetainForever, ContextIDs: map[string]string{"tenant": "a"}})
	require.NoError(t, err)
	task := waitFinal(t, c, id)
	require.Equal(t, shared.StatusSuccess, task.Status, "%+v", task.Error)
	require.JSONEq(t, `{"imageId":"hero","location":"s3://tenant-a/images/hero-1920x1080.webp","tenant":"a"}`, string(task.Result))

	// What it throws is the task's error, as twin stores it.
	id, err = c.Create(ctx, "image-resize", json.RawMessage(`{"imageId":"hero","width":0,"height":1}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	task = waitFinal(t, c, id)
	require.Equal(t, shared.StatusFailed, task.Status)
	require.Equal(t, &shared.TaskError{Name: "RangeError", Message: "width 0 is not positive"}, task.Error)

	r := taskhost(t, addr, "", "handlers")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "node "+module)
	require.Contains(t, r.stdout, "node "+node.TestWorker)

	// initialise(engineCloneData) once, shutdown() once, on the one worker.
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
	b, err := os.ReadFile(record)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 2, "%s", b)
	pid := strings.Fields(lines[0])[1]
	require.Equal(t, []string{"initialise " + pid + " tenant-a", "shutdown " + pid + " 0"}, lines)
}

func waitFinal(t *testing.T, c *api.Client, id string) shared.Task {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		task, err := c.Get(context.Background(), id)
		require.NoError(t, err)
		if task.Status.Terminal() {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s", id, task.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// The TypeScript example's two handlers, as examples/taskhost.hcl (the
// config make run serves) declares them, with its relative paths made
// absolute: the README's walkthrough of them.
func TestE2ETSWorkerExample(t *testing.T) {
	t.Parallel()
	dir := testplugin.NeedTSWorker(t)
	examples := filepath.Dir(dir)
	b, err := os.ReadFile(filepath.Join(examples, "taskhost.hcl"))
	require.NoError(t, err)
	var blocks []string
	for _, typ := range []string{"catalogue-report", "catalogue-count"} {
		_, rest, ok := strings.Cut(string(b), "\nhandler \""+typ+"\" {\n")
		require.True(t, ok, "examples/taskhost.hcl has no handler %q", typ)
		body, _, ok := strings.Cut(rest, "\n}\n")
		require.True(t, ok)
		for _, sub := range []string{"tsworker/", "importworker/"} {
			body = strings.ReplaceAll(body, `"`+sub, `"`+filepath.Join(examples, sub)+"/")
		}
		blocks = append(blocks, "handler \""+typ+"\" {\n"+body+"\n}\n")
	}
	addr, _, _ := serveReal(t, strings.Join(blocks, "\n"))

	done := createWait(t, addr, 0, "catalogue-report", `{"source":"tenant-a","top":2}`)
	require.Equal(t, shared.StatusSuccess, done.Status)
	var report struct {
		Rows, Bad  int
		StockValue float64
		Top        []struct{ SKU string }
	}
	require.NoError(t, json.Unmarshal(done.Result, &report))
	require.Equal(t, 250, report.Rows)
	require.Equal(t, 2, report.Bad)
	require.Len(t, report.Top, 2)

	done = createWait(t, addr, 1, "catalogue-report", `{"source":"../etc"}`)
	require.Equal(t, "InvalidPayload", done.Error.Name)

	done = createWait(t, addr, 0, "catalogue-count", `{"source":"tenant-a"}`)
	require.JSONEq(t, `{"source":"tenant-a","rows":250}`, string(done.Result))
}

// TestE2ETypeScriptPluginFromReadme compiles the README's TypeScript
// plugin as its "Writing a plugin in TypeScript" section says (offline:
// the SDK's own TypeScript and Node types stand in for the npm install)
// and runs it under taskhost serve.
func TestE2ETypeScriptPluginFromReadme(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	code := readmeBlock(t, "## Writing a plugin in TypeScript", "ts")
	sh := readmeBlock(t, "## Writing a plugin in TypeScript", "sh")
	var tsc []string
	for line := range strings.SplitSeq(sh, "\n") {
		if rest, ok := strings.CutPrefix(line, "npx tsc "); ok {
			tsc = strings.Fields(rest)
		}
	}
	require.NotEmpty(t, tsc, "the README compiles with npx tsc")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type":"module"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "greet.ts"), []byte(code), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "node_modules", "@taskhost"), 0o755))
	require.NoError(t, os.Symlink(node.SDK, filepath.Join(dir, "node_modules", "@taskhost", "sdk")))
	require.NoError(t, os.Symlink(filepath.Join(node.SDK, "node_modules", "@types"), filepath.Join(dir, "node_modules", "@types")))
	cmd := exec.Command(node.Bin, append([]string{filepath.Join(node.SDK, "node_modules", "typescript", "bin", "tsc")}, tsc...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "tsc %s:\n%s", strings.Join(tsc, " "), out)
	greet := filepath.Join(dir, "greet.js")
	require.NoError(t, os.Chmod(greet, 0o644))

	addr, _, _ := serveReal(t, fmt.Sprintf(`
handler "greet" {
  runtime = "node"
  args    = [%q]
  method  = "greet"
}
`, greet))
	done := createWait(t, addr, 0, "greet", `{"name":"twin"}`)
	require.JSONEq(t, `"hello, twin"`, string(done.Result))

	done = createWait(t, addr, 1, "greet", `{}`, "--retry-count", "3")
	require.Equal(t, &shared.TaskError{Name: "Error", Message: "name is empty", Permanent: true}, done.Error)
}

// createWait runs taskhost create TYPE PAYLOAD --wait (and args), checks
// its exit status and returns the task it printed.
func createWait(t *testing.T, addr string, code int, typ, payload string, args ...string) shared.Task {
	t.Helper()
	r := taskhost(t, addr, "", append([]string{"create", typ, payload, "--wait"}, args...)...)
	require.Equal(t, code, r.code, r.stderr)
	var done shared.Task
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &done), r.stdout)
	return done
}
