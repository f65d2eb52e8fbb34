package host

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/internal/pool"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Defaults of [Options].
const (
	DefaultNodeID          = "main"
	DefaultRetryInterval   = 5 * time.Second
	DefaultCleanupInterval = 2 * time.Minute
	DefaultTaskInterval    = 30 * time.Second
	DefaultMaxPayloadSize  = 1 << 20
	MinCleanupInterval     = time.Second
	DefaultLease           = 30 * time.Second
	MinLease               = 300 * time.Millisecond
)

// KeepForever as HandlerOptions.IdleShutdownTimeout keeps idle workers.
const KeepForever = pool.KeepForever

// RetainForever as CreateOptions.RetainFor keeps a finished task forever.
const RetainForever time.Duration = -1

// Options configure a [Host]. Zero values take the defaults above.
type Options struct {
	// NodeID names this host; tasks it creates carry it as threadId and
	// its claims carry it as lease owner. Default "main".
	NodeID string
	// SystemWorkerCount caps worker processes across all handlers;
	// 0 means the number of CPUs.
	SystemWorkerCount int
	// RetryInterval is the retry interval of tasks created without one.
	RetryInterval time.Duration
	// CleanupInterval is how often expired retained tasks are swept; at
	// least MinCleanupInterval.
	CleanupInterval time.Duration
	// TaskInterval is how often each dispatcher looks at the store even
	// when nothing woke it (dispatch is event-driven; this is a safety
	// net for tasks written by someone else).
	TaskInterval time.Duration
	// MaxPayloadSize bounds a task's payload in bytes; 0 means 1 MiB.
	MaxPayloadSize int
	// Logger receives the host's logs; nil discards.
	Logger hclog.Logger
	// Observer, if set, is told what the engine does (for metrics).
	Observer Observer
	// MaxResultSize bounds a task's result in bytes; a bigger one fails
	// the attempt with ResultTooLarge. 0 means 16 MiB.
	MaxResultSize int
	// StrictTypes refuses to create a task of a type that has no
	// registered handler (shared.ErrNoHandler). By default such a task is
	// stored and waits until a handler for its type registers.
	StrictTypes bool
	// Lease is how long a claim of a task holds without renewal: the host
	// renews the leases of the tasks it runs every third of it. A task
	// whose lease this host lost (reclaimed by another node once it
	// lapsed, cancelled or removed through another node) has its method
	// cancelled and its outcome dropped. 0 means DefaultLease; at least
	// MinLease.
	Lease time.Duration
	// Address is where this host's API listens, shown to other nodes by
	// [Host.Nodes]; empty when it has none.
	Address string
}

// Observer receives what the engine does, for metrics. Its methods are
// called on the engine's hot path: they must be quick and never block.
type Observer interface {
	// TasksCreated: n tasks of type typ were stored.
	TasksCreated(typ string, n int)
	// TaskStarted: a task of typ began an attempt (its call has a
	// worker), wait after it was due. An attempt that never got a worker
	// is reported to TaskFinished only, having run for 0.
	TaskStarted(typ string, wait time.Duration)
	// TaskFinished: an attempt of a task of typ ended after running for d,
	// with outcome one of the Outcome constants.
	TaskFinished(typ string, outcome Outcome, d time.Duration)
}

// Outcome is how an attempt ended.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeSuccess   Outcome = "success"
	OutcomeRetry     Outcome = "retry"     // failed, will run again
	OutcomeFailed    Outcome = "failed"    // failed for good
	OutcomeCancelled Outcome = "cancelled" // cancelled or removed while running
	OutcomeRequeued  Outcome = "requeued"  // interrupted by a stop; runs again
	OutcomeLost      Outcome = "lost"      // the lease was lost: the outcome is dropped
)

// nopObserver is the Observer of a host without one.
type nopObserver struct{}

func (nopObserver) TasksCreated(string, int)                    {}
func (nopObserver) TaskStarted(string, time.Duration)           {}
func (nopObserver) TaskFinished(string, Outcome, time.Duration) {}

