package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

// echoType is the task type the bench's echo handler serves.
const echoType = "bench-echo"

// hostConfig says how to set up a host under test.
type hostConfig struct {
	// Handler, when true, registers a handler of HandlerType (default
	// echoType): the testworker's echo method, 8 workers kept forever.
	Handler     bool
	HandlerType string
	// Method is the handler's method, "echo" when empty.
	Method string
	// Concurrency is the handler's tasks per worker (the testworker
	// declares as many); MinWorkers its warm workers.
	Concurrency int
	MinWorkers  int
	// TaskInterval is the host's safety-net poll; 0 means the backend's.
	TaskInterval time.Duration
	// Backend opens the host's fresh store, closed and discarded with the
	// host, and gives the host's options; nil means Badger in a fresh
	// directory.
	Backend *backend
	// Store, when set, is an open store to use (and leave open) instead
	// of one the backend opens.
	Store store.Store
	// NodeID names the host among others on the same store; "" means
	// the host's default (host name and pid: one per process).
	NodeID string
	// NoStart leaves the host not started.
	NoStart bool
	// NoAPI serves no HTTP API.
	NoAPI bool
}

// benchHost is a host under test: a fresh store (Badger unless the
// backend says otherwise), the engine with the echo handler, and its HTTP
// API on a loopback port with a client of it.
type benchHost struct {
	st store.Store
	// closeStore closes and discards a store the host opened; nil for a
	// store it was given.
	closeStore func()
	h          *host.Host
	srv        *api.Server
	hs         *http.Server
	client     *api.Client
	// transport is the client's, closed with the host.
	transport *http.Transport
	// cur receives the handler's state changes; swapped per phase.
	cur atomic.Pointer[tracker]
}

// workers is the handler's and the system's worker cap.
const workers = 8

// backend is a store the bulk, paced and create-call scenarios run their
// hosts on. Each scenario takes one, so that running it on another store
// (pgstore in a fresh schema) is a matter of passing another backend, and
// a spec in figureSpecs for each of its figures, keyed prefix + the
// Badger figure's key.
type backend struct {
	// name says which store, in errors and logs.
	name string
	// prefix goes before each figure key: "" for Badger.
	prefix string
	// open returns a fresh, empty store for one host under test, and the
	// function that closes and discards it.
	open func(ctx context.Context) (store.Store, func(), error)
	// hostOptions are what a host on this store is set up with, as
	// `taskhost serve` would set it up; the bench sets the worker cap.
	hostOptions host.Options
}

// repeat runs once n times on the backend, and says which run failed.
func repeat(ctx context.Context, n int, be *backend, once func(context.Context, *backend) error) error {
	for run := range n {
		if err := once(ctx, be); err != nil {
			return fmt.Errorf("run %d: %w", run+1, err)
		}
	}
	return nil
}

// key is the figure key k of this backend.
func (be *backend) key(k string) string { return be.prefix + k }

// badger is the default backend: Badger in a fresh directory under the
// bench's root, removed on close.
func (b *bench) badger() *backend {
	return &backend{name: "badger", open: func(context.Context) (store.Store, func(), error) {
		dir, err := b.tempDir("store-")
		if err != nil {
			return nil, nil, err
		}
		st, err := badgerstore.Open(dir, badgerstore.Options{})
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return st, func() {
			_ = st.Close()
			_ = os.RemoveAll(dir)
		}, nil
	}}
}

func (b *bench) newHost(ctx context.Context, hc hostConfig) (bh *benchHost, err error) {
	bh = &benchHost{}
	defer func() {
		if err != nil {
			bh.close()
		}
	}()
	be := hc.Backend
	if be == nil {
		be = b.badger()
	}
	if bh.st = hc.Store; bh.st == nil {
		if bh.st, bh.closeStore, err = be.open(ctx); err != nil {
			return nil, fmt.Errorf("open the %s store: %w", be.name, err)
		}
	}
	opts := be.hostOptions
	opts.SystemWorkerCount = workers
	opts.NodeID = hc.NodeID
	if hc.TaskInterval != 0 {
		opts.TaskInterval = hc.TaskInterval
	}
	bh.h, err = host.New(bh.st, opts)
	if err != nil {
		return nil, err
	}
	if hc.Handler {
		typ := hc.HandlerType
		if typ == "" {
			typ = echoType
		}
		opts := host.HandlerOptions{
			MaxWorkerCount: workers, IdleShutdownTimeout: host.KeepForever,
			Concurrency: hc.Concurrency, MinWorkers: hc.MinWorkers,
		}
		if hc.Concurrency > 1 {
			opts.Env = map[string]string{"TESTWORKER_CONCURRENCY": strconv.Itoa(hc.Concurrency)}
		}
		err = bh.h.RegisterHandler(ctx, typ, b.plugin, cmp.Or(hc.Method, "echo"), bh.onStateChange, opts)
		if err != nil {
			return nil, err
		}
	}
	if !hc.NoStart {
		if err := bh.h.Start(ctx); err != nil {
			return nil, err
		}
	}
	if !hc.NoAPI {
		if err := bh.serve(); err != nil {
			return nil, err
		}
	}
	return bh, nil
}

