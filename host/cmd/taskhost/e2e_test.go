package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// serveReal starts `taskhost serve` with a config registering testworker
// methods (plus extra, appended to the file), on 127.0.0.1 and a fresh
// data dir, and returns its address and the process; again starts another
// on the same file and data once the first has exited.
func serveReal(t *testing.T, extra string) (addr string, serve *exec.Cmd, again func() (string, *exec.Cmd)) {
	t.Helper()
	dir := t.TempDir()
	bin, err := testplugin.Build(dir, "testworker")
	require.NoError(t, err)
	config := fmt.Sprintf(`
data_dir = "data"
listen   = "127.0.0.1:0"

handler "echo" {
  plugin = %[1]q
  method = "echo"
  idle_shutdown_timeout = "forever"
}

handler "sleep" {
  plugin = %[1]q
  method = "sleep"
}

handler "progress" {
  plugin = %[1]q
  method = "progress"
}

handler "fail" {
  plugin = %[1]q
  method = "fail"
  idle_shutdown_timeout = "forever"
}

handler "pid" {
  plugin = %[1]q
  method = "pid"
}

handler "span" {
  plugin                = %[1]q
  method                = "span"
  max_worker_count      = 2
  idle_shutdown_timeout = "forever"
}
`, bin) + extra
	cfgPath := filepath.Join(dir, "taskhost.hcl")
	require.NoError(t, os.WriteFile(cfgPath, []byte(config), 0o644))
	start := func() (string, *exec.Cmd) {
		cmd := exec.Command(taskhostBin, "serve", "--config", cfgPath)
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill() })

		addrRE := regexp.MustCompile(`serving the API: addr=http://(\S+)`)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			t.Log(lines.Text())
			if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
				go func() {
					for lines.Scan() {
						t.Log(lines.Text())
					}
				}()
				if !strings.Contains(config, "store {") { // Badger: the data directory
					require.DirExists(t, filepath.Join(dir, "data"), "data_dir is relative to the config file")
				}
				return m[1], cmd
			}
		}
		t.Fatalf("taskhost serve ended before serving: %v", cmd.Wait())
		return "", nil
	}
	addr, serve = start()
	return addr, serve, start
}

func TestE2EServeAndCLI(t *testing.T) {
	t.Parallel()
	addr, serve, _ := serveReal(t, "")

	r := taskhost(t, addr, "", "create", "echo", `{"hello":"cli"}`, "--retain-for", "forever", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	var done shared.Task
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &done), r.stdout)
	require.Equal(t, shared.StatusSuccess, done.Status)
	require.JSONEq(t, `{"hello":"cli"}`, string(done.Result))
	require.Contains(t, r.stderr, "success")

	r = taskhost(t, addr, `{"steps":2,"delayMs":20}`, "create", "progress", "-", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "100%")

	r = taskhost(t, addr, "", "create", "fail", `{"message":"broken"}`, "--retry-count", "1", "--retry-interval", "10ms", "--retain-for", "1h", "--wait")
	require.Equal(t, 1, r.code, "a failed task makes --wait exit non-zero")
	require.Contains(t, r.stdout, "broken")

	r = taskhost(t, addr, "", "create", "sleep", `{"ms":60000}`, "--retain-for", "1h")
	require.Equal(t, 0, r.code, r.stderr)
	sleeping := strings.TrimSpace(r.stdout)
	require.Len(t, sleeping, 32)
	require.Eventually(t, func() bool {
		g := taskhost(t, addr, "", "get", sleeping)
		return strings.Contains(g.stdout, `"status": "processing"`)
	}, 15*time.Second, 10*time.Millisecond)
	r = taskhost(t, addr, "", "cancel", sleeping)
	require.Equal(t, 0, r.code, r.stderr)

	r = taskhost(t, addr, "", "list", "--sort", "dateCreated", "--desc")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout) // header, sleep, fail, echo (the progress task was not retained)
	requireAligned(t, lines)
	require.Contains(t, lines[1], "cancelled")
	require.Contains(t, lines[2], "failed")
	require.Contains(t, lines[3], "success")

	r = taskhost(t, addr, "", "list", "--status", "failed", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var failed []shared.Task
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &failed))
	require.Len(t, failed, 1)
	require.Equal(t, 0, *failed[0].RetriesRemaining)

	r = taskhost(t, addr, "", "retry", failed[0].ID)
	require.Equal(t, 0, r.code, r.stderr)
	r = taskhost(t, addr, "", "remove", failed[0].ID)
	require.Equal(t, 0, r.code, r.stderr)
	requireOneLine(t, taskhost(t, addr, "", "get", failed[0].ID), 1, "not found")
	requireOneLine(t, taskhost(t, addr, "", "cancel", done.ID), 1, "success")

	r = taskhost(t, addr, "", "handlers")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "echo")
	requireAligned(t, strings.Split(strings.TrimSpace(r.stdout), "\n"))

	// On Badger the nodes are this one: "main", at the address it serves.
	r = taskhost(t, addr, "", "nodes", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var nodes api.NodesResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &nodes), r.stdout)
	require.Len(t, nodes.Nodes, 1)
	require.Equal(t, "main", nodes.Nodes[0].ID)
	require.Equal(t, "http://"+addr, nodes.Nodes[0].Address)
	require.Equal(t, []string{"echo", "fail", "pid", "progress", "sleep", "span"}, nodes.Nodes[0].Handlers)

	// SIGTERM stops the host gracefully.
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
}

