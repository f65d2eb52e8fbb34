package shared

import (
	"context"
	"encoding/json"
	"time"
)

// Worker is what a plugin process offers the host: the Go face of the
// gRPC Worker service. The SDK implements it inside the plugin; the host
// gets it from go-plugin's Dispense.
type Worker interface {
	// Describe says what the plugin exports and declares about itself.
	Describe(ctx context.Context) (PluginInfo, error)
	// Invoke runs one method. A method's own failure is in Outcome.Error;
	// the error return is for transport failures (ErrWorkerExited when the
	// process died).
	Invoke(ctx context.Context, call Call) (Outcome, error)
	// Cancel cancels the context of the running call with that id and
	// reports whether such a call was running.
	Cancel(ctx context.Context, callID uint64) (bool, error)
	// WatchProgress calls fn for every progress report of every call until
	// ctx is done or the worker goes away.
	WatchProgress(ctx context.Context, fn func(ProgressEvent)) error
}

// PluginInfo is what a plugin says about itself when asked.
type PluginInfo struct {
	// Methods lists the names the plugin exports.
	Methods []string
	// MaxConcurrency is how many calls one process of the plugin runs at
	// once; 0 and 1 both mean one at a time.
	MaxConcurrency int
}

// Call is one method invocation.
type Call struct {
	// ID identifies the call to Cancel and in progress events; the host
	// numbers the calls on each worker 1, 2, 3… with none skipped.
	ID      uint64
	Method  string
	Payload json.RawMessage
	Task    CallTask
	// Timeout is the method's context deadline from the start of the call;
	// zero means none.
	Timeout time.Duration
}

// CallTask is the task metadata a method sees (sdk.Task has the same
// fields). For initialise and shutdown calls only Type is set.
type CallTask struct {
	ID       string
	Type     string
	ThreadID string
	// Attempt counts from 1.
	Attempt          int
	RetriesRemaining *int
	ContextIDs       map[string]string
}

// Outcome is how a method call ended: a JSON result, or an error.
type Outcome struct {
	Result json.RawMessage
	Error  *TaskError
	// ProgressEvents is how many progress events the call sent; see
	// [ProgressRouter.End].
	ProgressEvents uint64
}

// ProgressEvent is a progress report from a running call.
type ProgressEvent struct {
	CallID  uint64
	Percent float64
	Message string
}
