package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/pool"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// taskhostBin is the taskhost binary TestMain builds.
var taskhostBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taskhost-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	taskhostBin = filepath.Join(dir, "taskhost")
	if out, err := exec.Command("go", "build", "-o", taskhostBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build taskhost: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeEngine answers the calls a test sets; the others reach the nil
// embedded Engine, panic, and come back as a 500.
type fakeEngine struct {
	api.Engine
	create   func(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error)
	get      func(ctx context.Context, id string) (shared.Task, error)
	query    func(ctx context.Context, q host.Query) (host.Page, error)
	action   func(what, id string) error
	handlers func() []host.HandlerInfo
	watch    func(ctx context.Context, id string) (<-chan shared.Task, error)
	// createWatch, unset, answers with the task as created and then what
	// watch gives; hasHandler, unset, says every type has a handler.
	createWatch func(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, <-chan shared.Task, error)
	hasHandler  func(typ string) bool
	nodes       []host.Node
}

func (f *fakeEngine) Create(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error) {
	return f.create(ctx, typ, payload, opts)
}
func (f *fakeEngine) Get(ctx context.Context, id string) (shared.Task, error) { return f.get(ctx, id) }
func (f *fakeEngine) Query(ctx context.Context, q host.Query) (host.Page, error) {
	return f.query(ctx, q)
}
func (f *fakeEngine) Retry(_ context.Context, id string) error  { return f.action("retry", id) }
func (f *fakeEngine) Cancel(_ context.Context, id string) error { return f.action("cancel", id) }
func (f *fakeEngine) Remove(_ context.Context, id string) error { return f.action("remove", id) }
func (f *fakeEngine) Handlers() []host.HandlerInfo              { return f.handlers() }
func (f *fakeEngine) Watch(ctx context.Context, id string) (<-chan shared.Task, error) {
	return f.watch(ctx, id)
}
func (f *fakeEngine) HasHandler(typ string) bool { return f.hasHandler == nil || f.hasHandler(typ) }
func (f *fakeEngine) Nodes(context.Context) ([]host.Node, error) {
	return f.nodes, nil
}
func (f *fakeEngine) CreateWatch(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, <-chan shared.Task, error) {
	if f.createWatch != nil {
		return f.createWatch(ctx, typ, payload, opts)
	}
	id, err := f.create(ctx, typ, payload, opts)
	if err != nil {
		return "", nil, err
	}
	ch, err := f.watch(ctx, id)
	return id, ch, err
}

// serveFake serves engine on 127.0.0.1 and returns its address.
func serveFake(t *testing.T, engine *fakeEngine) string {
	t.Helper()
	srv := api.NewServer(engine, api.ServerOptions{})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

type result struct {
	stdout, stderr string
	code           int
}

// taskhost runs the binary with args, stdin and TASKHOST_ADDR=addr (unset
// when addr is empty).
func taskhost(t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), taskhostBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKHOST_ADDR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if addr != "" {
		cmd.Env = append(cmd.Env, "TASKHOST_ADDR="+addr)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// requireOneLine checks that r failed with status code and one stderr
// line "taskhost: ..." containing each of parts.
func requireOneLine(t *testing.T, r result, code int, parts ...string) {
	t.Helper()
	require.Equal(t, code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Empty(t, r.stdout)
	require.True(t, strings.HasPrefix(r.stderr, "taskhost: "), r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	for _, p := range parts {
		require.Contains(t, r.stderr, p)
	}
}

// requireAligned checks that in a table each value starts where its
// column's header does.
func requireAligned(t *testing.T, lines []string) {
	t.Helper()
	for i, header := range strings.Fields(lines[0]) {
		at := strings.Index(lines[0], header)
		for _, line := range lines[1:] {
			require.True(t, strings.HasPrefix(line[at:], strings.Fields(line)[i]), "column %s in %q", header, line)
		}
	}
}

const taskID = "0190f0a8c2b47c4e9a3b5d6e7f809a1b"

func TestCreatePrintsID(t *testing.T) {
	t.Parallel()
	got := make(chan host.NewTask, 3)
	addr := serveFake(t, &fakeEngine{
		create: func(_ context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error) {
			got <- host.NewTask{Type: typ, Payload: payload, Options: opts}
			return taskID, nil
		},
	})

	// Flags before and after the arguments.
	r := taskhost(t, "", "", "create", "--addr", addr, "--retry-count", "3", "image-resize", `{"w": 10}`,
		"--retry-interval", "1500ms", "--retain-for", "forever")
	require.Equal(t, result{stdout: taskID + "\n"}, r)
	require.Equal(t, host.NewTask{
		Type:    "image-resize",
		Payload: json.RawMessage(`{"w":10}`), // compacted on the way
		Options: host.CreateOptions{RetryCount: 3, RetryInterval: 1500 * time.Millisecond, RetainFor: host.RetainForever},
	}, <-got)

	// The payload from a file, the address from the environment.
	file := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(file, []byte(`[1, 2]`), 0o644))
	r = taskhost(t, addr, "", "create", "t", "@"+file, "--retain-for", "10m")
	require.Equal(t, result{stdout: taskID + "\n"}, r)
	require.Equal(t, host.NewTask{Type: "t", Payload: json.RawMessage(`[1,2]`), Options: host.CreateOptions{RetainFor: 10 * time.Minute}}, <-got)

	// The payload from stdin, and "--" before an argument that looks like a flag.
	r = taskhost(t, addr, `"x"`, "create", "--", "-t", "-")
	require.Equal(t, result{stdout: taskID + "\n"}, r)
	require.Equal(t, host.NewTask{Type: "-t", Payload: json.RawMessage(`"x"`)}, <-got)
}

func TestCreateWait(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	task := func(status shared.Status) shared.Task {
		return shared.Task{ID: taskID, Type: "t", ThreadID: "main", Status: status, DateCreated: at, DateModified: at}
	}
	processing := task(shared.StatusProcessing)
	processing.Progress = &shared.Progress{Percent: 40, Message: "resizing"}
	success := task(shared.StatusSuccess)
	success.Result = json.RawMessage(`{"ok":true}`)
	failed := task(shared.StatusFailed)
	failed.Error = &shared.TaskError{Name: "Error", Message: "no disk"}

	for _, tc := range []struct {
		name   string
		events []shared.Task
		final  shared.Task
		code   int
		last   string
	}{
		{"success", []shared.Task{task(shared.StatusPending), processing, processing, success}, success, 0, ""},
		{"failed", []shared.Task{processing, failed}, failed, 1, "taskhost: task " + taskID + " failed: Error: no disk\n"},
		{"cancelled", []shared.Task{task(shared.StatusCancelled)}, task(shared.StatusCancelled), 1, "taskhost: task " + taskID + " was cancelled\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := serveFake(t, &fakeEngine{
				create: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) { return taskID, nil },
				watch: func(context.Context, string) (<-chan shared.Task, error) {
					ch := make(chan shared.Task, len(tc.events))
					for _, e := range tc.events {
						ch <- e
					}
					close(ch)
					return ch, nil
				},
			})
			r := taskhost(t, addr, "", "create", "--wait", "t")
			require.Equal(t, tc.code, r.code, r.stderr)
			want, err := json.MarshalIndent(tc.final, "", "  ")
			require.NoError(t, err)
			require.Equal(t, string(want)+"\n", r.stdout)

			lines := strings.SplitAfter(r.stderr, "\n")
			require.Equal(t, "taskhost: created "+taskID+", waiting for it to finish\n", lines[0])
			if tc.name == "success" {
				// One line per change: the repeated event shows once.
				require.Equal(t, []string{
					"taskhost: " + taskID + " pending\n",
					"taskhost: " + taskID + " processing 40% resizing\n",
					"taskhost: " + taskID + " success\n",
					"",
				}, lines[1:])
			}
			require.True(t, strings.HasSuffix(r.stderr, tc.last), r.stderr)
		})
	}
}

