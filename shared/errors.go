package shared

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the HTTP API maps them
// to status codes.
var (
	// ErrNotFound: no task, handler or schedule with that id.
	ErrNotFound = errors.New("not found")
	// ErrInvalidState: the operation does not apply to the task's status.
	ErrInvalidState = errors.New("invalid state")
	// ErrInvalidArgument: a caller passed something malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrWorkerExited: the plugin process is gone.
	ErrWorkerExited = errors.New("worker exited")
	// ErrClosed: the component has been closed or stopped.
	ErrClosed = errors.New("closed")
	// ErrPayloadTooLarge: a payload exceeds the configured limit.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrResultTooLarge: a plugin's answer exceeds the host's limit.
	ErrResultTooLarge = errors.New("result too large")
	// ErrNoHandler: a task of a type without a handler, on a host that
	// refuses those.
	ErrNoHandler = errors.New("no handler")
)

// Names of the errors the host itself gives a task. A plugin's own errors
// carry whatever name the plugin chose ("Error" by default).
const (
	ErrorNameWorkerCrashed    = "WorkerCrashed"
	ErrorNameExecutionTimeout = "ExecutionTimeout"
	ErrorNamePanic            = "Panic"
	ErrorNameCancelled        = "Cancelled"
	ErrorNameInitialise       = "InitialiseFailed"
	ErrorNameWorkerStart      = "WorkerStartFailed" // binary missing, refused or no handshake
	ErrorNameMethodNotFound   = "MethodNotFound"
	ErrorNameInvalidPayload   = "InvalidPayload"
	ErrorNameInvalidResult    = "InvalidResult"
	ErrorNameResultTooLarge   = "ResultTooLarge"
	ErrorNameMemoryLimit      = "MemoryLimitExceeded"
	ErrorNameDefault          = "Error"
)

// TaskError is why a task attempt failed, as stored on the task (twin's
// IError: name and message).
type TaskError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	// Permanent errors skip the task's remaining retries.
	Permanent bool `json:"permanent,omitempty"`
}

// Error formats the error as "Name: message".
func (e *TaskError) Error() string {
	return fmt.Sprintf("%s: %s", e.Name, e.Message)
}

// AsTaskError returns err as a *TaskError: itself if it is one (or wraps
// one), otherwise a TaskError named name with err's text.
func AsTaskError(err error, name string) *TaskError {
	if te, ok := errors.AsType[*TaskError](err); ok {
		return te
	}
	return &TaskError{Name: name, Message: err.Error()}
}
