package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

var testworker string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelperHost()
		return
	}
	if os.Getenv(faultHostEnv) != "" {
		runFaultHost()
		return
	}
	testplugin.Main(m, &testworker)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// env is a started host on a fresh Badger store.
type env struct {
	t   *testing.T
	h   *host.Host
	st  *badgerstore.Store
	dir string
	rec *recorder
}

func setup(t *testing.T, opts ...func(*host.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	return start(t, dir, opts...)
}

func start(t *testing.T, dir string, opts ...func(*host.Options)) *env {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	st, err := badgerstore.Open(dir, badgerstore.Options{Logger: logger})
	require.NoError(t, err)
	o := host.Options{
		// Dispatch must not depend on polling: make the safety net useless.
		TaskInterval: time.Hour,
		Logger:       logger,
	}
	for _, f := range opts {
		f(&o)
	}
	h, err := host.New(st, o)
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background()))
	e := &env{t: t, h: h, st: st, dir: dir, rec: newRecorder()}
	t.Cleanup(e.shutdown)
	return e
}

// shutdown stops the host and closes its store; again is harmless.
func (e *env) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.h.Stop(ctx))
	require.NoError(e.t, e.st.Close())
}

// register registers method of the test worker as task type typ.
func (e *env) register(typ, method string, opts ...func(*host.HandlerOptions)) {
	e.t.Helper()
	o := host.HandlerOptions{IdleShutdownTimeout: host.KeepForever}
	for _, f := range opts {
		f(&o)
	}
	require.NoError(e.t, e.h.RegisterHandler(context.Background(), typ, testworker, method, e.rec.callback, o))
}

func (e *env) create(typ, payload string, opts host.CreateOptions) string {
	e.t.Helper()
	id, err := e.h.Create(context.Background(), typ, json.RawMessage(payload), opts)
	require.NoError(e.t, err)
	return id
}

// waitStatus waits until the recorder saw the task reach status.
func (e *env) waitStatus(id string, status shared.Status) shared.Task {
	e.t.Helper()
	var got shared.Task
	eventually(e.t, fmt.Sprintf("task %s to be %s", id, status), func() bool {
		var ok bool
		got, ok = e.rec.last(id)
		return ok && got.Status == status
	})
	return got
}

func (e *env) get(id string) shared.Task {
	e.t.Helper()
	task, err := e.h.Get(context.Background(), id)
	require.NoError(e.t, err)
	return task
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder is a state-change callback that keeps every call and checks
// that calls for one task never overlap.
type recorder struct {
	mu       sync.Mutex
	byTask   map[string][]shared.Task
	events   []shared.Task // every call, in order
	inFlight map[string]bool
	overlap  bool
	fail     func(shared.Task) error
}

func newRecorder() *recorder {
	return &recorder{byTask: map[string][]shared.Task{}, inFlight: map[string]bool{}}
}

func (r *recorder) callback(_ context.Context, t shared.Task) error {
	r.mu.Lock()
	if r.inFlight[t.ID] {
		r.overlap = true
	}
	r.inFlight[t.ID] = true
	fail := r.fail
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[t.ID] = false
		r.byTask[t.ID] = append(r.byTask[t.ID], t)
		r.events = append(r.events, t)
		r.mu.Unlock()
	}()
	if fail != nil {
		return fail(t)
	}
	return nil
}

func (r *recorder) statuses(id string) []shared.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shared.Status
	for _, t := range r.byTask[id] {
		out = append(out, t.Status)
	}
	return out
}

// order lists the tasks in the order they reached status.
func (r *recorder) order(status shared.Status) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.events {
		if t.Status == status {
			out = append(out, t.ID)
		}
	}
	return out
}

func (r *recorder) last(id string) (shared.Task, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := r.byTask[id]
	if len(ts) == 0 {
		return shared.Task{}, false
	}
	return ts[len(ts)-1], true
}

func (r *recorder) all(id string) []shared.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]shared.Task(nil), r.byTask[id]...)
}