// When the host ends the stream early (it is stopping), --wait asks for
// the task once more and says what it found.
func TestCreateWaitStreamEndsEarly(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	pending := shared.Task{ID: taskID, Type: "t", ThreadID: "main", Status: shared.StatusPending, DateCreated: at, DateModified: at}
	for _, tc := range []struct {
		name string
		get  func(context.Context, string) (shared.Task, error)
		code int
		last string
		out  bool
	}{
		{"still pending", func(context.Context, string) (shared.Task, error) { return pending, nil },
			1, "taskhost: task " + taskID + ": the event stream ended while the task is pending\n", false},
		{"gone", func(context.Context, string) (shared.Task, error) {
			return shared.Task{}, fmt.Errorf("task %s: %w", taskID, shared.ErrNotFound)
		}, 1, "taskhost: task " + taskID + ": the event stream ended while the task was pending: task " + taskID + ": not found (404 NotFound)\n", false},
		{"finished meanwhile", func(context.Context, string) (shared.Task, error) {
			done := pending
			done.Status = shared.StatusSuccess
			return done, nil
		}, 0, "taskhost: " + taskID + " pending\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := serveFake(t, &fakeEngine{
				hasHandler: func(string) bool { return false },
				createWatch: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, <-chan shared.Task, error) {
					ch := make(chan shared.Task, 1)
					ch <- pending
					close(ch)
					return taskID, ch, nil
				},
				get: tc.get,
			})
			r := taskhost(t, addr, "", "create", "nosuch-typo", "--wait")
			require.Equal(t, tc.code, r.code, r.stderr)
			require.Equal(t, tc.out, strings.Contains(r.stdout, `"status": "success"`), r.stdout)
			lines := strings.SplitAfter(r.stderr, "\n")
			require.Equal(t, "taskhost: warning: no handler is registered for task type \"nosuch-typo\": the task waits until one registers\n", lines[0])
			require.Equal(t, "taskhost: created "+taskID+"; waiting for a handler of type \"nosuch-typo\" to register and run it (interrupt to stop waiting; the task stays)\n", lines[1])
			require.True(t, strings.HasSuffix(r.stderr, tc.last), r.stderr)
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	task := shared.Task{ID: taskID, Type: "t", ThreadID: "main", Status: shared.StatusSuccess, DateCreated: at, DateModified: at}
	addr := serveFake(t, &fakeEngine{
		get: func(_ context.Context, id string) (shared.Task, error) {
			if id != taskID {
				return shared.Task{}, fmt.Errorf("task %s: %w", id, shared.ErrNotFound)
			}
			return task, nil
		},
	})
	r := taskhost(t, addr, "", "get", taskID)
	require.Equal(t, 0, r.code, r.stderr)
	want, err := json.MarshalIndent(task, "", "  ")
	require.NoError(t, err)
	require.Equal(t, string(want)+"\n", r.stdout)

	requireOneLine(t, taskhost(t, addr, "", "get", "nope"), 1, "taskhost: task nope: not found (404 NotFound)")
}

