package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// eachProtocol runs test as a parallel subtest for each worker protocol:
// the calls stream (2, which plugins of this SDK speak) and a unary
// Invoke per call (1, older plugins').
func eachProtocol(t *testing.T, test func(t *testing.T, protocol int)) {
	t.Helper()
	for _, v := range []int{shared.ProtocolCalls, shared.ProtocolUnary} {
		t.Run(fmt.Sprintf("protocol %d", v), func(t *testing.T) {
			t.Parallel()
			test(t, v)
		})
	}
}

// setupConcurrent is setup for a handler of concurrency n whose plugin
// declares declared calls at once.
func setupConcurrent(t *testing.T, n, declared int) Config {
	t.Helper()
	cfg := setup(t)
	cfg.Concurrency = n
	cfg.Env = map[string]string{"TESTWORKER_CONCURRENCY": strconv.Itoa(declared)}
	return cfg
}

type meetResult struct {
	PID       int   `json:"pid"`
	MaxActive int64 `json:"maxActive"`
}

// meetAll makes n calls of meet at once, each waiting for `wait` of them
// to have arrived in its process, and returns their results.
func meetAll(t *testing.T, p *Pool, n, wait int, key string) []meetResult {
	t.Helper()
	out := make([]meetResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		wg.Go(func() {
			raw, err := p.Call(ctx, Request{Payload: json.RawMessage(fmt.Sprintf(`{"key":%q,"n":%d}`, key, wait)),
				Task: shared.CallTask{ID: fmt.Sprintf("t%d", i), Attempt: 1}}, nil)
			if errs[i] = err; err == nil {
				errs[i] = json.Unmarshal(raw, &out[i])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "a call never met the others: the calls did not run at once")
	}
	return out
}

// callAsync starts a call and returns its outcome on a channel.
type outcome struct {
	result json.RawMessage
	err    error
}

func callAsync(ctx context.Context, p *Pool, payload string, onProgress func(shared.Progress)) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		raw, err := p.Call(ctx, Request{Payload: json.RawMessage(payload), Task: shared.CallTask{ID: "t", Attempt: 1}}, onProgress)
		ch <- outcome{raw, err}
	}()
	return ch
}

func waitOutcome(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a call to return")
		return outcome{}
	}
}

func running(p *Pool, n int) func() bool {
	return func() bool { return p.Stats().Running == n }
}

func TestConcurrencyIsRefusedUnlessThePluginDeclaresIt(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Concurrency = 2
	_, err := New(context.Background(), NewSystem(1), cfg)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "concurrency 2: plugin "+testworker+" runs one call at a time")
	require.ErrorContains(t, err, "sdk.Concurrency")

	cfg = setupConcurrent(t, 4, 2)
	_, err = New(context.Background(), NewSystem(1), cfg)
	require.ErrorContains(t, err, "concurrency 4: plugin "+testworker+" declares at most 2 calls at once")

	cfg.Concurrency = 2
	p := newPool(t, NewSystem(1), cfg)
	require.Equal(t, 2, p.Capacity())
}

func TestConcurrencyRunsCallsAtOnceInOneProcess(t *testing.T) {
	t.Parallel()
	cfg := setupConcurrent(t, 4, 8)
	cfg.Method = "meet"
	p := newPool(t, NewSystem(1), cfg)

	got := meetAll(t, p, 4, 4, "a")
	for _, r := range got {
		require.Equal(t, got[0].PID, r.PID)
		require.Equal(t, int64(4), r.MaxActive)
	}
	require.Equal(t, uint64(1), p.Stats().Spawns)

	// Eight calls on a worker of four: never more than four at once.
	got = meetAll(t, p, 8, 1, "b")
	for _, r := range got {
		require.LessOrEqual(t, r.MaxActive, int64(4))
	}
}

func TestConcurrencyWorkerCapsCountProcesses(t *testing.T) {
	t.Parallel()
	cfg := setupConcurrent(t, 3, 3)
	cfg.Method = "sleep"
	cfg.MaxWorkerCount = -1
	// Two system slots: two processes of three calls each.
	p := newPool(t, NewSystem(2), cfg)
	require.Equal(t, 2, p.Max())
	require.Equal(t, 6, p.Capacity())

	ctx, cancel := context.WithCancel(context.Background())
	var calls []<-chan outcome
	for range 7 {
		calls = append(calls, callAsync(ctx, p, `{"ms":60000}`, nil))
	}
	eventually(t, "six calls in flight and one waiting", func() bool {
		s := p.Stats()
		return s.Running == 6 && s.Waiting == 1
	})
	s := p.Stats()
	require.Equal(t, 2, s.Alive)
	require.Equal(t, 3, s.Concurrency)
	for _, w := range s.Workers {
		require.Equal(t, 3, w.Running)
	}
	cancel()
	for _, c := range calls {
		require.Error(t, waitOutcome(t, c).err)
	}
}

