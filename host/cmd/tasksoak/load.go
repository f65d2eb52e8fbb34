package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

// kind is one kind of task of the mix: a handler of its own, how often it
// is created, and how each of its tasks must end.
type kind struct {
	typ, method string
	weight      int
	payload     func(rng *rand.Rand, n int) string
	create      host.CreateOptions
	opts        host.HandlerOptions
	// want says what is wrong with a finished task of this kind; "" if
	// nothing.
	want func(t shared.Task) string
}

// mix is the load: weights out of 100 at -rate tasks a second. The hang
// kind holds a worker for its timeout plus the pool's 5 s cancel grace, so
// it stays rare enough for its two workers.
func mix() []kind {
	failedWith := func(name, contains string) func(shared.Task) string {
		return func(t shared.Task) string {
			switch {
			case t.Status != shared.StatusFailed || t.Error == nil:
				return fmt.Sprintf("%s, want failed with %s", t.Status, name)
			case t.Error.Name != name || !strings.Contains(t.Error.Message, contains):
				return fmt.Sprintf("error %s, want %s containing %q", t.Error, name, contains)
			}
			return ""
		}
	}
	succeeded := func(result string) func(shared.Task) string {
		return func(t shared.Task) string {
			switch {
			case t.Status != shared.StatusSuccess:
				return fmt.Sprintf("%s (%v), want success", t.Status, t.Error)
			case result != "" && string(t.Result) != result:
				return fmt.Sprintf("result %s, want %s", t.Result, result)
			}
			return ""
		}
	}
	return []kind{{
		typ: "soak-echo", method: "echo", weight: 40,
		payload: func(_ *rand.Rand, n int) string { return fmt.Sprintf(`{"n":%d}`, n) },
		opts:    host.HandlerOptions{MaxWorkerCount: 2, IdleShutdownTimeout: 5 * time.Second},
		want:    succeeded(""),
	}, {
		typ: "soak-sleep", method: "sleep", weight: 20,
		payload: func(rng *rand.Rand, _ int) string { return fmt.Sprintf(`{"ms":%d}`, rng.IntN(200)) },
		opts:    host.HandlerOptions{MaxWorkerCount: 3, IdleShutdownTimeout: 2 * time.Second},
		want:    succeeded(""),
	}, {
		typ: "soak-progress", method: "progress", weight: 10,
		payload: func(*rand.Rand, int) string { return `{"steps":4,"delayMs":10}` },
		opts:    host.HandlerOptions{MaxWorkerCount: 1, IdleShutdownTimeout: time.Second},
		want:    succeeded("4"),
	}, {
		typ: "soak-fail", method: "fail", weight: 10,
		payload: func(*rand.Rand, int) string { return `{"message":"soak failure"}` },
		create:  host.CreateOptions{RetryCount: 2, RetryInterval: 50 * time.Millisecond},
		opts:    host.HandlerOptions{MaxWorkerCount: 1, IdleShutdownTimeout: time.Second},
		want: func(t shared.Task) string {
			if s := failedWith(shared.ErrorNameDefault, "soak failure")(t); s != "" {
				return s
			}
			if t.RetriesRemaining == nil || *t.RetriesRemaining != 0 {
				return "retries left, want 0"
			}
			return ""
		},
	}, {
		typ: "soak-exit", method: "exit", weight: 8,
		payload: func(*rand.Rand, int) string { return `{"code":3}` },
		opts:    host.HandlerOptions{MaxWorkerCount: 1},
		want:    failedWith(shared.ErrorNameWorkerCrashed, "exit status 3"),
	}, {
		typ: "soak-panic", method: "panic", weight: 5,
		payload: func(*rand.Rand, int) string { return `{"message":"soak panic"}` },
		opts:    host.HandlerOptions{MaxWorkerCount: 1, IdleShutdownTimeout: time.Second},
		want:    failedWith(shared.ErrorNamePanic, "soak panic"),
	}, {
		typ: "soak-timeout", method: "sleep", weight: 6,
		payload: func(*rand.Rand, int) string { return `{"ms":60000}` },
		opts:    host.HandlerOptions{MaxWorkerCount: 2, IdleShutdownTimeout: 2 * time.Second, ExecutionTimeout: 100 * time.Millisecond},
		want:    failedWith(shared.ErrorNameExecutionTimeout, "exceeded its execution timeout of 100ms"),
	}, {
		typ: "soak-hang", method: "hang", weight: 1,
		payload: func(*rand.Rand, int) string { return `{}` },
		opts:    host.HandlerOptions{MaxWorkerCount: 2, ExecutionTimeout: 200 * time.Millisecond},
		want:    failedWith(shared.ErrorNameExecutionTimeout, "did not return within its execution timeout of 200ms"),
	}}
}