func TestTaskActions(t *testing.T) {
	t.Parallel()
	calls := make(chan string, 3)
	addr := serveFake(t, &fakeEngine{
		action: func(what, id string) error {
			if id == "busy" {
				return fmt.Errorf("task busy is processing: %w", shared.ErrInvalidState)
			}
			calls <- what + " " + id
			return nil
		},
	})
	for _, what := range []string{"cancel", "retry", "remove"} {
		r := taskhost(t, addr, "", what, "a")
		require.Equal(t, result{}, r)
		require.Equal(t, what+" a", <-calls)
		requireOneLine(t, taskhost(t, addr, "", what, "busy"), 1, "invalid state", "(409 InvalidState)")
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	retries := 2
	tasks := []shared.Task{
		{ID: taskID, Type: "image-resize", ThreadID: "main", Status: shared.StatusFailed, DateCreated: at, DateModified: at.Add(time.Minute),
			RetriesRemaining: &retries, Error: &shared.TaskError{Name: "WorkerCrashed", Message: "exit status 2"}},
		{ID: "b", Type: "t", ThreadID: "main", Status: shared.StatusPending, DateCreated: at, DateModified: at},
	}
	queries := make(chan host.Query, 2)
	addr := serveFake(t, &fakeEngine{
		query: func(_ context.Context, q host.Query) (host.Page, error) {
			queries <- q
			return host.Page{Tasks: tasks, Cursor: "c2"}, nil
		},
	})

	r := taskhost(t, addr, "", "list", "--type", "image-resize", "--status", "failed", "--sort", "dateModified", "--desc", "--limit", "5")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, host.Query{Type: "image-resize", Status: shared.StatusFailed, SortBy: "dateModified", Desc: true, Limit: 5}, <-queries)
	require.Equal(t, "taskhost: more tasks: add --cursor c2 for the next page\n", r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, strings.Fields("ID TYPE STATUS CREATED MODIFIED RETRIES ERROR"), strings.Fields(lines[0]))
	require.Equal(t, []string{taskID, "image-resize", "failed", "2025-01-02T03:04:05Z", "2025-01-02T03:05:05Z", "2", "WorkerCrashed"}, strings.Fields(lines[1]))
	require.Equal(t, []string{"b", "t", "pending", "2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z", "-", "-"}, strings.Fields(lines[2]))
	requireAligned(t, lines)

	// --addr before the command; the environment's address is wrong.
	r = taskhost(t, "127.0.0.1:1", "", "--addr", addr, "list", "--json", "--cursor", "c1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, host.Query{Cursor: "c1", Limit: store.DefaultLimit}, <-queries)
	var got []shared.Task
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Equal(t, tasks, got)
}

func TestHandlersAndSchedules(t *testing.T) {
	t.Parallel()
	addr := serveFake(t, &fakeEngine{
		handlers: func() []host.HandlerInfo {
			return []host.HandlerInfo{{
				Type: "image-resize", Plugin: "/opt/plugins/imageworker", Method: "resize", MaxWorkerCount: 4, MinWorkers: 1, Concurrency: 8,
				Pool: host.PoolStats{Max: 4, Alive: 2, Busy: 1, Idle: 1, Running: 3, Calls: 17, Crashes: 1,
					Workers: []pool.WorkerStats{{ID: 1, PID: 4242, Busy: true}, {ID: 2, PID: 4343}}},
			}, {
				Type: "t", Plugin: "/p", Method: "m", MaxWorkerCount: 1, Pool: host.PoolStats{Max: 1},
			}}
		},
	})
	r := taskhost(t, addr, "", "handlers")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, strings.Fields("TYPE PLUGIN METHOD WORKERS MIN CONC BUSY IDLE RUNNING PIDS CALLS CRASHES"), strings.Fields(lines[0]))
	require.Equal(t, strings.Fields("image-resize /opt/plugins/imageworker resize 2/4 1 8 1 1 3 4242,4343 17 1"), strings.Fields(lines[1]))
	require.Equal(t, strings.Fields("t /p m 0/1 0 1 0 0 0 - 0 0"), strings.Fields(lines[2]))
	requireAligned(t, lines)

	r = taskhost(t, addr, "", "schedules")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, strings.Fields("ID RULE NEXT LAST RUN"), strings.Fields(r.stdout), "no schedules: the header only")
	r = taskhost(t, addr, "", "schedules", "--json")
	require.Equal(t, result{stdout: "{\n  \"tasks\": {}\n}\n"}, r)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	// No host listens: a usage error must be found before any request.
	for _, tc := range []struct {
		args  []string
		parts []string
	}{
		{[]string{"create", "--bogus", "t"}, []string{"taskhost: create: flag provided but not defined: -bogus", "'taskhost create --help'"}},
		{[]string{"create"}, []string{"create: missing arguments: want TYPE [JSON|@FILE|-]"}},
		{[]string{"create", "t", "{}", "extra"}, []string{`create: unexpected argument "extra"`}},
		{[]string{"create", "t", "{bad"}, []string{"create: payload argument is not JSON", "at byte 2"}},
		{[]string{"create", "t", "--retry-count", "x"}, []string{`invalid value "x" for flag -retry-count`}},
		{[]string{"create", "t", "--retry-count", "-1"}, []string{"--retry-count -1: want 0 or more"}},
		{[]string{"create", "t", "--retry-interval", "soon"}, []string{`invalid value "soon" for flag -retry-interval`}},
		{[]string{"create", "t", "--retain-for", "always"}, []string{`invalid value "always" for flag -retain-for`, `"forever"`}},
		{[]string{"get"}, []string{"get: missing arguments: want ID"}},
		{[]string{"cancel", "a", "b"}, []string{`cancel: unexpected argument "b"`}},
		{[]string{"list", "--status", "done"}, []string{`list: --status "done": want one of pending, processing, success, failed, cancelled`}},
		{[]string{"list", "--sort", "id"}, []string{`--sort "id": want one of dateCreated, dateModified, dateCompleted, status`}},
		{[]string{"list", "--limit", "-1"}, []string{"--limit -1: want 1 to 1000"}},
		{[]string{"list", "--limit", "0"}, []string{"list: --limit 0: want 1 to 1000"}},
		{[]string{"list", "--limit", "1001"}, []string{"list: --limit 1001: want 1 to 1000"}},
		{[]string{"list", "--addr", "ftp://x"}, []string{"list: --addr: invalid argument"}},
		{[]string{"serve", "--log-level", "loud"}, []string{`serve: --log-level "loud"`}},
		{[]string{"serve", "extra"}, []string{`serve: unexpected argument "extra"`}},
		{[]string{"frobnicate"}, []string{`taskhost: unknown command "frobnicate" (run 'taskhost help')`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			requireOneLine(t, taskhost(t, "127.0.0.1:1", "", tc.args...), 2, tc.parts...)
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "", "", "help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "usage: taskhost COMMAND")
	require.Empty(t, r.stderr)

	for _, args := range [][]string{{"create", "--help"}, {"help", "create"}, {"create", "-h"}} {
		r = taskhost(t, "", "", args...)
		require.Equal(t, 0, r.code, args)
		require.Contains(t, r.stdout, "usage: taskhost create TYPE [JSON|@FILE|-] [FLAGS]", args)
		require.Contains(t, r.stdout, "--retain-for DUR", args)
	}

	r = taskhost(t, "", "")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "usage: taskhost COMMAND")
}

func TestUnreachableHost(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, args := range [][]string{{"list"}, {"get", "a"}, {"create", "t"}, {"handlers"}} {
		requireOneLine(t, taskhost(t, addr, "", args...), 1, "taskhost: request to the host at http://"+addr+" failed: ", "refused")
	}
}

func TestServeConfigError(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, t.TempDir(), "taskhost.hcl", "retry_interval = \"soon\"\n")
	requireOneLine(t, taskhost(t, "", "", "serve", "--config", path), 1, path+":1,18: Invalid retry_interval")

	requireOneLine(t, taskhost(t, "", "", "serve", "--config", filepath.Join(t.TempDir(), "nope.hcl")), 1, "read config", "no such file")
}

