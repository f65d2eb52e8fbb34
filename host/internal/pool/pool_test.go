package pool

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// testworker is the path of the built plugins/testworker.
var testworker string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelperHost()
		return
	}
	testplugin.Main(m, &testworker)
}

// setup returns a config for the test worker with sensible test defaults;
// change it, then pass it to newPool.
func setup(t *testing.T) Config {
	t.Helper()
	return Config{
		Type:                "test",
		Path:                testworker,
		Method:              "pid",
		MaxWorkerCount:      1,
		IdleShutdownTimeout: KeepForever,
		CancelGrace:         300 * time.Millisecond,
		Logger:              hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}}),
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func newPool(t *testing.T, sys *System, cfg Config) *Pool {
	t.Helper()
	p, err := New(context.Background(), sys, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func call(t *testing.T, p *Pool, payload string) (json.RawMessage, error) {
	t.Helper()
	return p.Call(context.Background(), Request{Payload: json.RawMessage(payload), Task: shared.CallTask{ID: "t1", Type: "test", Attempt: 1}}, nil)
}

func callPID(t *testing.T, p *Pool, payload string) int {
	t.Helper()
	out, err := call(t, p, payload)
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(out))
	require.NoError(t, err, "pid result %s", out)
	return pid
}

func requireTaskError(t *testing.T, err error, name string, contains ...string) *shared.TaskError {
	t.Helper()
	var te *shared.TaskError
	require.ErrorAs(t, err, &te)
	require.Equal(t, name, te.Name, "message: %s", te.Message)
	for _, s := range contains {
		require.Contains(t, te.Message, s)
	}
	return te
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// concurrentPIDs runs n calls at once and returns the pids that served them.
func concurrentPIDs(t *testing.T, p *Pool, n int, payload string) []int {
	t.Helper()
	pids := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pids[i] = callPID(t, p, payload) })
	}
	wg.Wait()
	return pids
}

func distinct(pids []int) []int {
	out := slices.Clone(pids)
	slices.Sort(out)
	return slices.Compact(out)
}

func TestPoolCapHoldsUnderConcurrentCalls(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = 3
	p := newPool(t, NewSystem(8), cfg)

	pids := distinct(concurrentPIDs(t, p, 50, `{"ms":20}`))
	require.Len(t, pids, 3, "50 concurrent calls should use exactly the 3 workers allowed")
	require.Equal(t, uint64(3), p.Stats().Spawns)
}

func TestPoolMaxWorkerCountMinusOneMeansSystemCap(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = -1
	p := newPool(t, NewSystem(4), cfg)

	pids := distinct(concurrentPIDs(t, p, 50, `{"ms":20}`))
	require.Len(t, pids, 4)
	require.Equal(t, 4, p.Stats().Max)
}

// ownBinary copies the test worker to a path of the test's own, so that
// its processes can be counted apart from other tests'.
func ownBinary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(testworker)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "testworker")
	require.NoError(t, testplugin.WriteExecutable(path, b))
	return path
}

