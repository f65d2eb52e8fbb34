package host_test

// Node.js plugins (sdk/node) through the real engine and real plugin
// processes: each semantic a Go plugin has, checked the way the Go
// plugin's tests check it.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testlog"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// nodeEnv is a started host whose logs are kept, for the SDK's test
// plugin.
type nodeEnv struct {
	*env
	node testplugin.Node
	logs *testlog.Buffer
}

func setupNode(t *testing.T) *nodeEnv {
	t.Helper()
	node := testplugin.NeedNode(t)
	logger, logs := testlog.New(hclog.Debug)
	// Room for every handler's worker at once: no pid may change because
	// a type yielded its slot to another.
	e := setup(t, func(o *host.Options) { o.Logger, o.SystemWorkerCount = logger, 16 })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	return &nodeEnv{env: e, node: node, logs: logs}
}

// register registers method of the Node test plugin as task type typ.
func (e *nodeEnv) register(typ, method string, opts ...func(*host.HandlerOptions)) {
	e.t.Helper()
	o := host.HandlerOptions{IdleShutdownTimeout: host.KeepForever, Args: []string{e.node.TestWorker}}
	for _, f := range opts {
		f(&o)
	}
	require.NoError(e.t, e.h.RegisterHandler(context.Background(), typ, e.node.Bin, method, e.rec.callback, o))
}

func retained() host.CreateOptions { return host.CreateOptions{RetainFor: host.RetainForever} }

func requireTaskError(t *testing.T, task shared.Task, name string, parts ...string) {
	t.Helper()
	require.NotNil(t, task.Error, "task %s has no error: %+v", task.ID, task)
	require.Equal(t, name, task.Error.Name, task.Error.Message)
	for _, p := range parts {
		require.Contains(t, task.Error.Message, p)
	}
}

func TestNodePluginRunsAMethodAndSeesItsTask(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("echo", "echo")
	e.register("task", "task")

	id := e.create("echo", `{"hello":"node","n":[1,2]}`, retained())
	require.JSONEq(t, `{"hello":"node","n":[1,2]}`, string(e.waitStatus(id, shared.StatusSuccess).Result))

	id, err := e.h.Create(context.Background(), "task", nil, host.CreateOptions{
		RetainFor: host.RetainForever, RetryCount: 2, ContextIDs: map[string]string{"tenant": "a"},
	})
	require.NoError(t, err)
	var seen struct {
		ID               string            `json:"id"`
		Type             string            `json:"type"`
		ThreadID         string            `json:"threadId"`
		Attempt          int               `json:"attempt"`
		RetriesRemaining *int              `json:"retriesRemaining"`
		ContextIDs       map[string]string `json:"contextIds"`
	}
	require.NoError(t, json.Unmarshal(e.waitStatus(id, shared.StatusSuccess).Result, &seen))
	require.Equal(t, id, seen.ID)
	require.Equal(t, "task", seen.Type)
	require.Equal(t, "main", seen.ThreadID)
	require.Equal(t, 1, seen.Attempt)
	require.NotNil(t, seen.RetriesRemaining)
	require.Equal(t, 2, *seen.RetriesRemaining)
	require.Equal(t, map[string]string{"tenant": "a"}, seen.ContextIDs)
}

