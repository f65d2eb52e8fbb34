package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
	"github.com/taskhost/taskhost/shared"
)

// clusterNode is a taskhost serve process of a cluster on one schema.
type clusterNode struct {
	id     string
	addr   string
	cmd    *exec.Cmd
	client *api.Client
	// again starts the node anew on the same config (listening on a new
	// port); the old process must be gone.
	again func() (string, *exec.Cmd)
}

// restart starts n anew after it was killed.
func (n *clusterNode) restart(t *testing.T) {
	t.Helper()
	n.addr, n.cmd = n.again()
	c, err := api.NewClient(n.addr)
	require.NoError(t, err)
	n.client = c
}

// startCluster starts n nodes (node-a, node-b, …) sharing one fresh
// schema, with lease and extra config.
func startCluster(t *testing.T, n int, lease, extra string) []*clusterNode {
	t.Helper()
	url, schema := pgtest.Schema(t)
	var nodes []*clusterNode
	for i := range n {
		id := fmt.Sprintf("node-%c", 'a'+i)
		addr, cmd, again := serveReal(t, fmt.Sprintf("node_id = %q\nlease = %q\nstore {\n  postgres = %q\n  schema = %q\n}\n", id, lease, url, schema)+extra)
		c, err := api.NewClient(addr)
		require.NoError(t, err)
		nodes = append(nodes, &clusterNode{id: id, addr: addr, cmd: cmd, client: c, again: again})
	}
	return nodes
}

// runningOn says which node's sleep workers are busy, "" for none.
func runningOn(t *testing.T, nodes []*clusterNode) string {
	t.Helper()
	id, _ := busyWorker(t, nodes, "sleep")
	return id
}

// busyWorker says which node has a busy worker of type typ, and its pid.
func busyWorker(t *testing.T, nodes []*clusterNode, typ string) (string, int) {
	t.Helper()
	for _, n := range nodes {
		if n.cmd.ProcessState != nil {
			continue
		}
		hs, err := n.client.Handlers(t.Context())
		if err != nil {
			continue // killed
		}
		for _, h := range hs {
			if h.Type != typ {
				continue
			}
			for _, w := range h.Pool.Workers {
				if w.Busy {
					return n.id, w.PID
				}
			}
		}
	}
	return "", 0
}