// peakProcesses samples the live processes of binary until stop is closed
// and returns the most it saw at once.
func peakProcesses(binary string, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		peak := 0
		for {
			peak = max(peak, len(testplugin.Running(binary)))
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return out
}

func TestSystemCapHoldsAcrossPools(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	sys := NewSystem(4)
	cfgA := setup(t)
	cfgA.Type, cfgA.Path, cfgA.MaxWorkerCount = "a", bin, -1
	cfgB := setup(t)
	cfgB.Type, cfgB.Path, cfgB.MaxWorkerCount, cfgB.IdleShutdownTimeout = "b", bin, -1, 0
	a, b := newPool(t, sys, cfgA), newPool(t, sys, cfgB)

	stop := make(chan struct{})
	peak := peakProcesses(bin, stop)
	var wg sync.WaitGroup
	for i := range 60 {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Go(func() { callPID(t, p, `{"ms":10}`) })
	}
	wg.Wait()
	close(stop)
	seen := <-peak
	require.LessOrEqual(t, seen, 4, "plugin processes alive at once")
	require.GreaterOrEqual(t, seen, 2)
	require.Equal(t, uint64(30), a.Stats().Calls)
	require.Equal(t, uint64(30), b.Stats().Calls)
}

func TestBusyTypeDoesNotStarveAnother(t *testing.T) {
	t.Parallel()
	sys := NewSystem(2)
	cfgA := setup(t)
	cfgA.Type, cfgA.MaxWorkerCount = "busy", -1
	cfgB := setup(t)
	cfgB.Type = "quiet"
	busy, quiet := newPool(t, sys, cfgA), newPool(t, sys, cfgB)

	// The busy type queues far more work than the system can run at once.
	var busyDone sync.WaitGroup
	for range 40 {
		busyDone.Go(func() { callPID(t, busy, `{"ms":25}`) })
	}
	eventually(t, "busy type to hold the whole system", func() bool { return busy.Stats().Alive == 2 })

	callPID(t, quiet, `{}`)
	// The quiet type got its worker while the busy type still had a queue.
	require.Positive(t, busy.Stats().Waiting, "busy type should still have waiting calls")
	busyDone.Wait()
}

func TestIdleTimeoutZeroStopsWorkerWhenIdle(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.IdleShutdownTimeout = 0
	p := newPool(t, NewSystem(2), cfg)

	first := callPID(t, p, `{}`)
	eventually(t, "idle worker to stop", func() bool { return !testplugin.Alive(first) })
	second := callPID(t, p, `{}`)
	require.NotEqual(t, first, second)
}

func TestIdleTimeoutForeverKeepsWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, NewSystem(2), setup(t))

	pids := []int{callPID(t, p, `{}`), callPID(t, p, `{}`), callPID(t, p, `{}`)}
	require.Len(t, distinct(pids), 1)
	require.True(t, testplugin.Alive(pids[0]))
	require.Equal(t, 1, p.Stats().Idle)
}

func TestIdleTimeoutReapsAfterDuration(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.IdleShutdownTimeout = 300 * time.Millisecond
	p := newPool(t, NewSystem(2), cfg)

	first := callPID(t, p, `{}`)
	again := callPID(t, p, `{}`) // well within the timeout in practice
	eventually(t, "idle worker to be reaped", func() bool { return p.Stats().Alive == 0 && !testplugin.Alive(first) })
	later := callPID(t, p, `{}`)
	require.NotEqual(t, first, later)
	if again != first {
		t.Logf("second call got a new worker: the machine is slow")
	}
}

func TestIdleReapingDoesNotRaceWithNewCalls(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.IdleShutdownTimeout = time.Millisecond
	cfg.MaxWorkerCount = 2
	p := newPool(t, NewSystem(2), cfg)

	// Calls arrive around the moment workers are reaped; every one must
	// succeed on a live worker.
	for range 30 {
		concurrentPIDs(t, p, 2, `{}`)
		time.Sleep(time.Millisecond)
	}
	require.Zero(t, p.Stats().Crashes)
}

func readRecord(t *testing.T, path string) map[string][]int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		what, pid, ok := strings.Cut(sc.Text(), " ")
		require.True(t, ok, sc.Text())
		n, err := strconv.Atoi(pid)
		require.NoError(t, err)
		out[what] = append(out[what], n)
	}
	return out
}

func TestInitialiseAndShutdownRunOncePerWorker(t *testing.T) {
	t.Parallel()
	record := filepath.Join(t.TempDir(), "record")
	cfg := setup(t)
	cfg.InitialiseMethod, cfg.ShutdownMethod = "initialise", "shutdown"
	cfg.InitConfig = json.RawMessage(fmt.Sprintf(`{"record":%q}`, record))
	cfg.IdleShutdownTimeout = 0
	cfg.MaxWorkerCount = 2
	p, err := New(context.Background(), NewSystem(2), cfg)
	require.NoError(t, err)

	var pids []int
	for range 3 {
		pids = append(pids, distinct(concurrentPIDs(t, p, 4, `{"ms":5}`))...)
	}
	require.NoError(t, p.Close(context.Background()))

	rec := readRecord(t, record)
	// A worker started for a call that another worker took first serves
	// nothing, so more may have started than served.
	require.Subset(t, rec["initialise"], distinct(pids), "initialise ran on every worker that served")
	require.Len(t, distinct(rec["initialise"]), len(rec["initialise"]), "initialise ran once per worker")
	require.ElementsMatch(t, rec["initialise"], rec["shutdown"], "shutdown ran once per worker")
}

