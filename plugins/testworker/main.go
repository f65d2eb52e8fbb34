// Command testworker is the plugin the host's tests and benchmarks run: a
// method for every way a handler can behave or misbehave.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

// Config is the handler config given to initialise and shutdown.
type Config struct {
	// Record, if set, is a file to which initialise and shutdown append
	// "<method> <pid>" lines.
	Record string `json:"record"`
	// FailInitialise makes initialise fail.
	FailInitialise bool `json:"failInitialise"`
	// InitialiseDelayMS makes initialise take that long: a slow start.
	InitialiseDelayMS int `json:"initialiseDelayMs"`
}

type sleepPayload struct {
	MS int `json:"ms"`
	// Stubborn makes sleep ignore its context.
	Stubborn bool `json:"stubborn,omitempty"`
}

type failPayload struct {
	Message   string `json:"message"`
	Permanent bool   `json:"permanent"`
}

type exitPayload struct {
	Code int `json:"code"`
}

type progressPayload struct {
	Steps   int `json:"steps"`
	DelayMS int `json:"delayMs"`
}

type recordPayload struct {
	// File gets one line "<task id> <attempt>" per run.
	File string `json:"file"`
	// Fail, if set, is the error the run returns after recording.
	Fail string `json:"fail"`
}

type logPayload struct {
	Lines int `json:"lines"`
}

type spanPayload struct {
	File string `json:"file"`
	MS   int    `json:"ms"`
}

type none struct{}

type meetPayload struct {
	// Key names the meeting; N is how many calls it waits for.
	Key string `json:"key"`
	N   int    `json:"n"`
}

// meetResult says which process the call ran in and the most calls that
// process ever ran at once.
type meetResult struct {
	PID       int   `json:"pid"`
	MaxActive int64 `json:"maxActive"`
}

// meetings lets calls in one process wait for each other: a call to meet
// returns once N calls of its key have arrived, which they can only do
// if the process runs them at once.
type meetings struct {
	mu        sync.Mutex
	arrived   map[string]int
	all       map[string]chan struct{}
	active    atomic.Int64
	maxActive atomic.Int64
}

func (m *meetings) meet(ctx context.Context, _ sdk.Task, p meetPayload) (meetResult, error) {
	n := m.active.Add(1)
	defer m.active.Add(-1)
	for {
		old := m.maxActive.Load()
		if n <= old || m.maxActive.CompareAndSwap(old, n) {
			break
		}
	}
	m.mu.Lock()
	ch, ok := m.all[p.Key]
	if !ok {
		ch = make(chan struct{})
		m.all[p.Key] = ch
	}
	m.arrived[p.Key]++
	if m.arrived[p.Key] == p.N {
		close(ch)
	}
	m.mu.Unlock()
	select {
	case <-ch:
		return meetResult{PID: os.Getpid(), MaxActive: m.maxActive.Load()}, nil
	case <-ctx.Done():
		return meetResult{}, ctx.Err()
	}
}