// version and --version print what the binary's build info says.
func TestVersion(t *testing.T) {
	t.Parallel()
	info, err := buildinfo.ReadFile(taskhostBin)
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		r := taskhost(t, "", "", args...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Empty(t, r.stderr)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, lines, 3, r.stdout)
		require.Equal(t, "taskhost "+info.Main.Version, lines[0])
		if rev, ok := settings["vcs.revision"]; ok {
			require.True(t, strings.HasPrefix(lines[1], "commit   "+rev+" "+settings["vcs.time"]), lines[1])
			require.Equal(t, settings["vcs.modified"] == "true", strings.HasSuffix(lines[1], " (modified)"), lines[1])
		} else {
			require.Equal(t, "commit   unknown (built without version control information)", lines[1])
		}
		require.Equal(t, "go       "+info.GoVersion+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[2])
	}
	requireOneLine(t, taskhost(t, "", "", "version", "x"), 2, `version: unexpected argument "x"`)
}

// An interrupted --wait says it stopped waiting and that the task goes on.
func TestCreateWaitInterrupted(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	addr := serveFake(t, &fakeEngine{
		createWatch: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, <-chan shared.Task, error) {
			ch := make(chan shared.Task, 1)
			ch <- shared.Task{ID: taskID, Type: "t", ThreadID: "main", Status: shared.StatusPending, DateCreated: at, DateModified: at}
			return taskID, ch, nil // never closed: the task never ends
		},
	})
	cmd := exec.CommandContext(t.Context(), taskhostBin, "create", "t", "--wait", "--addr", addr)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(stderr)
	require.True(t, lines.Scan())
	require.Equal(t, "taskhost: created "+taskID+", waiting for it to finish", lines.Text())
	require.True(t, lines.Scan())
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	err = cmd.Wait()
	ee, ok := errors.AsType[*exec.ExitError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 1, ee.ExitCode())
	require.Equal(t, []string{"taskhost: stopped waiting for task " + taskID + ", which is pending; it goes on without you"}, rest)
}