func TestFailingInitialiseFailsTheCallAndDiscardsWorker(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.InitialiseMethod = "initialise"
	cfg.InitConfig = json.RawMessage(`{"failInitialise":true}`)
	p := newPool(t, NewSystem(2), cfg)

	_, err := call(t, p, `{}`)
	requireTaskError(t, err, shared.ErrorNameInitialise, `initialise method "initialise"`, "failInitialise is set")
	require.Zero(t, p.Stats().Alive)
	require.Equal(t, uint64(1), p.Stats().SpawnFailures)
}

func TestPanicInMethodFailsOnlyThatCall(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "panic"
	p := newPool(t, NewSystem(2), cfg)
	_, err := call(t, p, `{"message":"boom"}`)
	requireTaskError(t, err, shared.ErrorNamePanic, "testworker: boom", "main.main")
	// The same worker lives on and serves the next call.
	_, err = call(t, p, `{"message":"again"}`)
	requireTaskError(t, err, shared.ErrorNamePanic, "again")
	s := p.Stats()
	require.Equal(t, uint64(1), s.Spawns)
	require.Zero(t, s.Crashes)
	require.True(t, testplugin.Alive(s.Workers[0].PID))
}

func TestExitMidTaskIsWorkerCrashed(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "exit"
	p := newPool(t, NewSystem(2), cfg)

	_, err := call(t, p, `{"code":3}`)
	requireTaskError(t, err, shared.ErrorNameWorkerCrashed, "exit status 3", "exiting with code 3", `method "exit"`)
	require.Equal(t, uint64(1), p.Stats().Crashes)
	require.Zero(t, p.Stats().Alive)
}

func TestNextCallAfterCrashGetsFreshWorker(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	cfg := setup(t)
	cfg.Path = bin
	p := newPool(t, NewSystem(2), cfg)
	first := callPID(t, p, `{}`)

	// Kill the worker from outside while it is idle, then while busy.
	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	eventually(t, "pool to notice the death", func() bool { return p.Stats().Alive == 0 && !testplugin.Alive(first) })
	second := callPID(t, p, `{}`)
	require.NotEqual(t, first, second)

	errc := make(chan error, 1)
	go func() { _, err := call(t, p, `{"ms":10000}`); errc <- err }()
	eventually(t, "call to be running", func() bool { return p.Stats().Busy == 1 })
	require.NoError(t, syscall.Kill(second, syscall.SIGKILL))
	requireTaskError(t, <-errc, shared.ErrorNameWorkerCrashed, "signal: killed", strconv.Itoa(second))

	third := callPID(t, p, `{}`)
	require.NotContains(t, []int{first, second}, third)
	require.Equal(t, []int{third}, testplugin.Running(bin))
}

func TestHangWithTimeoutIsKilled(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.ExecutionTimeout = 200 * time.Millisecond
	p := newPool(t, NewSystem(2), cfg)
	pid := callPID(t, p, `{}`)

	cfg.Method = "hang"
	hp := newPool(t, NewSystem(2), cfg)
	_, err := call(t, hp, `{}`)
	requireTaskError(t, err, shared.ErrorNameExecutionTimeout, "200ms", "killed")
	require.Zero(t, hp.Stats().Alive)
	require.Equal(t, uint64(1), hp.Stats().Timeouts)
	require.True(t, testplugin.Alive(pid), "other pools' workers live on")
}