func TestConcurrencyCancelStopsOnlyThatCall(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, protocol int) {
		cfg := setupConcurrent(t, 3, 3)
		cfg.maxProtocol = protocol
		cfg.Method = "sleep"
		p := newPool(t, NewSystem(1), cfg)

		ctx, cancel := context.WithCancel(context.Background())
		victim := callAsync(ctx, p, `{"ms":60000}`, nil)
		a := callAsync(context.Background(), p, `{"ms":1500}`, nil)
		b := callAsync(context.Background(), p, `{"ms":1500}`, nil)
		eventually(t, "three calls in flight", running(p, 3))
		pid := p.Stats().Workers[0].PID
		cancel()
		requireTaskError(t, waitOutcome(t, victim).err, shared.ErrorNameCancelled)
		require.Equal(t, 2, p.Stats().Running, "the other two still run")
		require.NoError(t, waitOutcome(t, a).err)
		require.NoError(t, waitOutcome(t, b).err)
		s := p.Stats()
		require.Equal(t, uint64(1), s.Spawns)
		require.Equal(t, uint64(0), s.Kills)
		require.Equal(t, pid, s.Workers[0].PID)
	})
}

func TestConcurrencyStubbornCancelKillsTheProcessAndSaysWhyToTheOthers(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, protocol int) {
		cfg := setupConcurrent(t, 2, 2)
		cfg.maxProtocol = protocol
		cfg.Method = "sleep"
		p := newPool(t, NewSystem(1), cfg)

		ctx, cancel := context.WithCancel(context.Background())
		victim := callAsync(ctx, p, `{"ms":60000,"stubborn":true}`, nil)
		other := callAsync(context.Background(), p, `{"ms":60000}`, nil)
		eventually(t, "two calls in flight", running(p, 2))
		cancel()
		requireTaskError(t, waitOutcome(t, victim).err, shared.ErrorNameCancelled, "did not return within")
		requireTaskError(t, waitOutcome(t, other).err, shared.ErrorNameWorkerCrashed, "another call on it was cancelled and did not return")
		require.Equal(t, uint64(1), p.Stats().Kills, "one worker lost")
	})
}

func TestConcurrencyTimeoutStopsOnlyThatCallAndProgressFindsItsCall(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, protocol int) {
		cfg := setupConcurrent(t, 2, 2)
		cfg.maxProtocol = protocol
		cfg.Method = "progress"
		cfg.ExecutionTimeout = time.Second
		p := newPool(t, NewSystem(1), cfg)

		var mu sync.Mutex
		var longSeen, shortSeen []string
		halfway := make(chan struct{})
		var once sync.Once
		long := callAsync(context.Background(), p, `{"steps":40,"delayMs":50}`, func(pr shared.Progress) {
			mu.Lock()
			longSeen = append(longSeen, pr.Message)
			mu.Unlock()
			if pr.Percent >= 25 {
				once.Do(func() { close(halfway) })
			}
		})
		// Start the short call while the long one runs, so that the long one's
		// timeout passes while the short one still runs.
		select {
		case <-halfway:
		case <-time.After(20 * time.Second):
			t.Fatal("the long call never got halfway")
		}
		short := callAsync(context.Background(), p, `{"steps":3,"delayMs":200}`, func(pr shared.Progress) {
			mu.Lock()
			shortSeen = append(shortSeen, pr.Message)
			mu.Unlock()
		})
		requireTaskError(t, waitOutcome(t, long).err, shared.ErrorNameExecutionTimeout)
		require.Equal(t, 1, p.Stats().Running, "the short call outlives the long one's timeout")
		o := waitOutcome(t, short)
		require.NoError(t, o.err)
		require.JSONEq(t, `3`, string(o.result))

		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []string{"step 0 of 3", "step 1 of 3", "step 2 of 3", "step 3 of 3"}, shortSeen)
		for _, m := range longSeen {
			require.True(t, strings.HasSuffix(m, " of 40"), "the long call got %q", m)
		}
		require.Equal(t, uint64(1), p.Stats().Spawns, "a timeout the method honours costs no worker")
	})
}

func TestConcurrencyCrashFailsEveryCallOnTheProcess(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, protocol int) {
		cfg := setupConcurrent(t, 3, 3)
		cfg.maxProtocol = protocol
		cfg.Method = "sleep"
		p := newPool(t, NewSystem(1), cfg)

		var calls []<-chan outcome
		for range 3 {
			calls = append(calls, callAsync(context.Background(), p, `{"ms":60000}`, nil))
		}
		eventually(t, "three calls in flight", running(p, 3))
		pid := p.Stats().Workers[0].PID
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		for _, c := range calls {
			requireTaskError(t, waitOutcome(t, c).err, shared.ErrorNameWorkerCrashed, fmt.Sprintf("worker pid %d exited", pid), "signal: killed")
		}
		require.Equal(t, uint64(1), p.Stats().Crashes, "one worker lost")
		require.NoError(t, callAsyncErr(p, `{"ms":1}`), "the next call gets a new worker")
	})
}