func TestNodes(t *testing.T) {
	t.Parallel()
	started := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	addr := serveFake(t, &fakeEngine{nodes: []host.Node{
		{ID: "node-a", Address: "http://10.0.0.5:7474", Started: started, LastHeartbeat: started.Add(time.Hour), Handlers: []string{"echo", "resize"}, Running: 3},
		{ID: "node-b", Started: started, LastHeartbeat: started.Add(time.Minute)},
	}})
	r := taskhost(t, addr, "", "nodes")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, strings.Fields("ID ADDRESS STARTED HEARTBEAT HANDLERS RUNNING"), strings.Fields(lines[0]))
	require.Equal(t, strings.Fields("node-a http://10.0.0.5:7474 2025-01-02T03:04:05Z 2025-01-02T04:04:05Z echo,resize 3"), strings.Fields(lines[1]))
	require.Equal(t, strings.Fields("node-b - 2025-01-02T03:04:05Z 2025-01-02T03:05:05Z - 0"), strings.Fields(lines[2]))
	requireAligned(t, lines)

	r = taskhost(t, addr, "", "nodes", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"nodes":[
		{"id":"node-a","address":"http://10.0.0.5:7474","started":"2025-01-02T03:04:05Z","lastHeartbeat":"2025-01-02T04:04:05Z","handlers":["echo","resize"],"running":3},
		{"id":"node-b","started":"2025-01-02T03:04:05Z","lastHeartbeat":"2025-01-02T03:05:05Z","handlers":null,"running":0}]}`, r.stdout)
}