func TestTimeoutHonouredByMethodKeepsWorker(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.ExecutionTimeout = 100 * time.Millisecond
	p := newPool(t, NewSystem(2), cfg)
	before := callPID(t, p, `{}`)

	_, err := call(t, p, `{"ms":60000}`)
	requireTaskError(t, err, shared.ErrorNameExecutionTimeout, "execution timeout of 100ms", "deadline exceeded")
	require.Equal(t, before, callPID(t, p, `{}`), "a method that honours its deadline keeps its worker")
}

func TestHungWorkerProcessIsGoneAfterTimeout(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	cfg := setup(t)
	cfg.Path, cfg.Method, cfg.ExecutionTimeout = bin, "hang", 100*time.Millisecond
	p := newPool(t, NewSystem(2), cfg)

	var pid int
	errc := make(chan error, 1)
	go func() { _, err := call(t, p, `{}`); errc <- err }()
	eventually(t, "hang to start", func() bool {
		ws := p.Stats().Workers
		if len(ws) == 1 && ws[0].Busy {
			pid = ws[0].PID
			return true
		}
		return false
	})
	requireTaskError(t, <-errc, shared.ErrorNameExecutionTimeout)
	require.False(t, testplugin.Alive(pid))
	require.Empty(t, testplugin.Running(bin))
}

func TestCancelStopsMethodAndKeepsWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, NewSystem(2), setup(t))
	pid := callPID(t, p, `{}`)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, Request{Payload: json.RawMessage(`{"ms":60000}`)}, nil)
		errc <- err
	}()
	eventually(t, "call to be running", func() bool { return p.Stats().Busy == 1 })
	cancel()
	requireTaskError(t, <-errc, shared.ErrorNameCancelled, "context canceled")
	require.Equal(t, pid, callPID(t, p, `{}`))
}

func TestCancelOfHangingMethodKillsWorker(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "hang"
	p := newPool(t, NewSystem(2), cfg)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.Call(ctx, Request{}, nil); errc <- err }()
	var pid int
	eventually(t, "call to be running", func() bool {
		ws := p.Stats().Workers
		if len(ws) == 1 && ws[0].Busy {
			pid = ws[0].PID
			return true
		}
		return false
	})
	cancel()
	requireTaskError(t, <-errc, shared.ErrorNameCancelled, "did not return within 300ms", "killed")
	require.False(t, testplugin.Alive(pid))
	require.Equal(t, uint64(1), p.Stats().Kills)
}

func TestCancelWhileWaitingReturnsContextError(t *testing.T) {
	t.Parallel()
	p := newPool(t, NewSystem(1), setup(t))
	go func() { _, _ = call(t, p, `{"ms":2000}`) }()
	eventually(t, "worker to be busy", func() bool { return p.Stats().Busy == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.Call(ctx, Request{}, nil); errc <- err }()
	eventually(t, "call to wait", func() bool { return p.Stats().Waiting == 1 })
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	var te *shared.TaskError
	require.False(t, errors.As(err, &te), "a call that never started is not a task error")
	require.Zero(t, p.Stats().Waiting)
}

func TestProgressReachesCaller(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "progress"
	p := newPool(t, NewSystem(2), cfg)

	var mu sync.Mutex
	var got []shared.Progress
	_, err := p.Call(context.Background(), Request{Payload: json.RawMessage(`{"steps":4,"delayMs":5}`)}, func(pr shared.Progress) {
		mu.Lock()
		got = append(got, pr)
		mu.Unlock()
	})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 5, "every report arrives before the call returns")
	require.Equal(t, shared.Progress{Percent: 100, Message: "step 4 of 4"}, got[len(got)-1])
	require.Equal(t, shared.Progress{Percent: 0, Message: "step 0 of 4"}, got[0])
}

func TestPayloadThatDoesNotFitIsInvalidPayload(t *testing.T) {
	t.Parallel()
	p := newPool(t, NewSystem(2), setup(t))
	_, err := call(t, p, `{"ms":"soon"}`)
	te := requireTaskError(t, err, shared.ErrorNameInvalidPayload, `method "pid"`, `field "ms"`, "string", "int")
	require.True(t, te.Permanent)
}

