package host_test

// The fault suite, part 1: every way a plugin can fail, through the real
// engine and real plugin processes, on one host. Each fault has a task
// type of its own and must fail only its own attempt, with an error that
// says what happened, and leave the host and the other task types
// working: a bystander task of another type runs through all of them on
// one worker, an echo handler's worker keeps its pid, and the workers that
// survive their fault keep theirs. Part 2 (the whole host killed, round
// after round) is in faults_kill_test.go.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// faultResultLimit is the host's result limit in these tests.
const faultResultLimit = 1024

// faultEnv is a host with an echo handler and a bystander task that runs
// (a long sleep) while the faults happen. Its helpers take the calling
// (sub)test's t.
type faultEnv struct {
	h   *host.Host
	rec *recorder

	bystander    string // the bystander task's id
	bystanderPID int
	echoPID      int

	mu   sync.Mutex
	pids []int // every worker seen, all to be gone when the host stops
	kept map[string]int
}

func setupFault(t *testing.T) *faultEnv {
	t.Helper()
	fe := &faultEnv{kept: map[string]int{}}
	// Registered before setup's cleanup, so it runs after the host stops.
	t.Cleanup(func() {
		fe.mu.Lock()
		defer fe.mu.Unlock()
		eventually(t, "every worker of the test to exit with the host", func() bool {
			return !slices.ContainsFunc(fe.pids, testplugin.Alive)
		})
	})
	e := setup(t, func(o *host.Options) {
		o.MaxResultSize = faultResultLimit
		// Room for every handler's worker at once: no pid may change
		// because a type yielded its slot to another.
		o.SystemWorkerCount = 32
	})
	e.register("echo", "echo")
	e.register("bystander", "sleep")
	fe.h, fe.rec = e.h, e.rec
	fe.echoPID = fe.echo(t)
	fe.bystander = fe.create(t, "bystander", `{"ms":600000}`, keep())
	fe.waitStatus(t, fe.bystander, shared.StatusProcessing)
	fe.bystanderPID = fe.busyWorker(t, "bystander")
	fe.saw(fe.echoPID, fe.bystanderPID)
	return fe
}

func keep() host.CreateOptions { return host.CreateOptions{RetainFor: host.RetainForever} }

func (fe *faultEnv) saw(pids ...int) {
	fe.mu.Lock()
	fe.pids = append(fe.pids, pids...)
	fe.mu.Unlock()
}

func (fe *faultEnv) register(t *testing.T, typ, bin, method string, opts host.HandlerOptions) {
	t.Helper()
	opts.IdleShutdownTimeout = host.KeepForever
	require.NoError(t, fe.h.RegisterHandler(context.Background(), typ, bin, method, fe.rec.callback, opts))
}

func (fe *faultEnv) create(t *testing.T, typ, payload string, opts host.CreateOptions) string {
	t.Helper()
	id, err := fe.h.Create(context.Background(), typ, json.RawMessage(payload), opts)
	require.NoError(t, err)
	return id
}