// tally counts what the load did; its callback checks every finished task
// against its kind.
type tally struct {
	kinds   map[string]kind
	created atomic.Int64
	done    atomic.Int64

	mu     sync.Mutex
	byEnd  map[string]int // "<type> <status>"
	wrong  []string       // the first few tasks that ended wrongly
	nWrong int
}

func newTally(kinds []kind) *tally {
	t := &tally{kinds: map[string]kind{}, byEnd: map[string]int{}}
	for _, k := range kinds {
		t.kinds[k.typ] = k
	}
	return t
}

func (t *tally) onStateChange(_ context.Context, task shared.Task) error {
	if !task.Status.Terminal() {
		return nil
	}
	t.done.Add(1)
	bad := t.kinds[task.Type].want(task)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byEnd[task.Type+" "+string(task.Status)]++
	if bad != "" {
		t.nWrong++
		if len(t.wrong) < 10 {
			t.wrong = append(t.wrong, fmt.Sprintf("%s task %s: %s", task.Type, task.ID, bad))
		}
	}
	return nil
}

// soak runs the load for cfg.duration, with idle checkpoints at its
// thirds, waits for it to drain and the host to go idle, stops the host
// and returns the verdict.
func soak(ctx context.Context, cfg config, dir string, out io.Writer) ([]string, error) {
	// Crashes and timeouts are the load: their warnings are many and
	// expected, so they go to a file only when asked for.
	log := hclog.NewNullLogger()
	if cfg.log != "" {
		f, err := os.Create(cfg.log)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		log = hclog.New(&hclog.LoggerOptions{Name: "tasksoak", Level: hclog.Warn, Output: f})
	}
	storeDir := dir + "/store"
	st, err := badgerstore.Open(storeDir, badgerstore.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	h, err := host.New(st, host.Options{SystemWorkerCount: cfg.workers, Logger: log})
	if err != nil {
		return nil, err
	}
	kinds := mix()
	tl := newTally(kinds)
	for _, k := range kinds {
		if err := h.RegisterHandler(ctx, k.typ, cfg.plugin, k.method, tl.onStateChange, k.opts); err != nil {
			return nil, err
		}
	}
	if err := h.Start(ctx); err != nil {
		return nil, err
	}
	stopped := false
	stopHost := func() error {
		if stopped {
			return nil
		}
		stopped = true
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return h.Stop(sctx)
	}
	defer stopHost()

	began := time.Now()
	l := &load{cfg: cfg, h: h, kinds: kinds, tally: tl, began: began, out: out,
		probe: &prober{h: h, tally: tl, storeDir: storeDir, plugin: cfg.plugin}}
	l.base = l.probe.read(0)
	fmt.Fprintf(out, "tasksoak: %v at %.0f tasks/s, %d kinds, samples every %v (the first %v left out), idle checkpoints at each third, store %s\n",
		cfg.duration, cfg.rate, len(kinds), cfg.sample, cfg.warmup, storeDir)
	fmt.Fprintf(out, "baseline (idle, no worker): %d goroutines, %d fds (%d of them the store's), %.1f MiB RSS, %.1f MiB live heap\n\n",
		l.base.goroutines, l.base.fds, l.base.storeFDs, mib(l.base.rss), mib(l.base.heap))
	fmt.Fprintln(out, header)

	loadDone := make(chan struct{})
	var createErr error
	go func() {
		defer close(loadDone)
		createErr = l.create(ctx)
	}()

	var samples []sample
	tick := time.NewTicker(cfg.sample)
	defer tick.Stop()
	nextReport := cfg.report
	interrupted := false
sampling:
	for {
		select {
		case <-tick.C:
		case <-loadDone:
			break sampling
		case <-ctx.Done():
			interrupted = true
			<-loadDone
			break sampling
		}
		if l.paused.Load() {
			continue // an idle checkpoint: not the load
		}
		s := l.probe.read(time.Since(began))
		samples = append(samples, s)
		if s.at >= nextReport {
			l.print(s.row())
			nextReport += cfg.report
		}
	}
	if createErr != nil && !interrupted {
		return nil, fmt.Errorf("create: %w", createErr)
	}
	l.print(l.probe.read(time.Since(began)).row() + "  (load ends)")
	idle, quiet := l.waitIdle(ctx, 5*time.Minute, 0)
	l.print(idle.row() + "  (idle)")
	fmt.Fprintln(out)

	stopErr := stopHost()
	orphans := waitFor(context.Background(), 10*time.Second, func() bool { return len(testplugin.Running(cfg.plugin)) == 0 })

	v := judge(cfg, samples, idle)
	for i, cp := range append(l.checkpoints, checkpoint{idle, quiet}) {
		what := fmt.Sprintf("idle checkpoint %d at %v", i+1, cp.s.at.Round(time.Second))
		if i == len(l.checkpoints) {
			what = "idle after the load"
		}
		v = append(v, check(cp.ok, "%s: every task finished (%d of %d), %d workers, %d goroutines (baseline %d), %d fds besides the store's (baseline %d)",
			what, cp.s.done, cp.s.created, cp.s.alive, cp.s.goroutines, l.base.goroutines, cp.s.fds-cp.s.storeFDs, l.base.fds-l.base.storeFDs))
	}
	tl.mu.Lock()
	v = append(v, check(tl.nWrong == 0, "every task ended as its kind must: %d did not %v", tl.nWrong, tl.wrong))
	v = append(v, fmt.Sprintf("info  ends: %v", tl.byEnd))
	tl.mu.Unlock()
	v = append(v, check(stopErr == nil, "the host stopped cleanly: %v", stopErr))
	v = append(v, check(orphans, "no plugin process outlived the host"))
	if interrupted {
		v = append(v, check(false, "interrupted before -duration"))
	}
	return v, nil
}

// load creates the tasks and takes the idle checkpoints.
type load struct {
	cfg   config
	h     *host.Host
	kinds []kind
	tally *tally
	probe *prober
	base  sample
	began time.Time

	outMu sync.Mutex
	out   io.Writer

	paused      atomic.Bool
	checkpoints []checkpoint // written by create only
}

// checkpoint is the reading of an idle checkpoint and whether the host was
// back to its baseline.
type checkpoint struct {
	s  sample
	ok bool
}

func (l *load) print(line string) {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	fmt.Fprintln(l.out, line)
}

// create creates tasks at cfg.rate for cfg.duration of load. At each third
// of it, it pauses for an idle checkpoint; the load then goes on at the
// same pace, the pause not counted.
func (l *load) create(ctx context.Context) error {
	cfg := l.cfg
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total := 0
	for _, k := range l.kinds {
		total += k.weight
	}
	began := time.Now()
	nextPause := cfg.duration / 3
	for n := 0; ; n++ {
		at := time.Duration(float64(n) / cfg.rate * float64(time.Second))
		if at >= cfg.duration {
			return nil
		}
		if at >= nextPause {
			pauseBegan := time.Now()
			l.paused.Store(true)
			s, ok := l.waitIdle(ctx, 2*time.Minute, 1) // this goroutine
			l.print(s.row() + "  (idle checkpoint)")
			l.checkpoints = append(l.checkpoints, checkpoint{s, ok})
			l.paused.Store(false)
			began = began.Add(time.Since(pauseBegan))
			nextPause += cfg.duration / 3
		}
		select {
		case <-time.After(time.Until(began.Add(at))):
		case <-ctx.Done():
			return ctx.Err()
		}
		pick := rng.IntN(total)
		k := l.kinds[0]
		for _, k = range l.kinds {
			if pick < k.weight {
				break
			}
			pick -= k.weight
		}
		if _, err := l.h.Create(ctx, k.typ, json.RawMessage(k.payload(rng, n)), k.create); err != nil {
			return err
		}
		l.tally.created.Add(1)
	}
}

// waitIdle waits until every task created has finished, every worker has
// been reaped and goroutines (but extra, the caller's own) and descriptors
// (but the store's) are back to the baseline; false if that did not
// happen within limit.
func (l *load) waitIdle(ctx context.Context, limit time.Duration, extra int) (sample, bool) {
	var s sample
	ok := waitFor(ctx, limit, func() bool {
		s = l.probe.read(time.Since(l.began))
		s.goroutines -= extra
		return s.done == s.created && s.alive == 0 && s.goroutines <= l.base.goroutines &&
			s.fds-s.storeFDs <= l.base.fds-l.base.storeFDs
	})
	return s, ok
}

// waitFor polls cond until it holds (true) or limit passes (false).
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