func (o Options) validate() (Options, error) {
	if o.NodeID == "" {
		o.NodeID = DefaultNodeID
	}
	if err := validateName("node id", o.NodeID); err != nil {
		return o, err
	}
	if o.SystemWorkerCount < 0 {
		return o, fmt.Errorf("%w: system worker count %d: want 0 (number of CPUs) or more", shared.ErrInvalidArgument, o.SystemWorkerCount)
	}
	if o.SystemWorkerCount == 0 {
		o.SystemWorkerCount = runtime.NumCPU()
	}
	switch {
	case o.RetryInterval < 0:
		return o, fmt.Errorf("%w: retry interval %v must not be negative", shared.ErrInvalidArgument, o.RetryInterval)
	case o.RetryInterval == 0:
		o.RetryInterval = DefaultRetryInterval
	}
	switch {
	case o.CleanupInterval == 0:
		o.CleanupInterval = DefaultCleanupInterval
	case o.CleanupInterval < MinCleanupInterval:
		return o, fmt.Errorf("%w: cleanup interval %v: want at least %v", shared.ErrInvalidArgument, o.CleanupInterval, MinCleanupInterval)
	}
	switch {
	case o.TaskInterval < 0:
		return o, fmt.Errorf("%w: task interval %v must not be negative", shared.ErrInvalidArgument, o.TaskInterval)
	case o.TaskInterval == 0:
		o.TaskInterval = DefaultTaskInterval
	}
	switch {
	case o.MaxPayloadSize < 0:
		return o, fmt.Errorf("%w: max payload size %d must not be negative", shared.ErrInvalidArgument, o.MaxPayloadSize)
	case o.MaxPayloadSize == 0:
		o.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	switch {
	case o.MaxResultSize < 0:
		return o, fmt.Errorf("%w: max result size %d must not be negative", shared.ErrInvalidArgument, o.MaxResultSize)
	case o.MaxResultSize == 0:
		o.MaxResultSize = pool.DefaultMaxResultSize
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	switch {
	case o.Lease == 0:
		o.Lease = DefaultLease
	case o.Lease < MinLease:
		return o, fmt.Errorf("%w: lease %v: want at least %v", shared.ErrInvalidArgument, o.Lease, MinLease)
	}
	return o, nil
}

// HandlerOptions configure a handler (twin's registerHandler options).
type HandlerOptions struct {
	// MaxWorkerCount caps the handler's workers: 0 means 1, -1 the system
	// cap.
	MaxWorkerCount int
	// Concurrency is how many tasks one worker process runs at once: 0
	// and 1 mean one (twin's model). Above 1 the plugin must declare that
	// it runs that many calls at once (sdk.Concurrency in a Go plugin),
	// else RegisterHandler refuses the handler. MaxWorkerCount and
	// MinWorkers count processes, so the handler runs up to
	// MaxWorkerCount × Concurrency tasks; the system cap counts processes
	// too (the README's Configuration says why).
	Concurrency int
	// MinWorkers keeps that many workers started (a warm pool): from
	// registration on, and again after a worker crashes, is recycled,
	// killed over its memory limit or reaped, so that a task after a
	// quiet period does not wait for a cold start. Idle reaping never goes
	// below it. 0 (the default) starts workers for tasks only. It may not
	// exceed MaxWorkerCount (nor the system cap).
	MinWorkers int
	// IdleShutdownTimeout: 0 stops a worker as soon as it is idle,
	// KeepForever keeps it, N stops it after N idle.
	IdleShutdownTimeout time.Duration
	// InitialiseMethod runs once on each new worker, ShutdownMethod before
	// it stops; both get Config as payload. Empty means none.
	InitialiseMethod string
	ShutdownMethod   string
	// ExecutionTimeout bounds each run; 0 means none.
	ExecutionTimeout time.Duration
	// SHA256 pins the checksum (hex) of the plugin binary, or of Script
	// when the plugin is a command with a script; empty means no pin.
	SHA256 string
	// Args make the plugin a command: the plugin path is an interpreter
	// (node) and Args its options and script, e.g. ["handlers/resize.mjs"];
	// relative paths in them are relative to WorkDir. None for a binary.
	Args []string
	// Script is the file the command runs, which SHA256 pins and which,
	// like a binary, must be a regular file nobody but its owner may
	// write (checked at registration and every worker start). Empty means
	// the first of Args that does not start with "-".
	Script string
	// Config is the JSON object given to the initialise and shutdown
	// methods; empty means {}.
	Config json.RawMessage
	// WorkDir is the workers' working directory, against which the plugin
	// resolves relative paths in Config; empty means the host's.
	WorkDir string
	// MaxTasksPerWorker replaces a worker after that many tasks: it
	// takes no more and stops once those have finished. 0 means never.
	MaxTasksPerWorker int
	// MemoryLimit, in bytes, kills a worker whose resident memory passes
	// it while it runs a task (the attempt fails MemoryLimitExceeded); Go
	// plugins also get GOMEMLIMIT a little below it. 0 means none.
	MemoryLimit int64
	// Env is the plugin's whole environment: the host's own variables
	// (its secrets above all) never reach a plugin. Unless Env sets them,
	// a plugin gets GOMAXPROCS=1 (a worker runs one task at a time, or
	// waits on I/O for several with Concurrency; set it for a handler that
	// parallelises within a task, or runs CPU-bound tasks concurrently) and
	// GOMEMLIMIT (see MemoryLimit).
	Env map[string]string
	// DisableMTLS turns off the mutual TLS between the host and the
	// handler's plugin processes (on by default; the README's Transport
	// security says what it guarantees): the plugin then gets no
	// certificate and serves plain gRPC.
	DisableMTLS bool
}

// StateChangeFunc is called after every transition of a task of the
// handler's type: processing, success, pending again for a retry, failed,
// cancelled. For one task the calls come one at a time, in order. An
// error or panic is logged and changes nothing.
type StateChangeFunc func(ctx context.Context, task shared.Task) error

// CreateOptions are a task's options (twin's create options).
type CreateOptions struct {
	// RetryCount is how many times a failed run is retried; 0 means none.
	RetryCount int
	// RetryInterval is the wait before a retry; 0 means the host's default.
	RetryInterval time.Duration
	// RetainFor is how long a finished task is kept: 0 removes it at once,
	// RetainForever keeps it, N keeps it until DateModified + N.
	RetainFor time.Duration
	// ContextIDs are free-form ids carried with the task.
	ContextIDs map[string]string
}

// NewTask is one task of a batch for [Host.CreateMany].
type NewTask struct {
	Type    string
	Payload json.RawMessage
	Options CreateOptions
	// ID, if set, is the task's id (32 lower-case hex digits) instead of a
	// new one: a create made twice under one id fails the second time
	// with store.ErrExists, which makes a create idempotent.
	ID string
}

// Query selects a page of tasks; see [store.Query].
type Query = store.Query

// Page is one page of tasks; Cursor is empty on the last page.
type Page struct {
	Tasks  []shared.Task
	Cursor string
}

// Node is a host sharing the store; see [Host.Nodes].
type Node = store.Node

// PoolStats is a snapshot of a handler's workers.
type PoolStats = pool.Stats

// HandlerInfo describes a registered handler and its live workers.
type HandlerInfo struct {
	Type                string   `json:"type"`
	Plugin              string   `json:"plugin"`
	Args                []string `json:"args,omitempty"`
	Script              string   `json:"script,omitempty"`
	Method              string   `json:"method"`
	MaxWorkerCount      int      `json:"maxWorkerCount"`
	MinWorkers          int      `json:"minWorkers"`
	Concurrency         int      `json:"concurrency"`
	IdleShutdownTimeout int64    `json:"idleShutdownTimeout"` // ms, -1 forever
	ExecutionTimeout    int64    `json:"executionTimeout,omitempty"`
	InitialiseMethod    string   `json:"initialiseMethod,omitempty"`
	ShutdownMethod      string   `json:"shutdownMethod,omitempty"`
	// Running counts the tasks claimed and not finished: running, or
	// about to (a worker starting, or claimed ahead of a free slot: see
	// claimAheadWindow).
	Running int       `json:"running"`
	Pool    PoolStats `json:"pool"`
}