func (fe *faultEnv) waitStatus(t *testing.T, id string, status shared.Status) shared.Task {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, ok := fe.rec.last(id)
		switch {
		case ok && got.Status == status:
			return got
		case time.Now().After(deadline):
			t.Fatalf("timed out waiting for task %s to be %s; last reported: %v, status %q, error %+v", id, status, ok, got.Status, got.Error)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (fe *faultEnv) get(t *testing.T, id string) shared.Task {
	t.Helper()
	task, err := fe.h.Get(context.Background(), id)
	require.NoError(t, err)
	return task
}

// handler returns the live description of typ's handler.
func (fe *faultEnv) handler(t *testing.T, typ string) host.HandlerInfo {
	t.Helper()
	for _, hi := range fe.h.Handlers() {
		if hi.Type == typ {
			return hi
		}
	}
	t.Fatalf("no handler %q", typ)
	return host.HandlerInfo{}
}

func (fe *faultEnv) workers(t *testing.T, typ string) []int {
	t.Helper()
	var out []int
	for _, w := range fe.handler(t, typ).Pool.Workers {
		out = append(out, w.PID)
	}
	slices.Sort(out)
	return out
}

// busyWorker waits for typ to have a worker running a task and returns
// its pid.
func (fe *faultEnv) busyWorker(t *testing.T, typ string) int {
	t.Helper()
	var pid int
	eventually(t, typ+" to run a task on a worker", func() bool {
		for _, w := range fe.handler(t, typ).Pool.Workers {
			if w.Busy {
				pid = w.PID
				return true
			}
		}
		return false
	})
	fe.saw(pid)
	return pid
}

// echo runs an echo task to success and returns the pid of the echo
// handler's only worker.
func (fe *faultEnv) echo(t *testing.T) int {
	t.Helper()
	id := fe.create(t, "echo", `"still here"`, keep())
	done := fe.waitStatus(t, id, shared.StatusSuccess)
	require.JSONEq(t, `"still here"`, string(done.Result))
	pids := fe.workers(t, "echo")
	require.Len(t, pids, 1)
	return pids[0]
}

// requireOthersUnharmed checks what a fault must not touch: echo tasks
// still run, on the same worker as before, and the bystander still runs
// on its worker.
func (fe *faultEnv) requireOthersUnharmed(t *testing.T) {
	t.Helper()
	require.Equal(t, fe.echoPID, fe.echo(t), "the echo handler kept its worker")
	require.Equal(t, shared.StatusProcessing, fe.get(t, fe.bystander).Status, "the bystander runs on")
	require.Equal(t, []int{fe.bystanderPID}, fe.workers(t, "bystander"))
	require.True(t, testplugin.Alive(fe.bystanderPID))
	for _, typ := range []string{"echo", "bystander"} {
		p := fe.handler(t, typ).Pool
		require.Zero(t, p.Crashes+p.Timeouts+p.Kills+p.SpawnFailures, "%s lost no worker: %+v", typ, p)
	}
}

var workerPID = regexp.MustCompile(`worker pid (\d+)`)

// What a fault does to its handler's worker.
const (
	keptWorker    = "kept"    // it survives and serves the next task
	crashedWorker = "crashed" // counted in Pool.Crashes
	timedOut      = "timeout" // Pool.Timeouts
	killedWorker  = "killed"  // Pool.Kills (the cancel grace expired)
)

// faultCase is one way a plugin fails.
type faultCase struct {
	typ, method, payload string
	opts                 host.HandlerOptions
	// act, if set, does the harm to the worker (pid) that runs the task
	// (id).
	act func(t *testing.T, fe *faultEnv, id string, pid int)
	// The task's end and the error stored on it.
	status   shared.Status
	errName  string
	contains []string
	worker   string
}

func TestFaultPluginFailureModes(t *testing.T) {
	t.Parallel()
	fe := setupFault(t)
	t.Run("modes", func(t *testing.T) {
		for _, tc := range []faultCase{{
			typ: "panic", method: "panic", payload: `{"message":"boom"}`,
			status: shared.StatusFailed, errName: shared.ErrorNamePanic, contains: []string{"testworker: boom", "main.main"},
			worker: keptWorker,
		}, {
			typ: "exit", method: "exit", payload: `{"code":7}`,
			status: shared.StatusFailed, errName: shared.ErrorNameWorkerCrashed,
			contains: []string{`exited during method "exit"`, "exit status 7", "testworker: exiting with code 7"},
			worker:   crashedWorker,
		}, {
			typ: "sigkill", method: "sleep", payload: `{"ms":600000}`,
			act: func(t *testing.T, _ *faultEnv, _ string, pid int) {
				require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
			},
			status: shared.StatusFailed, errName: shared.ErrorNameWorkerCrashed,
			contains: []string{`exited during method "sleep"`, "signal: killed"},
			worker:   crashedWorker,
		}, {
			typ: "segv", method: "segv", payload: `{}`,
			status: shared.StatusFailed, errName: shared.ErrorNameWorkerCrashed,
			contains: []string{`exited during method "segv"`, "exit status 2", "nil pointer dereference", "SIGSEGV"},
			worker:   crashedWorker,
		}, {
			typ: "hang-timeout", method: "hang", payload: `{}`,
			opts:   host.HandlerOptions{ExecutionTimeout: 300 * time.Millisecond},
			status: shared.StatusFailed, errName: shared.ErrorNameExecutionTimeout,
			contains: []string{`method "hang" did not return within its execution timeout of 300ms`, "killed"},
			worker:   timedOut,
		}, {
			typ: "hang-cancel", method: "hang", payload: `{}`,
			act: func(t *testing.T, fe *faultEnv, id string, _ int) {
				// Cancel returns once the task is cancelled: here after the
				// cancel grace, when the worker that ignored it is killed.
				require.NoError(t, fe.h.Cancel(context.Background(), id))
			},
			status: shared.StatusCancelled,
			worker: killedWorker,
		}, {
			typ: "garbage", method: "garbage", payload: `{}`,
			status: shared.StatusSuccess,
			worker: keptWorker,
		}, {
			typ: "closeconn", method: "closeconn", payload: `{}`,
			status: shared.StatusFailed, errName: shared.ErrorNameWorkerCrashed,
			contains: []string{`stopped answering during method "closeconn"`, "killed"},
			worker:   crashedWorker,
		}, {
			typ: "big", method: "big", payload: `{"Bytes":4000}`,
			status: shared.StatusFailed, errName: shared.ErrorNameResultTooLarge,
			contains: []string{`method "big" returned 4002 bytes`, "the result limit is 1024 bytes"},
			worker:   keptWorker,
		}} {
			t.Run(tc.typ, func(t *testing.T) {
				t.Parallel()
				fe.runFault(t, tc)
			})
		}
	})
	for typ, pid := range fe.kept {
		require.Equal(t, []int{pid}, fe.workers(t, typ), "%s kept its worker through the other faults", typ)
	}
	fe.finish(t)
}

// finish checks the others once more after every fault, then cancels the
// bystander.
func (fe *faultEnv) finish(t *testing.T) {
	t.Helper()
	fe.requireOthersUnharmed(t)
	require.NoError(t, fe.h.Cancel(context.Background(), fe.bystander))
	require.Equal(t, shared.StatusCancelled, fe.get(t, fe.bystander).Status)
	require.Equal(t, []int{fe.bystanderPID}, fe.workers(t, "bystander"), "a cancel honoured by the method keeps the worker")
}

// runFault registers tc's handler, runs one task of it into its fault and
// checks the outcome.
func (fe *faultEnv) runFault(t *testing.T, tc faultCase) {
	fe.register(t, tc.typ, testworker, tc.method, tc.opts)
	id := fe.create(t, tc.typ, tc.payload, keep())
	var pid int
	if tc.act != nil {
		pid = fe.busyWorker(t, tc.typ)
		tc.act(t, fe, id, pid)
	}
	final := fe.waitStatus(t, id, tc.status)
	require.Equal(t, []shared.Status{shared.StatusProcessing, tc.status}, fe.rec.statuses(id), "one attempt, one outcome")
	require.Equal(t, final.Status, fe.get(t, id).Status, "the outcome is stored")
	if tc.errName == "" {
		require.Nil(t, final.Error)
	} else {
		require.NotNil(t, final.Error)
		require.Equal(t, tc.errName, final.Error.Name, final.Error.Message)
		for _, s := range tc.contains {
			require.Contains(t, final.Error.Message, s)
		}
		if m := workerPID.FindStringSubmatch(final.Error.Message); m != nil {
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			if pid != 0 {
				require.Equal(t, pid, n, "the error names the worker")
			}
			pid = n
		}
	}

	if tc.worker == keptWorker {
		p := fe.handler(t, tc.typ).Pool
		require.Len(t, p.Workers, 1)
		require.Equal(t, uint64(1), p.Spawns)
		if pid != 0 {
			require.Equal(t, pid, p.Workers[0].PID)
		}
		pid = p.Workers[0].PID
		fe.saw(pid)
		fe.mu.Lock()
		fe.kept[tc.typ] = pid
		fe.mu.Unlock()
	} else {
		require.NotZero(t, pid, "the error names the lost worker")
		fe.saw(pid)
		eventually(t, "the lost worker to be gone", func() bool {
			return !testplugin.Alive(pid) && len(fe.handler(t, tc.typ).Pool.Workers) == 0
		})
		p := fe.handler(t, tc.typ).Pool
		lost := map[string]uint64{crashedWorker: p.Crashes, timedOut: p.Timeouts, killedWorker: p.Kills}
		require.Equal(t, map[string]uint64{crashedWorker: 0, timedOut: 0, killedWorker: 0, tc.worker: 1}, lost)
	}
	fe.requireOthersUnharmed(t)

	if tc.status == shared.StatusSuccess {
		// Harmless: the same worker serves the same method again.
		again := fe.create(t, tc.typ, tc.payload, keep())
		fe.waitStatus(t, again, shared.StatusSuccess)
		require.Equal(t, uint64(1), fe.handler(t, tc.typ).Pool.Spawns)
	}
}

// The plugin binary is deleted, or another file renamed over it, while
// one of its workers runs. That worker goes on (it runs the old file) and
// is recycled after two tasks; the next worker cannot start, which fails
// that attempt (and its retry) with WorkerStartFailed, once each: no
// attempt is requeued for free, in a loop. Once a good binary is back,
// tasks run again.
func TestFaultPluginBinaryDeletedOrReplaced(t *testing.T) {
	t.Parallel()
	fe := setupFault(t)
	t.Run("binary", func(t *testing.T) {
		for _, tc := range []struct {
			typ string
			pin bool
			// harm deletes or replaces the binary at bin; orig is a copy.
			harm     func(t *testing.T, bin, orig string)
			contains []string
		}{{
			typ:      "deleted",
			harm:     func(t *testing.T, bin, _ string) { require.NoError(t, os.Remove(bin)) },
			contains: []string{"could not start a worker", "no such file or directory"},
		}, {
			typ: "replaced-by-non-plugin",
			harm: func(t *testing.T, bin, _ string) {
				renameOver(t, bin, []byte("#!/bin/sh\necho 'not a plugin'\nexit 3\n"))
			},
			contains: []string{"could not start a worker", "did not complete the taskhost handshake"},
		}, {
			typ: "replaced-while-pinned",
			pin: true,
			harm: func(t *testing.T, bin, orig string) {
				b, err := os.ReadFile(orig)
				require.NoError(t, err)
				renameOver(t, bin, append(b, "another build"...))
			},
			contains: []string{"could not start a worker", "sha256 checksum no longer matches"},
		}} {
			t.Run(tc.typ, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				b, err := os.ReadFile(testworker)
				require.NoError(t, err)
				bin, orig := filepath.Join(dir, "testworker"), filepath.Join(dir, "testworker.orig")
				require.NoError(t, testplugin.WriteExecutable(bin, b))
				require.NoError(t, testplugin.WriteExecutable(orig, b))
				opts := host.HandlerOptions{MaxTasksPerWorker: 2}
				if tc.pin {
					opts.SHA256 = sha256Hex(b)
				}
				fe.register(t, tc.typ, bin, "sleep", opts)

				first := fe.create(t, tc.typ, `{"ms":200}`, keep())
				fe.waitStatus(t, first, shared.StatusProcessing)
				pid := fe.busyWorker(t, tc.typ)
				tc.harm(t, bin, orig)
				require.True(t, testplugin.Alive(pid), "harmed while its worker runs")
				fe.waitStatus(t, first, shared.StatusSuccess)
				second := fe.create(t, tc.typ, `{"ms":0}`, keep())
				fe.waitStatus(t, second, shared.StatusSuccess)
				require.Equal(t, uint64(1), fe.handler(t, tc.typ).Pool.Spawns, "the running worker served both")
				eventually(t, "the worker to be recycled", func() bool { return !testplugin.Alive(pid) })

				failing := fe.create(t, tc.typ, `{"ms":0}`, host.CreateOptions{
					RetryCount: 1, RetryInterval: 20 * time.Millisecond, RetainFor: host.RetainForever,
				})
				final := fe.waitStatus(t, failing, shared.StatusFailed)
				require.Equal(t, []shared.Status{
					shared.StatusProcessing, shared.StatusPending, shared.StatusProcessing, shared.StatusFailed,
				}, fe.rec.statuses(failing), "each attempt fails once; none is requeued for free")
				require.Equal(t, shared.ErrorNameWorkerStart, final.Error.Name, final.Error.Message)
				for _, s := range tc.contains {
					require.Contains(t, final.Error.Message, s)
				}
				require.Equal(t, 0, *final.RetriesRemaining)
				require.Equal(t, uint64(2), fe.handler(t, tc.typ).Pool.SpawnFailures)
				fe.requireOthersUnharmed(t)

				// Put the good binary back: the handler works again.
				renameOver(t, bin, b)
				again := fe.create(t, tc.typ, `{"ms":0}`, keep())
				fe.waitStatus(t, again, shared.StatusSuccess)
				fe.saw(fe.workers(t, tc.typ)...)
			})
		}
	})
	fe.finish(t)
}

// renameOver writes b to a new file beside path and renames it over path,
// as a deploy does.
func renameOver(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, testplugin.WriteExecutable(tmp, b))
	require.NoError(t, os.Rename(tmp, path))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
