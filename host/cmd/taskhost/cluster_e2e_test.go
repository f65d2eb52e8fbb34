package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
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
}

// startCluster starts n nodes (node-a, node-b, …) sharing one fresh
// schema, with lease and extra config.
func startCluster(t *testing.T, n int, lease, extra string) []*clusterNode {
	t.Helper()
	url, schema := pgtest.Schema(t)
	var nodes []*clusterNode
	for i := range n {
		id := fmt.Sprintf("node-%c", 'a'+i)
		addr, cmd, _ := serveReal(t, fmt.Sprintf("node_id = %q\nlease = %q\nstore {\n  postgres = %q\n  schema = %q\n}\n", id, lease, url, schema)+extra)
		c, err := api.NewClient(addr)
		require.NoError(t, err)
		nodes = append(nodes, &clusterNode{id: id, addr: addr, cmd: cmd, client: c})
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