// serve starts the HTTP API on a loopback port and a client of it that
// keeps enough idle connections for every concurrent caller (the default
// transport keeps 2, and would reconnect for most requests).
func (bh *benchHost) serve() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bh.srv = api.NewServer(bh.h, api.ServerOptions{})
	bh.hs = &http.Server{Handler: bh.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	bh.hs.RegisterOnShutdown(bh.srv.Close)
	go func() { _ = bh.hs.Serve(ln) }()
	bh.transport = http.DefaultTransport.(*http.Transport).Clone()
	bh.transport.MaxIdleConns = 256
	bh.transport.MaxIdleConnsPerHost = 256
	bh.client, err = api.NewClient(ln.Addr().String(), api.WithHTTPClient(&http.Client{Transport: bh.transport}))
	return err
}

// close stops the host (its workers exit) and the API, and closes and
// discards the store it opened.
func (bh *benchHost) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if bh.h != nil {
		_ = bh.h.Stop(ctx)
	}
	if bh.hs != nil {
		_ = bh.hs.Shutdown(ctx)
	}
	if bh.transport != nil {
		bh.transport.CloseIdleConnections()
	}
	if bh.closeStore != nil {
		bh.closeStore()
	}
}

func (bh *benchHost) onStateChange(_ context.Context, t shared.Task) error {
	at := time.Now()
	if tr := bh.cur.Load(); tr != nil {
		tr.observe(t, at)
	}
	return nil
}

// track starts a phase: state changes go to a new tracker that is done
// after want terminal states. record keeps per-task times; onSuccess, if
// not nil, is called (on the callback goroutine: keep it short) for each
// success.
func (bh *benchHost) track(want int, record bool, onSuccess func(id string)) *tracker {
	tr := newTracker(want, record)
	tr.onSuccess = onSuccess
	bh.cur.Store(tr)
	return tr
}

// warm creates echo tasks until every one of the handler's workers is up.
func (bh *benchHost) warm(ctx context.Context) error {
	return warmNodes(ctx, []*benchHost{bh})
}

// warmNodes creates echo tasks on the first node until every node has
// all its workers up: on a shared store any node may run any of them, so
// they are counted across the nodes (one node: a host's warm).
func warmNodes(ctx context.Context, nodes []*benchHost) error {
	for range 20 {
		n := 4 * workers * len(nodes)
		tr := newTracker(n, false)
		for _, node := range nodes {
			node.cur.Store(tr)
		}
		if _, err := nodes[0].h.CreateMany(ctx, echoTasks(n)); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
		if err := tr.wait(ctx, 30*time.Second); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
		up := 0
		for _, node := range nodes {
			if hs := node.h.Handlers(); len(hs) > 0 && hs[0].Pool.Alive >= workers {
				up++
			}
		}
		if up == len(nodes) {
			for _, node := range nodes {
				node.cur.Store(nil)
			}
			return nil
		}
	}
	return errors.New("warm up: a handler never had all its workers up")
}

// tracker counts a phase's state changes, and keeps each task's
// processing and success times when asked to.
type tracker struct {
	want      int64
	record    bool
	started   atomic.Int64
	succeeded atomic.Int64
	failed    atomic.Int64
	first     atomic.Int64 // unix ns of the first processing
	firstOnce sync.Once
	firstCh   chan struct{} // closed at the first processing
	last      atomic.Int64  // unix ns of the latest terminal state
	doneOnce  sync.Once
	done      chan struct{}
	onSuccess func(id string)

	mu         sync.Mutex
	processing map[string]time.Time
	success    map[string]time.Time
}

func newTracker(want int, record bool) *tracker {
	tr := &tracker{want: int64(want), record: record, done: make(chan struct{}), firstCh: make(chan struct{})}
	if record {
		tr.processing = make(map[string]time.Time, want)
		tr.success = make(map[string]time.Time, want)
	}
	return tr
}

func (tr *tracker) observe(t shared.Task, at time.Time) {
	switch t.Status {
	case shared.StatusProcessing:
		tr.started.Add(1)
		if tr.first.CompareAndSwap(0, at.UnixNano()) {
			tr.firstOnce.Do(func() { close(tr.firstCh) })
		}
		if tr.record {
			tr.mu.Lock()
			tr.processing[t.ID] = at
			tr.mu.Unlock()
		}
		return
	case shared.StatusSuccess:
		tr.succeeded.Add(1)
		if tr.record {
			tr.mu.Lock()
			tr.success[t.ID] = at
			tr.mu.Unlock()
		}
		if tr.onSuccess != nil {
			tr.onSuccess(t.ID)
		}
	case shared.StatusFailed, shared.StatusCancelled:
		tr.failed.Add(1)
	default:
		return
	}
	tr.last.Store(at.UnixNano())
	if tr.want > 0 && tr.succeeded.Load()+tr.failed.Load() >= tr.want {
		tr.doneOnce.Do(func() { close(tr.done) })
	}
}

// wait waits until the phase's tasks are all terminal. A failed task is
// an error: every bench task is meant to succeed.
func (tr *tracker) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tr.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("timed out after %v: %d of %d tasks finished", timeout, tr.succeeded.Load()+tr.failed.Load(), tr.want)
	}
	if n := tr.failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d tasks failed", n, tr.want)
	}
	return nil
}

// firstStart is when the first task of the phase started processing.
func (tr *tracker) firstStart() time.Time { return time.Unix(0, tr.first.Load()) }

// lastDone is when the latest task of the phase ended.
func (tr *tracker) lastDone() time.Time { return time.Unix(0, tr.last.Load()) }