func TestNodePluginErrors(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("fail", "fail")
	e.register("panic", "panic")
	e.register("reject", "reject")
	e.register("bigint", "bigint")
	e.register("pid", "pid")
	pid := func() int {
		id := e.create("pid", `{}`, retained())
		var n int
		require.NoError(t, json.Unmarshal(e.waitStatus(id, shared.StatusSuccess).Result, &n))
		return n
	}
	before := pid()

	// A thrown error: its name and message, and the retries are used.
	id, err := e.h.Create(context.Background(), "fail", json.RawMessage(`{"message":"no such image"}`),
		host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 1, RetryInterval: time.Millisecond})
	require.NoError(t, err)
	task := e.waitStatus(id, shared.StatusFailed)
	requireTaskError(t, task, "Error", "no such image")
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusPending, shared.StatusProcessing, shared.StatusFailed}, e.rec.statuses(id))

	// A TaskError keeps its name; permanent skips the retries left.
	id, err = e.h.Create(context.Background(), "fail", json.RawMessage(`{"name":"ImageMissing","message":"gone","permanent":true}`),
		host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 3})
	require.NoError(t, err)
	task = e.waitStatus(id, shared.StatusFailed)
	requireTaskError(t, task, "ImageMissing", "gone")
	require.True(t, task.Error.Permanent)
	require.Equal(t, []shared.Status{shared.StatusProcessing, shared.StatusFailed}, e.rec.statuses(id))

	// An exception thrown from a timer, and a promise rejection nobody
	// handles: a Panic for that call; the worker lives on.
	task = e.waitStatus(e.create("panic", `{"message":"boom"}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNamePanic, `method "panic" threw an uncaught exception`, "testworker: boom", "testworker.mjs")
	task = e.waitStatus(e.create("reject", `{"message":"nobody caught me"}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNamePanic, `method "reject" left a promise rejection unhandled`, "RangeError: testworker: nobody caught me")

	// A result JSON cannot hold.
	task = e.waitStatus(e.create("bigint", `{}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNameInvalidResult, `method "bigint": encode result`)

	require.Equal(t, before, pid(), "the worker survived every error")
}

func TestNodePluginCrashes(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("exit", "exit")
	e.register("sleep", "sleep")
	e.register("echo", "echo")

	task := e.waitStatus(e.create("exit", `{"code":3}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNameWorkerCrashed, "exited during method \"exit\"", "exit status 3")

	// SIGKILL from outside, mid-task.
	id := e.create("sleep", `{"ms":600000}`, retained())
	e.waitStatus(id, shared.StatusProcessing)
	var pid int
	eventually(t, "the sleep worker to be busy", func() bool {
		for _, w := range e.h.Handlers()[handlerIndex(e.h.Handlers(), "sleep")].Pool.Workers {
			if w.Busy {
				pid = w.PID
				return true
			}
		}
		return false
	})
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	task = e.waitStatus(id, shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNameWorkerCrashed, "signal: killed")

	// The handlers go on with fresh workers.
	e.waitStatus(e.create("sleep", `{"ms":1}`, retained()), shared.StatusSuccess)
	e.waitStatus(e.create("echo", `1`, retained()), shared.StatusSuccess)
}

func handlerIndex(hs []host.HandlerInfo, typ string) int {
	return slices.IndexFunc(hs, func(h host.HandlerInfo) bool { return h.Type == typ })
}

func TestNodePluginHangIsStoppedByTheExecutionTimeout(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("hang", "hang", func(o *host.HandlerOptions) { o.ExecutionTimeout = 200 * time.Millisecond })
	e.register("sleep", "sleep", func(o *host.HandlerOptions) { o.ExecutionTimeout = 200 * time.Millisecond })

	task := e.waitStatus(e.create("hang", `{}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNameExecutionTimeout, "did not return within its execution timeout", "killed")

	// A method that honours its signal returns at the deadline itself.
	task = e.waitStatus(e.create("sleep", `{"ms":600000}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNameExecutionTimeout, "exceeded its execution timeout", "the execution timeout of 200 ms passed")
}

func TestNodePluginCancelAbortsTheSignal(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("wait", "waitAbort")
	dir := t.TempDir()
	started, file := filepath.Join(dir, "started"), filepath.Join(dir, "aborted")
	id := e.create("wait", fmt.Sprintf(`{"started":%q,"file":%q}`, started, file), retained())
	eventually(t, "the method to start", func() bool { _, err := os.Stat(started); return err == nil })
	require.NoError(t, e.h.Cancel(context.Background(), id))
	e.waitStatus(id, shared.StatusCancelled)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "aborted:Cancelled "), "the method saw ctx.signal abort: %q", b)
}

func TestNodePluginProgress(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("progress", "progress")
	id := e.create("progress", `{"steps":4,"delayMs":50}`, retained())
	watch, err := e.h.Watch(context.Background(), id)
	require.NoError(t, err)
	var seen []string
	var last shared.Task
	for task := range watch {
		if task.Progress != nil {
			seen = append(seen, fmt.Sprintf("%v %s", task.Progress.Percent, task.Progress.Message))
		}
		last = task
	}
	require.Equal(t, shared.StatusSuccess, last.Status)
	require.Contains(t, seen, "50 step 2 of 4")
	require.Contains(t, seen, "100 step 4 of 4")
}