func callAsyncErr(p *Pool, payload string) error {
	o := <-callAsync(context.Background(), p, payload, nil)
	return o.err
}

func TestConcurrencyMemoryLimitFailsEveryCallOnTheProcess(t *testing.T) {
	t.Parallel()
	cfg := setupConcurrent(t, 3, 3)
	cfg.Method = "alloc"
	cfg.MemoryLimit = 64 << 20
	p := newPool(t, NewSystem(1), cfg)

	small1 := callAsync(context.Background(), p, `{"MB":1,"HoldMS":60000}`, nil)
	small2 := callAsync(context.Background(), p, `{"MB":1,"HoldMS":60000}`, nil)
	eventually(t, "two calls in flight", running(p, 2))
	big := callAsync(context.Background(), p, `{"MB":300,"HoldMS":60000}`, nil)
	for _, c := range []<-chan outcome{small1, small2, big} {
		requireTaskError(t, waitOutcome(t, c).err, shared.ErrorNameMemoryLimit, "limit of 64 MiB")
	}
	require.Equal(t, uint64(1), p.Stats().MemoryKills)
}

func TestConcurrencyMaxTasksPerWorkerCountsTasksAndLetsThemFinish(t *testing.T) {
	t.Parallel()
	cfg := setupConcurrent(t, 4, 4)
	cfg.MaxTasksPerWorker = 3
	p := newPool(t, NewSystem(1), cfg)

	pids := concurrentPIDs(t, p, 5, `{"ms":300}`)
	counts := map[int]int{}
	for _, pid := range pids {
		counts[pid]++
	}
	require.Len(t, counts, 2, "pids %v", pids)
	first := pids[0]
	if counts[first] != 3 {
		for pid := range counts {
			if pid != first {
				first = pid
			}
		}
	}
	require.Equal(t, 3, counts[first], "the first worker takes three calls, all of which finish: %v", pids)
	eventually(t, "the recycled worker to exit", func() bool { return !testplugin.Alive(first) })
	require.Equal(t, uint64(1), p.Stats().Recycled)
}

func TestConcurrencyInitialiseAndShutdownRunOncePerProcess(t *testing.T) {
	t.Parallel()
	record := filepath.Join(t.TempDir(), "record")
	cfg := setupConcurrent(t, 4, 4)
	cfg.InitialiseMethod, cfg.ShutdownMethod = "initialise", "shutdown"
	cfg.InitConfig = json.RawMessage(fmt.Sprintf(`{"record":%q}`, record))
	p, err := New(context.Background(), NewSystem(1), cfg)
	require.NoError(t, err)

	pids := distinct(concurrentPIDs(t, p, 8, `{"ms":100}`))
	require.Len(t, pids, 1)
	require.NoError(t, p.Close(context.Background()))
	raw, err := os.ReadFile(record)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("initialise %d\nshutdown %d\n", pids[0], pids[0]), string(raw))
}

func TestConcurrencyCloseLetsEveryCallInFlightFinish(t *testing.T) {
	t.Parallel()
	cfg := setupConcurrent(t, 3, 3)
	cfg.Method = "sleep"
	p, err := New(context.Background(), NewSystem(1), cfg)
	require.NoError(t, err)

	var calls []<-chan outcome
	for range 3 {
		calls = append(calls, callAsync(context.Background(), p, `{"ms":300}`, nil))
	}
	eventually(t, "three calls in flight", running(p, 3))
	pid := p.Stats().Workers[0].PID
	require.NoError(t, p.Close(context.Background()))
	for _, c := range calls {
		require.NoError(t, waitOutcome(t, c).err)
	}
	require.False(t, testplugin.Alive(pid))
	_, err = p.Call(context.Background(), Request{}, nil)
	require.ErrorIs(t, err, shared.ErrClosed)
}

func TestConcurrencyCloseOutOfTimeCancelsEveryCallInFlight(t *testing.T) {
	t.Parallel()
	cfg := setupConcurrent(t, 2, 2)
	cfg.Method = "sleep"
	p, err := New(context.Background(), NewSystem(1), cfg)
	require.NoError(t, err)

	a := callAsync(context.Background(), p, `{"ms":60000}`, nil)
	b := callAsync(context.Background(), p, `{"ms":60000,"stubborn":true}`, nil)
	eventually(t, "two calls in flight", running(p, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Close(ctx), context.DeadlineExceeded)
	requireTaskError(t, waitOutcome(t, a).err, shared.ErrorNameCancelled, "the pool closed")
	requireTaskError(t, waitOutcome(t, b).err, shared.ErrorNameCancelled, "still running when the pool closed")
}