func TestE2EAPIToken(t *testing.T) {
	t.Parallel()
	addr, _, _ := serveReal(t, `api_token = "t0ken"`+"\n")

	requireOneLine(t, taskhost(t, addr, "", "list"), 1, "missing or wrong API token")
	requireOneLine(t, taskhost(t, addr, "", "list", "--token", "wrong"), 1, "401")
	r := taskhost(t, addr, "", "create", "echo", `1`, "--token", "t0ken", "--wait")
	require.Equal(t, 0, r.code, r.stderr)

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "health needs no token")
}

func TestE2EServeRefusesOpenListenWithoutToken(t *testing.T) {
	t.Parallel()
	requireOneLine(t, taskhost(t, "", "", "serve", "--data", t.TempDir(), "--listen", "0.0.0.0:0"), 1,
		"refusing to listen on 0.0.0.0:0 without an API token")
}

func TestE2EDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	addr, serve, again := serveReal(t, `drain_timeout = "3s"`+"\n")

	r := taskhost(t, addr, "", "create", "sleep", `{"ms":600000}`, "--retain-for", "forever")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	// Wait until the method runs in a worker, so that the drain below
	// runs out of time on a running method.
	client, err := api.NewClient(addr)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		hs, err := client.Handlers(t.Context())
		if err != nil {
			return false
		}
		for _, h := range hs {
			if h.Type == "sleep" && h.Pool.Busy == 1 {
				return true
			}
		}
		return false
	}, 15*time.Second, 10*time.Millisecond)

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	// While the running task drains, new tasks are refused and reads work.
	require.Eventually(t, func() bool {
		r := taskhost(t, addr, "", "create", "echo", `1`)
		return r.code == 1 && strings.Contains(r.stderr, "shutting down")
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, serve.Wait(), "a drain that runs out of time is still a clean stop")

	// The interrupted task runs again at the next start.
	addr, _ = again()
	require.Eventually(t, func() bool {
		return strings.Contains(taskhost(t, addr, "", "get", id).stdout, `"status": "processing"`)
	}, 15*time.Second, 10*time.Millisecond)
}