func TestTaskMetadataReachesMethod(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Method = "task"
	p := newPool(t, NewSystem(2), cfg)
	retries := 2
	out, err := p.Call(context.Background(), Request{Task: shared.CallTask{
		ID: "abc", Type: "test", ThreadID: "node-1", Attempt: 3, RetriesRemaining: &retries,
		ContextIDs: map[string]string{"tenant": "a"},
	}}, nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"ID":"abc","Type":"test","ThreadID":"node-1","Attempt":3,"RetriesRemaining":2,"ContextIDs":{"tenant":"a"}}`, string(out))
}

func TestRegistrationRefusesBadHandlers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(notExec, []byte("x"), 0o644))
	notPlugin, err := exec.LookPath("true")
	require.NoError(t, err)
	sum, err := fileSHA256(testworker)
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		change func(*Config)
		want   []string
	}{
		"missing binary":     {func(c *Config) { c.Path = filepath.Join(dir, "nope") }, []string{"no such file"}},
		"not executable":     {func(c *Config) { c.Path = notExec }, []string{"not executable"}},
		"not a plugin":       {func(c *Config) { c.Path = notPlugin }, []string{"handshake"}},
		"unknown method":     {func(c *Config) { c.Method = "nope" }, []string{`exports no method "nope"`, "echo", "pid"}},
		"unknown initialise": {func(c *Config) { c.InitialiseMethod = "init" }, []string{`no initialise method "init"`}},
		"unknown shutdown":   {func(c *Config) { c.ShutdownMethod = "bye" }, []string{`no shutdown method "bye"`}},
		"checksum mismatch":  {func(c *Config) { c.SHA256 = strings.Repeat("0", 64) }, []string{"pins " + strings.Repeat("0", 64), sum}},
		"bad checksum":       {func(c *Config) { c.SHA256 = "xyz" }, []string{"64 hex digits"}},
		"bad max workers":    {func(c *Config) { c.MaxWorkerCount = -2 }, []string{"max worker count -2"}},
		"bad config json":    {func(c *Config) { c.InitConfig = json.RawMessage(`{`) }, []string{"config is not valid JSON"}},
		"transport env":      {func(c *Config) { c.Env = map[string]string{"TASKHOST_PLUGIN_KEY": "k"} }, []string{"env TASKHOST_PLUGIN_KEY is the host's to set"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := setup(t)
			tc.change(&cfg)
			_, err := New(context.Background(), NewSystem(1), cfg)
			require.ErrorIs(t, err, shared.ErrInvalidArgument)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestChecksumPinIsCheckedAtEveryStart(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	sum, err := fileSHA256(bin)
	require.NoError(t, err)
	cfg := setup(t)
	cfg.Path, cfg.SHA256, cfg.IdleShutdownTimeout = bin, sum, 0
	p := newPool(t, NewSystem(1), cfg)
	callPID(t, p, `{}`)
	eventually(t, "worker to stop", func() bool { return len(testplugin.Running(bin)) == 0 })

	// Replace the binary behind the pool's back, as a deploy would.
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, testplugin.WriteExecutable(bin+".new", append(b, "tampered"...)))
	require.NoError(t, os.Rename(bin+".new", bin))

	_, err = call(t, p, `{}`)
	require.ErrorContains(t, err, "sha256 checksum no longer matches")
}

func TestCloseWaitsForRunningCallsThenKills(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	record := filepath.Join(t.TempDir(), "record")
	cfg := setup(t)
	cfg.Path, cfg.MaxWorkerCount, cfg.Method = bin, 2, "sleep"
	cfg.ShutdownMethod = "shutdown"
	cfg.InitConfig = json.RawMessage(fmt.Sprintf(`{"record":%q}`, record))
	p, err := New(context.Background(), NewSystem(2), cfg)
	require.NoError(t, err)

	short := make(chan error, 1)
	long := make(chan error, 1)
	go func() { _, err := call(t, p, `{"ms":300}`); short <- err }()
	go func() { _, err := call(t, p, `{"ms":60000}`); long <- err }()
	eventually(t, "both calls to run", func() bool { return p.Stats().Busy == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.ErrorIs(t, p.Close(ctx), context.DeadlineExceeded)
	require.NoError(t, <-short, "a call that finishes within the close deadline succeeds")
	requireTaskError(t, <-long, shared.ErrorNameCancelled, "the pool closed before it finished", "context canceled")
	require.Empty(t, testplugin.Running(bin))
	require.Len(t, readRecord(t, record)["shutdown"], 2, "both workers got their shutdown method")

	_, err = call(t, p, `{}`)
	require.ErrorIs(t, err, shared.ErrClosed)
}

func TestCloseKillsMethodThatIgnoresCancellation(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	cfg := setup(t)
	cfg.Path, cfg.Method = bin, "hang"
	p, err := New(context.Background(), NewSystem(1), cfg)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { _, err := call(t, p, `{}`); errc <- err }()
	eventually(t, "the call to run", func() bool { return p.Stats().Busy == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Close(ctx), context.DeadlineExceeded)
	requireTaskError(t, <-errc, shared.ErrorNameCancelled, "still running when the pool closed", "killed")
	require.Empty(t, testplugin.Running(bin))
}

func TestStatsCountCalls(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.MaxWorkerCount = 2
	p := newPool(t, NewSystem(2), cfg)
	concurrentPIDs(t, p, 6, `{"ms":10}`)
	// A second worker may still be starting when the first has served
	// every call: wait for the pool to settle.
	eventually(t, "the pool to settle", func() bool { s := p.Stats(); return s.Starting == 0 && s.Busy == 0 })
	s := p.Stats()
	require.Equal(t, uint64(6), s.Calls)
	require.Equal(t, s.Alive, s.Idle)
	require.Len(t, s.Workers, s.Alive)
	require.LessOrEqual(t, s.Alive, 2)
	var served uint64
	for _, w := range s.Workers {
		require.True(t, testplugin.Alive(w.PID))
		served += w.Calls
	}
	require.Equal(t, uint64(6), served)
}

const helperEnv = "TASKHOST_POOL_TEST_HOST"

// runHelperHost is a host process for TestWorkersDieWithTheHost: it starts
// busy and idle workers, prints their pids and waits to be killed.
func runHelperHost() {
	ctx := context.Background()
	sys := NewSystem(4)
	busy, err := New(ctx, sys, Config{Type: "busy", Path: os.Getenv("TASKHOST_TESTWORKER"), Method: "hang", MaxWorkerCount: 2})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	idle, err := New(ctx, sys, Config{Type: "idle", Path: os.Getenv("TASKHOST_TESTWORKER"), Method: "pid", IdleShutdownTimeout: KeepForever})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for range 2 {
		go func() { _, _ = busy.Call(ctx, Request{}, nil) }()
	}
	if _, err := idle.Call(ctx, Request{}, nil); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for busy.Stats().Busy < 2 {
		time.Sleep(time.Millisecond)
	}
	for _, p := range []*Pool{busy, idle} {
		for _, w := range p.Stats().Workers {
			fmt.Println(w.PID)
		}
	}
	fmt.Println("ready")
	select {}
}

func pidsOfHelper(t *testing.T, bin string) (*exec.Cmd, []int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "TASKHOST_TESTWORKER="+bin)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// A test that fails early must not leave its host behind.
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
		pid, err := strconv.Atoi(sc.Text())
		require.NoError(t, err, "helper said: %s", sc.Text())
		pids = append(pids, pid)
	}
	return cmd, pids
}

func TestWorkersDieWithTheHost(t *testing.T) {
	t.Parallel()
	bin := ownBinary(t)
	host, pids := pidsOfHelper(t, bin)
	require.Len(t, pids, 3)
	require.ElementsMatch(t, pids, testplugin.Running(bin))

	require.NoError(t, host.Process.Signal(syscall.SIGKILL))
	_ = host.Wait()
	eventually(t, "every plugin process to die with its host", func() bool { return len(testplugin.Running(bin)) == 0 })
	for _, pid := range pids {
		require.False(t, testplugin.Alive(pid))
	}
}