func TestE2EClusterNodesShareTasks(t *testing.T) {
	t.Parallel()
	// A long lease: renewals (every 20s) are not what stops a method
	// cancelled through another node.
	nodes := startCluster(t, 2, "60s", "")
	a, b := nodes[0], nodes[1]

	// Each node lists both.
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			r := taskhost(t, n.addr, "", "nodes", "--json")
			var got api.NodesResponse
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || len(got.Nodes) != 2 {
				return false
			}
			return got.Nodes[0].ID == "node-a" && got.Nodes[1].ID == "node-b" && got.Nodes[1].Address == "http://"+b.addr
		}, 15*time.Second, 50*time.Millisecond)
	}

	// Created through a, run by either, seen through b, create --wait
	// through b included.
	ids := make([]string, 30)
	for i := range ids {
		r := taskhost(t, a.addr, "", "create", "echo", fmt.Sprintf(`{"n":%d}`, i), "--retain-for", "forever")
		require.Equal(t, 0, r.code, r.stderr)
		ids[i] = strings.TrimSpace(r.stdout)
	}
	for i, id := range ids {
		require.Eventually(t, func() bool {
			task, err := b.client.Get(t.Context(), id)
			return err == nil && task.Status == shared.StatusSuccess
		}, 30*time.Second, 20*time.Millisecond)
		task, err := b.client.Get(t.Context(), id)
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(task.Result))
		require.Equal(t, "node-a", task.ThreadID)
	}
	r := taskhost(t, b.addr, "", "create", "echo", `"via b"`, "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"result": "via b"`)
	page, err := b.client.List(t.Context(), host.Query{Type: "echo", Status: shared.StatusSuccess, Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Tasks, len(ids), "queries see every node's tasks")

	// Cancelled through the node that does not run it: the method stops.
	sleeping, err := a.client.Create(t.Context(), "sleep", json.RawMessage(`{"ms":600000}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	var runner string
	require.Eventually(t, func() bool { runner = runningOn(t, nodes); return runner != "" }, 15*time.Second, 20*time.Millisecond)
	other := a
	if runner == "node-a" {
		other = b
	}
	require.NoError(t, other.client.Cancel(t.Context(), sleeping))
	got, err := a.client.Get(t.Context(), sleeping)
	require.NoError(t, err)
	require.Equal(t, shared.StatusCancelled, got.Status)
	require.Eventually(t, func() bool { return runningOn(t, nodes) == "" }, 15*time.Second, 20*time.Millisecond,
		"the method on %s stops once it learns the task is cancelled", runner)
}

// A node killed while it runs a task loses it to the other once its lease
// lapses: the task runs again there, without using a retry, and ends.
func TestE2EClusterKilledNodesTasksRunElsewhere(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2, "3s", "")
	id, err := nodes[0].client.Create(t.Context(), "sleep", json.RawMessage(`{"ms":4000}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	var runner string
	require.Eventually(t, func() bool { runner = runningOn(t, nodes); return runner != "" }, 15*time.Second, 20*time.Millisecond)
	victim := slices.IndexFunc(nodes, func(n *clusterNode) bool { return n.id == runner })
	survivor := nodes[1-victim]
	killed := time.Now()
	require.NoError(t, nodes[victim].cmd.Process.Signal(syscall.SIGKILL))
	_ = nodes[victim].cmd.Wait()

	require.Eventually(t, func() bool {
		task, err := survivor.client.Get(t.Context(), id)
		return err == nil && task.Status == shared.StatusSuccess
	}, 40*time.Second, 50*time.Millisecond, "the killed node's task runs again on %s", survivor.id)
	t.Logf("the task ended on %s %v after the kill (lease 3s, sleep 4s)", survivor.id, time.Since(killed).Round(time.Millisecond))

	// The dead node ages out of the list.
	require.Eventually(t, func() bool {
		ns, err := survivor.client.Nodes(t.Context())
		return err == nil && len(ns) == 1 && ns[0].ID == survivor.id
	}, 30*time.Second, 100*time.Millisecond)
}

// A node stopped (SIGSTOP) past its lease loses its task to the other;
// resumed, it cannot write the outcome its worker got meanwhile: the new
// owner's stands.
func TestE2EClusterLateOutcomeIsDropped(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2, "3s", "")
	id, err := nodes[0].client.Create(t.Context(), "pid", json.RawMessage(`{"ms":5000}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	var runner string
	var stalePID int
	require.Eventually(t, func() bool { runner, stalePID = busyWorker(t, nodes, "pid"); return runner != "" }, 15*time.Second, 20*time.Millisecond)
	stopped := nodes[slices.IndexFunc(nodes, func(n *clusterNode) bool { return n.id == runner })]
	survivor := nodes[0]
	if survivor == stopped {
		survivor = nodes[1]
	}
	require.NoError(t, stopped.cmd.Process.Signal(syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			require.NoError(t, stopped.cmd.Process.Signal(syscall.SIGCONT))
		}
	}
	t.Cleanup(resume)

	var done shared.Task
	require.Eventually(t, func() bool {
		done, err = survivor.client.Get(t.Context(), id)
		return err == nil && done.Status == shared.StatusSuccess
	}, 40*time.Second, 50*time.Millisecond, "%s takes the task over once %s's lease lapses", survivor.id, stopped.id)
	var pid int
	require.NoError(t, json.Unmarshal(done.Result, &pid))
	require.NotEqual(t, stalePID, pid, "the result is the new owner's worker's")

	// Resumed, the stopped node finds its outcome refused and drops it.
	resume()
	require.Eventually(t, func() bool {
		return strings.Contains(metricsOf(t, stopped.addr), `taskhost_tasks_finished_total{outcome="lost",type="pid"} 1`)
	}, 30*time.Second, 50*time.Millisecond)
	after, err := stopped.client.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, shared.StatusSuccess, after.Status)
	require.JSONEq(t, string(done.Result), string(after.Result), "the late outcome changed nothing")
	require.Equal(t, done.DateModified, after.DateModified)
}

// metricsOf reads a node's /metrics.
func metricsOf(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A schedule declared on every node fires once per trigger across them.
func TestE2EClusterScheduleFiresOncePerTrigger(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, "3s", `
schedule "tick" {
  cron = "@every 1s"
  task {
    type       = "echo"
    payload    = { tick = true }
    retain_for = "forever"
  }
}
`)
	// Let it tick a few times with all three nodes up.
	var tasks []shared.Task
	require.Eventually(t, func() bool {
		page, err := nodes[2].client.List(t.Context(), host.Query{Type: "echo", Limit: 1000})
		if err != nil {
			return false
		}
		tasks = page.Tasks
		return len(tasks) >= 6
	}, 30*time.Second, 100*time.Millisecond)
	byTrigger := map[string][]string{}
	for _, task := range tasks {
		require.Equal(t, "tick", task.ContextIDs[host.ContextIDSchedule], "%+v", task.ContextIDs)
		trigger := task.ContextIDs[host.ContextIDTriggerTime]
		byTrigger[trigger] = append(byTrigger[trigger], task.ID+"@"+task.ThreadID)
	}
	for trigger, ids := range byTrigger {
		require.Len(t, ids, 1, "trigger %s fired %d times: %v", trigger, len(ids), ids)
	}
	require.GreaterOrEqual(t, len(byTrigger), 6)
}

// create --wait through a node that does not run the task: its states
// come from the store, and its final one, removed at once (no
// --retain-for), from the node that ran it.
func TestE2EClusterWaitThroughAnotherNode(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2, "3s", "")
	// Occupy one node's only pid worker, so that the next pid task runs on
	// the other.
	long, err := nodes[0].client.Create(t.Context(), "pid", json.RawMessage(`{"ms":600000}`), host.CreateOptions{})
	require.NoError(t, err)
	var busy string
	require.Eventually(t, func() bool { busy, _ = busyWorker(t, nodes, "pid"); return busy != "" }, 15*time.Second, 20*time.Millisecond)
	through := nodes[slices.IndexFunc(nodes, func(n *clusterNode) bool { return n.id == busy })]

	for range 3 {
		r := taskhost(t, through.addr, "", "create", "pid", `{"ms":300}`, "--wait")
		require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		var done shared.Task
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &done), r.stdout)
		require.Equal(t, shared.StatusSuccess, done.Status)
		require.Contains(t, r.stderr, "processing", "the run elsewhere shows")
		_, err := through.client.Get(t.Context(), done.ID)
		require.ErrorIs(t, err, shared.ErrNotFound, "removed as it finished (retainFor 0)")
	}
	require.NoError(t, through.client.Cancel(t.Context(), long))
}

// The progress of a task running on one node shows through the other:
// in its event stream as it moves, and in a get.
func TestE2EClusterProgressThroughAnotherNode(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 2, "3s", "")
	id, err := nodes[0].client.Create(t.Context(), "progress", json.RawMessage(`{"steps":20,"delayMs":150}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	var running string
	require.Eventually(t, func() bool { running, _ = busyWorker(t, nodes, "progress"); return running != "" }, 15*time.Second, 20*time.Millisecond)
	other := nodes[slices.IndexFunc(nodes, func(n *clusterNode) bool { return n.id != running })]

	seen := map[float64]bool{}
	var last shared.Task
	require.NoError(t, other.client.Events(t.Context(), id, func(task shared.Task) {
		if task.Progress != nil {
			seen[task.Progress.Percent] = true
		}
		last = task
	}))
	require.Equal(t, shared.StatusSuccess, last.Status, "the stream ends with the outcome")
	moving := 0
	for p := range seen {
		if p > 0 && p < 100 {
			moving++
		}
	}
	require.GreaterOrEqual(t, moving, 3, "the progress moves in the other node's stream: %v", seen)
}

// countStatus counts the tasks of typ in status, through n.
func countStatus(t *testing.T, n *clusterNode, typ string, status shared.Status) int {
	t.Helper()
	total, cursor := 0, ""
	for {
		page, err := n.client.List(t.Context(), host.Query{Type: typ, Status: status, Limit: 1000, Cursor: cursor})
		if err != nil {
			return -1
		}
		total += len(page.Tasks)
		if page.Cursor == "" {
			return total
		}
		cursor = page.Cursor
	}
}

// createSpans creates n span tasks of ms through node, kept when done,
// and returns the file their runs are written to.
func createSpans(t *testing.T, node *clusterNode, n, ms int) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "spans")
	payload := json.RawMessage(fmt.Sprintf(`{"file":%q,"ms":%d}`, file, ms))
	tasks := make([]host.NewTask, n)
	for i := range tasks {
		tasks[i] = host.NewTask{Type: "span", Payload: payload, Options: host.CreateOptions{RetainFor: host.RetainForever}}
	}
	for batch := range slices.Chunk(tasks, 500) {
		_, err := node.client.CreateMany(t.Context(), batch)
		require.NoError(t, err)
	}
	return file
}

// span is one run of a span task, from the lines the method wrote.
type span struct {
	attempt    int
	host       int // the pid of the taskhost serve that ran it
	start, end int64
}

// readSpans reads the span lines of file: the runs of each task.
func readSpans(t *testing.T, file string) map[string][]*span {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	runs := map[string][]*span{}
	for line := range strings.Lines(string(data)) {
		l := parseSpanLine(t, line)
		switch l.what {
		case "start":
			runs[l.id] = append(runs[l.id], &span{attempt: l.attempt, host: l.host, start: l.at})
		case "end":
			i := slices.IndexFunc(runs[l.id], func(s *span) bool { return s.attempt == l.attempt && s.host == l.host })
			require.GreaterOrEqual(t, i, 0, "an end without its start: %s", line)
			runs[l.id][i].end = l.at
		}
	}
	return runs
}

// spanLine is one line the span method wrote.
type spanLine struct {
	what, id      string // what: start or end
	attempt, host int    // host: the pid of the taskhost serve
	at            int64  // unix ns
}

func parseSpanLine(t *testing.T, line string) spanLine {
	t.Helper()
	var l spanLine
	_, err := fmt.Sscanf(line, "%s %s %d %d %d", &l.what, &l.id, &l.attempt, &l.host, &l.at)
	require.NoError(t, err, line)
	return l
}

// spanTail follows the spans of one taskhost serve in a span file as
// it grows: the runs begun and not ended.
type spanTail struct {
	file  string
	pid   int
	read  int              // bytes of complete lines read
	begun map[string]int64 // "<task id> <attempt>" → start
}

// justBegan reads the lines added since the last call and says whether a
// run began less than within ago and has not ended.
func (s *spanTail) justBegan(t *testing.T, within time.Duration) bool {
	t.Helper()
	data, err := os.ReadFile(s.file)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	for line := range strings.Lines(string(data[s.read:])) {
		if !strings.HasSuffix(line, "\n") {
			break // still being written
		}
		s.read += len(line)
		l := parseSpanLine(t, line)
		if l.host != s.pid {
			continue
		}
		run := fmt.Sprint(l.id, " ", l.attempt)
		if l.what == "start" {
			s.begun[run] = l.at
		} else {
			delete(s.begun, run)
		}
	}
	for _, at := range s.begun {
		if time.Since(time.Unix(0, at)) < within {
			return true
		}
	}
	return false
}

// Three nodes run 2,000 tasks of 30ms; one is killed mid-run. Every task
// ends, none ran on two nodes at once, and the killed node's tasks ran
// again on the others once their leases lapsed.
func TestE2EClusterKilledNodeUnderLoad(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, "3s", "")
	const n = 2000
	file := createSpans(t, nodes[0], n, 30)
	require.Eventually(t, func() bool { return countStatus(t, nodes[0], "span", shared.StatusSuccess) >= n/4 }, 60*time.Second, 20*time.Millisecond)
	victim := nodes[1]
	// Killed while it runs span methods, so that some runs are cut short:
	// right after one of its spans began, well within the span's 30ms.
	// (Waiting for a busy worker instead once let the kill land before any
	// span had begun on a heavily loaded machine: "0 tasks interrupted".)
	tail := &spanTail{file: file, pid: victim.cmd.Process.Pid, begun: map[string]int64{}}
	// Polled on the test's goroutine (not in require.Eventually), so that a
	// line that does not parse fails the test at once.
	deadline := time.Now().Add(30 * time.Second)
	for !tail.justBegan(t, 10*time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no span of the victim began within 30s")
		time.Sleep(time.Millisecond)
	}
	killed := time.Now()
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()

	require.Eventually(t, func() bool { return countStatus(t, nodes[2], "span", shared.StatusSuccess) == n }, 120*time.Second, 100*time.Millisecond,
		"every task ends")
	require.Zero(t, countStatus(t, nodes[0], "span", shared.StatusFailed))

	runs := readSpans(t, file)
	require.Len(t, runs, n, "every task ran")
	var rerun, maxDelay int64
	for id, rs := range runs {
		slices.SortFunc(rs, func(a, b *span) int { return int(a.start - b.start) })
		done := false
		for i, r := range rs {
			if r.end == 0 {
				require.Equal(t, victim.cmd.Process.Pid, r.host, "task %s: only the killed node leaves a run unfinished", id)
				r.end = killed.UnixNano()
			} else {
				done = true
			}
			if i > 0 {
				prev := rs[i-1]
				require.Greater(t, r.attempt, prev.attempt, "task %s: each run is a new attempt", id)
				require.GreaterOrEqual(t, r.start, prev.end, "task %s ran on two nodes at once: %+v then %+v", id, prev, r)
				if prev.host == victim.cmd.Process.Pid {
					rerun++
					maxDelay = max(maxDelay, r.start-killed.UnixNano())
				}
			}
		}
		require.True(t, done, "task %s finished a run", id)
	}
	t.Logf("%d tasks interrupted by the kill ran again, the last %v after it (lease 3s)", rerun, time.Duration(maxDelay).Round(time.Millisecond))
	require.Positive(t, rerun, "the kill interrupted some tasks")
	require.Less(t, time.Duration(maxDelay), 3*time.Second+10*time.Second, "within the lease and some seconds")
}

// All nodes killed with tasks pending and processing, then started again:
// nothing is lost.
func TestE2EClusterRestartAllLosesNothing(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3, "3s", "")
	const n = 300
	file := createSpans(t, nodes[0], n, 50)
	require.Eventually(t, func() bool { return countStatus(t, nodes[0], "span", shared.StatusSuccess) >= 20 }, 60*time.Second, 20*time.Millisecond)
	require.Positive(t, countStatus(t, nodes[0], "span", shared.StatusPending))
	for _, node := range nodes {
		require.NoError(t, node.cmd.Process.Signal(syscall.SIGKILL))
		_ = node.cmd.Wait()
	}
	for _, node := range nodes {
		node.restart(t)
	}
	require.Eventually(t, func() bool { return countStatus(t, nodes[0], "span", shared.StatusSuccess) == n }, 120*time.Second, 100*time.Millisecond,
		"every task ends after the restart")
	require.Len(t, readSpans(t, file), n)
}

func TestE2EMigrate(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	cfg := filepath.Join(t.TempDir(), "taskhost.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf("store {\n  schema = %q\n}\n", schema)), 0o644))
	migrate := func(args ...string) result {
		cmd := exec.CommandContext(t.Context(), taskhostBin, append([]string{"migrate", "--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), DatabaseURLEnv+"="+url)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	}
	r := migrate("status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, []string{"VERSION NAME APPLIED", "001 001_tasks pending", "002 002_schedules pending", "003 003_cluster pending"}, fieldLines(r.stdout))
	r = migrate()
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "applied 001_tasks\napplied 002_schedules\napplied 003_cluster\n", r.stdout)
	r = migrate("up")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "schema "+schema+" is up to date\n", r.stdout)
	r = migrate("status")
	require.Equal(t, 0, r.code, r.stderr)
	require.NotContains(t, r.stdout, "pending")
	require.Len(t, fieldLines(r.stdout), 4)
	require.Equal(t, 2, migrate("sideways").code)
}

// fieldLines is each line of s with its fields joined by one space.
func fieldLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return out
}