// Variables by which a test makes the worker misbehave on the transport:
// plainEnv serves without TLS whatever the host asks; foreignCertEnv and
// foreignKeyEnv replace the certificate and key the host issued.
const (
	plainEnv       = "TESTWORKER_PLAIN"
	foreignCertEnv = "TESTWORKER_FOREIGN_CERT"
	foreignKeyEnv  = "TESTWORKER_FOREIGN_KEY"
	// concurrencyEnv, if set, is the concurrency the worker declares to
	// the host (sdk.Concurrency); without it, it declares none.
	concurrencyEnv = "TESTWORKER_CONCURRENCY"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "printenv" {
		// A child of the worker (see childenv): what it inherited.
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		return
	}
	if os.Getenv(plainEnv) != "" {
		for _, k := range []string{"PLUGIN_CLIENT_CERT", "TASKHOST_PLUGIN_CERT", "TASKHOST_PLUGIN_KEY"} {
			os.Unsetenv(k)
		}
	}
	if cert, ok := os.LookupEnv(foreignCertEnv); ok {
		os.Setenv("TASKHOST_PLUGIN_CERT", cert)
		os.Setenv("TASKHOST_PLUGIN_KEY", os.Getenv(foreignKeyEnv))
	}
	var counter atomic.Int64
	var opts []sdk.ServeOption
	if v := os.Getenv(concurrencyEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testworker: %s=%q: %v\n", concurrencyEnv, v, err)
			os.Exit(2)
		}
		opts = append(opts, sdk.Concurrency(n))
	}
	m := &meetings{arrived: map[string]int{}, all: map[string]chan struct{}{}}
	// go-plugin forwards os.Stderr over gRPC once serving; the process's
	// own stderr is where a host looks for why a worker died.
	rawStderr, rawStdout := os.Stderr, os.Stdout
	sdk.Serve(sdk.Methods{
		"initialise": sdk.Func(func(ctx context.Context, _ sdk.Task, c Config) (none, error) {
			if c.FailInitialise {
				return none{}, errors.New("initialise refused: failInitialise is set")
			}
			select {
			case <-time.After(time.Duration(c.InitialiseDelayMS) * time.Millisecond):
			case <-ctx.Done():
				return none{}, ctx.Err()
			}
			return none{}, record(c.Record, "initialise")
		}),
		"shutdown": sdk.Func(func(ctx context.Context, _ sdk.Task, c Config) (none, error) {
			return none{}, record(c.Record, "shutdown")
		}),
		"echo": sdk.Func(func(_ context.Context, _ sdk.Task, p json.RawMessage) (json.RawMessage, error) {
			return p, nil
		}),
		"sleep": sdk.Func(func(ctx context.Context, _ sdk.Task, p sleepPayload) (sleepPayload, error) {
			if p.Stubborn {
				time.Sleep(time.Duration(p.MS) * time.Millisecond)
				return p, nil
			}
			select {
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
				return p, nil
			case <-ctx.Done():
				return p, ctx.Err()
			}
		}),
		"fail": sdk.Func(func(_ context.Context, _ sdk.Task, p failPayload) (none, error) {
			err := errors.New(p.Message)
			if p.Permanent {
				err = sdk.Permanent(err)
			}
			return none{}, err
		}),
		"panic": sdk.Func(func(_ context.Context, _ sdk.Task, p failPayload) (none, error) {
			panic("testworker: " + p.Message)
		}),
		"exit": sdk.Func(func(_ context.Context, _ sdk.Task, p exitPayload) (none, error) {
			fmt.Fprintf(rawStderr, "testworker: exiting with code %d\n", p.Code)
			os.Exit(p.Code)
			return none{}, nil
		}),
		"hang": sdk.Func(func(context.Context, sdk.Task, none) (none, error) {
			select {} // ignores its context on purpose
		}),
		"pid": sdk.Func(func(ctx context.Context, _ sdk.Task, p sleepPayload) (int, error) {
			select {
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
				return os.Getpid(), nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}),
		"count": sdk.Func(func(context.Context, sdk.Task, none) (int64, error) {
			return counter.Add(1), nil
		}),
		"progress": sdk.Func(func(ctx context.Context, _ sdk.Task, p progressPayload) (int, error) {
			steps := max(p.Steps, 1)
			for i := 0; i <= steps; i++ {
				sdk.Progress(ctx, float64(i*100/steps), fmt.Sprintf("step %d of %d", i, steps))
				select {
				case <-time.After(time.Duration(p.DelayMS) * time.Millisecond):
				case <-ctx.Done():
					return i, ctx.Err()
				}
			}
			return steps, nil
		}),
		"slowfirst": sdk.Func(func(ctx context.Context, t sdk.Task, p sleepPayload) (int, error) {
			// Slow on the first attempt only: lets a test kill the host
			// mid-task and see the rerun finish.
			if t.Attempt > 1 {
				return t.Attempt, nil
			}
			select {
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
				return t.Attempt, nil
			case <-ctx.Done():
				return t.Attempt, ctx.Err()
			}
		}),
		"segv": sdk.Func(func(context.Context, sdk.Task, none) (none, error) {
			// A nil dereference on a goroutine of its own, out of the SDK's
			// reach: the runtime kills the process with SIGSEGV's panic.
			done := make(chan struct{})
			go func() {
				var p *failPayload
				_ = p.Message
				close(done)
			}()
			<-done
			return none{}, nil
		}),
		"garbage": sdk.Func(func(context.Context, sdk.Task, none) (string, error) {
			// Raw bytes on the process's real stdout, which carried the
			// go-plugin handshake.
			_, err := rawStdout.Write([]byte("\x00\xff garbage 1|2|tcp|nonsense\n{not json\n"))
			return "wrote garbage", err
		}),
		"closeconn": sdk.Func(func(context.Context, sdk.Task, none) (none, error) {
			// Close every socket the process has: the gRPC connection
			// goes away under the call.
			entries, _ := os.ReadDir("/proc/self/fd")
			for _, e := range entries {
				target, _ := os.Readlink("/proc/self/fd/" + e.Name())
				if fd, err := strconv.Atoi(e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
					_ = syscall.Close(fd)
				}
			}
			select {} // the host must notice on its own
		}),
		"big": sdk.Func(func(_ context.Context, _ sdk.Task, p struct{ Bytes int }) (string, error) {
			return strings.Repeat("x", p.Bytes), nil
		}),
		"env": sdk.Func(func(context.Context, sdk.Task, none) ([]string, error) {
			return os.Environ(), nil
		}),
		"print": sdk.Func(func(_ context.Context, _ sdk.Task, p struct{ Line string }) (none, error) {
			// To the os.Stdout go-plugin swapped in: its gRPC stdio
			// stream carries the line to the host.
			_, err := fmt.Println(p.Line)
			return none{}, err
		}),
		"childenv": sdk.Func(func(ctx context.Context, _ sdk.Task, _ none) ([]string, error) {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			out, err := exec.CommandContext(ctx, self, "printenv").Output()
			if err != nil {
				return nil, err
			}
			return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), nil
		}),
		"alloc": sdk.Func(func(ctx context.Context, _ sdk.Task, p struct{ MB, HoldMS int }) (int, error) {
			// Touch every page so that it counts as resident.
			buf := make([]byte, p.MB<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = 1
			}
			select {
			case <-time.After(time.Duration(p.HoldMS) * time.Millisecond):
			case <-ctx.Done():
			}
			return len(buf) >> 20, nil
		}),
		"record": sdk.Func(func(_ context.Context, t sdk.Task, p recordPayload) (int, error) {
			// A side effect on disk, synced before the method returns, by
			// which the fault suite counts how often each task really ran.
			f, err := os.OpenFile(p.File, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return 0, err
			}
			_, err = fmt.Fprintf(f, "%s %d\n", t.ID, t.Attempt)
			if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
				return 0, err
			}
			if p.Fail != "" {
				return 0, errors.New(p.Fail)
			}
			return t.Attempt, nil
		}),
		"span": sdk.Func(func(ctx context.Context, t sdk.Task, p spanPayload) (int, error) {
			// Where and when each run was: "start|end <task id> <attempt>
			// <host pid> <unix ns>" lines, by which the cluster tests check
			// that no task ran on two nodes at once.
			mark := func(what string) error {
				f, err := os.OpenFile(p.File, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(f, "%s %s %d %d %d\n", what, t.ID, t.Attempt, os.Getppid(), time.Now().UnixNano())
				return errors.Join(err, f.Close())
			}
			if err := mark("start"); err != nil {
				return 0, err
			}
			select {
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return t.Attempt, mark("end")
		}),
		"log": sdk.Func(func(ctx context.Context, _ sdk.Task, p logPayload) (int, error) {
			// Each line twice: through the SDK's logger, and written the way
			// a plugin in another language might; both with keys in an
			// order of their own.
			for i := range p.Lines {
				sdk.Logger(ctx).Info("sdk line", "zulu", i, "bravo", "two", "yankee", 3.5, "alpha", true)
				fmt.Fprintf(rawStderr, `{"@level":"info","@message":"raw line","@timestamp":%q,"zulu":%d,"alpha":"x y","mike":[1,2],"@module":"js"}`+"\n",
					time.Now().Format("2006-01-02T15:04:05.000000Z07:00"), i)
			}
			return p.Lines, nil
		}),
		"task": sdk.Func(func(_ context.Context, t sdk.Task, _ none) (sdk.Task, error) {
			return t, nil
		}),
		"meet": sdk.Func(m.meet),
	}, opts...)
}

func record(path, what string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %d\n", what, os.Getpid())
	return errors.Join(err, f.Close())
}