func TestNodePluginLogsAreTaggedInTheHostLog(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("log", "log")
	id := e.create("log", `{"message":"resized hero"}`, retained())
	e.waitStatus(id, shared.StatusSuccess)
	eventually(t, "the plugin's log line in the host's log", func() bool {
		return len(e.logs.Matching("[INFO]", "pool.testworker: resized hero:", "task_id="+id, "method=log", "answer=42", "pid=")) == 1
	})
	// console.log goes to the host through go-plugin's stdio stream, as a
	// Go plugin's fmt.Println does.
	eventually(t, "the plugin's stdout line in the host's log", func() bool {
		return len(e.logs.Matching("stdout: resized hero", "stream=stdout")) == 1
	})
}

func TestNodePluginInitialiseAndShutdownOncePerWorker(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	record := filepath.Join(t.TempDir(), "record")
	e.register("pid", "pid", func(o *host.HandlerOptions) {
		o.InitialiseMethod, o.ShutdownMethod = "initialise", "shutdown"
		o.Config = json.RawMessage(fmt.Sprintf(`{"record":%q}`, record))
		o.MaxTasksPerWorker = 2
	})
	var pids []int
	for range 4 {
		var pid int
		require.NoError(t, json.Unmarshal(e.waitStatus(e.create("pid", `{}`, retained()), shared.StatusSuccess).Result, &pid))
		pids = append(pids, pid)
	}
	require.Equal(t, pids[0], pids[1], "max_tasks_per_worker = 2: two tasks on one worker")
	require.Equal(t, pids[2], pids[3])
	require.NotEqual(t, pids[1], pids[2], "then a fresh worker")
	// Each worker is retired after its second task: its shutdown runs
	// while the next one starts, so the lines are compared sorted.
	lines := func() []string {
		b, _ := os.ReadFile(record)
		l := strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
		slices.Sort(l)
		return l
	}
	want := []string{
		fmt.Sprintf("initialise_%d", pids[0]), fmt.Sprintf("initialise_%d", pids[2]),
		fmt.Sprintf("shutdown_%d", pids[0]), fmt.Sprintf("shutdown_%d", pids[2]),
	}
	slices.Sort(want)
	eventually(t, fmt.Sprintf("both workers' shutdown: want %q", want), func() bool { return slices.Equal(lines(), want) })
	e.shutdown()
	require.Equal(t, want, lines(), "each worker initialised and shut down once")
}

func TestNodePluginMemoryLimit(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("alloc", "alloc", func(o *host.HandlerOptions) { o.MemoryLimit = 128 << 20 })
	task := e.waitStatus(e.create("alloc", `{"mib":256}`, retained()), shared.StatusFailed)
	requireTaskError(t, task, shared.ErrorNameMemoryLimit, "over its limit of 128 MiB")
	// A fresh worker takes the next task.
	e.waitStatus(e.create("alloc", `{"mib":1,"holdMs":1}`, retained()), shared.StatusSuccess)
}

func TestNodePluginGetsNoHostEnvironment(t *testing.T) {
	t.Parallel()
	e := setupNode(t)
	e.register("env", "env", func(o *host.HandlerOptions) { o.Env = map[string]string{"REGION": "eu-1"} })
	var env map[string]string
	require.NoError(t, json.Unmarshal(e.waitStatus(e.create("env", `{}`, retained()), shared.StatusSuccess).Result, &env))
	require.Equal(t, "eu-1", env["REGION"])
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := env[k]; ok && k != "REGION" && k != "GOMAXPROCS" {
			t.Errorf("the host's %s=%q reached the plugin as %q", k, v, got)
		}
	}
	// What go-plugin passes, less the host's certificate, which the SDK
	// removes once read.
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	require.Equal(t, []string{"GOMAXPROCS", "PLUGIN_MAX_PORT", "PLUGIN_MIN_PORT", "PLUGIN_PROTOCOL_VERSIONS", "REGION", "TASKHOST_PLUGIN"}, keys)
}
