// Package sdktest runs a plugin's methods in-process, over the same gRPC
// adapters the host uses, so that plugin authors can unit-test them
// without a host or a subprocess.
//
// # Logging
//
// The connection is plain in-memory gRPC, without go-plugin's process
// machinery, so nothing of go-plugin's own debug logging reaches the test
// output. What the methods log through [sdk.Logger] is discarded unless
// asked for, so that passing tests stay quiet:
//
//   - the environment variable TASKHOST_TEST_LOG set to trace, debug, info,
//     warn or error sends the lines at that level and above to the test's
//     log (t.Log: shown with go test -v and for failing tests), e.g.
//     TASKHOST_TEST_LOG=debug go test -v ./...;
//   - the option [WithLogger] gives the methods a logger of your own.
package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/shared"
)

// LogEnv names the environment variable that sends the methods' log lines
// to the test's log; its value is the lowest level shown.
const LogEnv = "TASKHOST_TEST_LOG"

// Option changes how [Start] runs the methods.
type Option func(*options)

type options struct {
	logger hclog.Logger
	serve  []sdk.ServeOption
}

// WithServeOptions runs the methods with the options a plugin passes to
// [sdk.Serve], such as [sdk.Concurrency]: without it, calls made at once
// run one at a time, as in a plugin that declares nothing.
func WithServeOptions(opts ...sdk.ServeOption) Option {
	return func(o *options) { o.serve = append(o.serve, opts...) }
}

// WithLogger makes l the methods' logger, the one [sdk.Logger] returns in
// a call; it takes precedence over TASKHOST_TEST_LOG.
func WithLogger(l hclog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Plugin is a set of methods served over a real in-process gRPC
// connection.
type Plugin struct {
	worker   shared.Worker
	progress *shared.ProgressRouter
	nextID   atomic.Uint64
}

// Start serves methods and returns the connected plugin; everything is
// torn down when the test ends.
func Start(t testing.TB, methods sdk.Methods, opts ...Option) *Plugin {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = envLogger(t)
	}

	wp := &shared.WorkerPlugin{Impl: sdk.NewWorker(methods, o.logger, o.serve...)}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	if err := wp.GRPCServer(nil, srv); err != nil {
		t.Fatalf("sdktest: register worker service: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///sdktest",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		t.Fatalf("sdktest: connect: %v", err)
	}
	// exitedCtx plays go-plugin's process-lifetime context: done once the
	// server is gone.
	exitedCtx, exited := context.WithCancel(context.Background())
	raw, err := wp.GRPCClient(exitedCtx, nil, conn)
	if err != nil {
		exited()
		_ = conn.Close()
		srv.Stop()
		t.Fatalf("sdktest: client: %v", err)
	}
	p := &Plugin{worker: raw.(shared.Worker), progress: shared.NewProgressRouter()}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.progress.Watch(ctx, p.worker)
	}()
	<-p.progress.Ready()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = conn.Close()
		srv.Stop()
		<-served
		exited()
	})
	return p
}

// envLogger is the methods' logger when no option gives one: per
// TASKHOST_TEST_LOG, into the test's log, or nowhere.
func envLogger(t testing.TB) hclog.Logger {
	v := os.Getenv(LogEnv)
	if v == "" {
		return hclog.NewNullLogger()
	}
	level := hclog.LevelFromString(v)
	if level == hclog.NoLevel {
		t.Fatalf("sdktest: %s=%q: want trace, debug, info, warn, error or off", LogEnv, v)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: level, Output: newTestLogWriter(t)})
}

// testLogWriter hands each line to t.Log until the test ends: a method that
// ignores its context may still log after that, and t.Log would panic.
type testLogWriter struct {
	t     testing.TB
	mu    sync.Mutex
	ended bool
}

func newTestLogWriter(t testing.TB) *testLogWriter {
	w := &testLogWriter{t: t}
	// Registered before Start's own cleanup, so it runs after the server
	// has stopped.
	t.Cleanup(func() {
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
	})
	return w
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}

// Methods lists the exported method names, sorted.
func (p *Plugin) Methods(ctx context.Context) ([]string, error) {
	info, err := p.worker.Describe(ctx)
	return info.Methods, err
}

// Describe is what the plugin tells the host about itself: its methods
// and the concurrency it declares.
func (p *Plugin) Describe(ctx context.Context) (shared.PluginInfo, error) {
	return p.worker.Describe(ctx)
}

// Call runs method with payload encoded as JSON (a json.RawMessage is
// passed as it is) and returns its JSON result. A method's failure is a
// *shared.TaskError. onProgress, if not nil, receives progress reports.
func (p *Plugin) Call(ctx context.Context, method string, task sdk.Task, payload any, onProgress func(shared.Progress)) (json.RawMessage, error) {
	raw, ok := payload.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("sdktest: encode payload: %w", err)
		}
		raw = b
	}
	id := p.nextID.Add(1)
	p.progress.Begin(id, onProgress)
	call := shared.Call{ID: id, Method: method, Payload: raw, Task: shared.CallTask(task)}
	if d, ok := ctx.Deadline(); ok {
		call.Timeout = max(time.Until(d), time.Millisecond)
	}
	out, err := p.worker.Invoke(ctx, call)
	p.progress.End(ctx, id, out.ProgressEvents)
	if err != nil {
		return nil, err
	}
	if out.Error != nil {
		return nil, out.Error
	}
	return out.Result, nil
}

// Call runs method on p and decodes its result into R.
func Call[R any](ctx context.Context, p *Plugin, method string, payload any) (R, error) {
	var r R
	raw, err := p.Call(ctx, method, sdk.Task{ID: "sdktest", Type: "sdktest", ThreadID: "main", Attempt: 1}, payload, nil)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("sdktest: decode result of %q into %T: %w", method, r, err)
	}
	return r, nil
}