// create --wait never misses the end of a task it created: fast tasks
// removed as soon as they finish (no --retain-for) still print their
// final state, with the right exit status.
func TestE2ECreateWaitNeverMissesTheEnd(t *testing.T) {
	t.Parallel()
	addr, _, _ := serveReal(t, "")
	const each = 200
	type job struct {
		args   []string
		status shared.Status
		code   int
	}
	var jobs []job
	for range each {
		jobs = append(jobs,
			job{[]string{"create", "echo", `{"imageId":"hero","width":-5}`, "--wait"}, shared.StatusSuccess, 0},
			job{[]string{"create", "fail", `{"message":"width must be positive"}`, "--wait"}, shared.StatusFailed, 1})
	}
	var wg sync.WaitGroup
	work := make(chan job)
	var mu sync.Mutex
	var failures []string
	for range 8 {
		wg.Go(func() {
			for j := range work {
				r := taskhost(t, addr, "", j.args...)
				var got shared.Task
				err := json.Unmarshal([]byte(r.stdout), &got)
				if r.code != j.code || err != nil || got.Status != j.status {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%v: exit %d, stdout %q, stderr %q", j.args[1], r.code, r.stdout, r.stderr))
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	require.Empty(t, failures, "%d of %d runs did not print the final state", len(failures), len(jobs))

	// A task cancelled while --wait follows it: printed, exit 1.
	done := make(chan result)
	go func() { done <- taskhost(t, addr, "", "create", "sleep", `{"ms":600000}`, "--wait") }()
	client, err := api.NewClient(addr)
	require.NoError(t, err)
	var id string
	require.Eventually(t, func() bool {
		page, err := client.List(t.Context(), host.Query{Type: "sleep", Status: shared.StatusProcessing})
		if err != nil || len(page.Tasks) != 1 {
			return false
		}
		id = page.Tasks[0].ID
		return true
	}, 15*time.Second, 10*time.Millisecond)
	require.NoError(t, client.Cancel(t.Context(), id))
	r := <-done
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stdout, `"status": "cancelled"`)
	require.True(t, strings.HasSuffix(r.stderr, "taskhost: task "+id+" was cancelled\n"), r.stderr)
}

// What a web page could send to a loopback host is refused; what the CLI
// and curl send with -H 'Content-Type: application/json' is not.
func TestE2EWebPagesCannotDriveTheAPI(t *testing.T) {
	t.Parallel()
	addr, _, _ := serveReal(t, `allowed_origins = ["http://ops.example:3000"]`+"\n")
	send := func(headers map[string]string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v1/tasks", strings.NewReader(`{"type":"echo"}`))
		require.NoError(t, err)
		for k, v := range headers {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	for _, tc := range []struct {
		headers map[string]string
		status  int
	}{
		{map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, http.StatusForbidden},
		{map[string]string{"Content-Type": "application/json", "Host": "attacker.example:" + port}, http.StatusForbidden},
		{map[string]string{"Content-Type": "application/json"}, http.StatusCreated},
		{map[string]string{"Content-Type": "application/json", "Host": "localhost:" + port}, http.StatusCreated},
		{map[string]string{"Content-Type": "application/json", "Origin": "http://ops.example:3000"}, http.StatusCreated},
	} {
		require.Equal(t, tc.status, send(tc.headers).StatusCode, "%v", tc.headers)
	}
}

func TestE2ETypesWithoutHandler(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "taskhost.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte(`
data_dir = "data"
listen   = "127.0.0.1:0"
schedule "nightly" {
  interval_days = 1
  task { type = "nosuch-typo" }
}
`), 0o644))
	cmd := exec.Command(taskhostBin, "serve", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var warned bool
	var addr string
	lines := bufio.NewScanner(stderr)
	for addr == "" && lines.Scan() {
		t.Log(lines.Text())
		if strings.Contains(lines.Text(), "[WARN]") && strings.Contains(lines.Text(), "schedule creates tasks of a type without a handler") &&
			strings.Contains(lines.Text(), "schedule=nightly task_type=nosuch-typo") {
			warned = true
		}
		if m := regexp.MustCompile(`serving the API: addr=http://(\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	require.NotEmpty(t, addr)
	go func() {
		for lines.Scan() {
			t.Log(lines.Text())
		}
	}()
	require.True(t, warned, "the schedule of a type without a handler is warned of at load")

	r := taskhost(t, addr, "", "create", "nosuch-typo", "{}")
	require.Equal(t, 0, r.code, r.stderr)
	require.Len(t, strings.TrimSpace(r.stdout), 32)
	require.Equal(t, "taskhost: warning: no handler is registered for task type \"nosuch-typo\": the task waits until one registers\n", r.stderr)

	// The strict host refuses them, naming the types it has.
	addr, _, _ = serveReal(t, "strict_types = true\n")
	r = taskhost(t, addr, "", "create", "nosuch-typo", "{}", "--wait")
	requireOneLine(t, r, 1, `task type "nosuch-typo" has no handler`, "want one of echo, fail, pid, progress, sleep, span", "422 NoHandler")
}
