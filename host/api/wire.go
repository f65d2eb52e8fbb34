package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// TaskRequest is one task to create: the body of POST /v1/tasks and an
// element of POST /v1/tasks/batch.
type TaskRequest struct {
	Type string `json:"type"`
	// Payload is any JSON value; absent or null means none.
	Payload json.RawMessage `json:"payload,omitempty"`
	// RetryCount is how many times a failed run is retried; 0 means none.
	RetryCount int `json:"retryCount,omitempty"`
	// RetryInterval is the wait before a retry in milliseconds; 0 means
	// the host's default.
	RetryInterval int64 `json:"retryInterval,omitempty"`
	// RetainFor is in milliseconds how long a finished task is kept: 0
	// removes it as soon as it is terminal, -1 keeps it forever.
	RetainFor  int64             `json:"retainFor,omitempty"`
	ContextIDs map[string]string `json:"contextIds,omitempty"`
}

// BatchRequest is the body of POST /v1/tasks/batch.
type BatchRequest struct {
	Tasks []TaskRequest `json:"tasks"`
}

// CreateResponse answers POST /v1/tasks.
type CreateResponse struct {
	ID string `json:"id"`
	// Warning says what may keep the task from running: no handler is
	// registered for its type. It is also sent as a Warning header.
	Warning string `json:"warning,omitempty"`
	// Task, with ?wait=DUR, is the task's last state within DUR: final
	// if it finished, even if retention has already removed it.
	Task *shared.Task `json:"task,omitempty"`
}

// BatchResponse answers POST /v1/tasks/batch; IDs are in request order.
type BatchResponse struct {
	IDs []string `json:"ids"`
	// Warning is as in CreateResponse, for all the batch's types.
	Warning string `json:"warning,omitempty"`
}

// ListResponse answers GET /v1/tasks. Cursor is absent on the last page.
type ListResponse struct {
	Entities []shared.Task `json:"entities"`
	Cursor   string        `json:"cursor,omitempty"`
}

// HandlersResponse answers GET /v1/handlers.
type HandlersResponse struct {
	Handlers []host.HandlerInfo `json:"handlers"`
}

// SchedulesResponse answers GET /v1/schedules: the trigger rules of each
// scheduled task, by id, with their next trigger and last run.
type SchedulesResponse = shared.ScheduledTasksInfo

// NodesResponse answers GET /v1/nodes: the nodes sharing the store, by
// id (on Badger, the one host).
type NodesResponse struct {
	Nodes []host.Node `json:"nodes"`
}

// CountsResponse answers GET /v1/counts: the stored tasks by type and
// status, as counted at AsOf (a snapshot at most a few seconds old; the
// count took TookMS).
type CountsResponse struct {
	Counts map[string]map[shared.Status]int `json:"counts"`
	AsOf   time.Time                        `json:"asOf"`
	TookMS int64                            `json:"tookMs"`
}

// HealthResponse answers GET /healthz.
type HealthResponse struct {
	Status string `json:"status"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error *Error `json:"error"`
}

// maxMillis is the largest millisecond count a time.Duration holds.
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// NewTaskRequest turns the engine's arguments into the wire shape. A
// positive duration that is not a whole number of milliseconds is rounded
// up, so that it never becomes 0 (which means something else).
func NewTaskRequest(typ string, payload json.RawMessage, opts host.CreateOptions) TaskRequest {
	return TaskRequest{
		Type:          typ,
		Payload:       payload,
		RetryCount:    opts.RetryCount,
		RetryInterval: millis(opts.RetryInterval),
		RetainFor:     millis(opts.RetainFor),
		ContextIDs:    opts.ContextIDs,
	}
}

func millis(d time.Duration) int64 {
	switch {
	case d == host.RetainForever:
		return -1
	case d <= 0:
		return d.Milliseconds()
	default:
		return int64((d + time.Millisecond - 1) / time.Millisecond)
	}
}

// newTask checks the request and turns it into the engine's arguments.
// Errors name the offending field, prefixed by path, and wrap
// shared.ErrInvalidArgument or shared.ErrPayloadTooLarge (when the
// payload exceeds maxPayload bytes).
func (r TaskRequest) newTask(maxPayload int, path string) (host.NewTask, error) {
	invalid := func(format string, args ...any) (host.NewTask, error) {
		return host.NewTask{}, fmt.Errorf("%w: "+format, append([]any{shared.ErrInvalidArgument}, args...)...)
	}
	if r.Type == "" {
		return invalid("field %stype is required: want the task type's name", path)
	}
	if r.RetryCount < 0 {
		return invalid("field %sretryCount is %d: want 0 or more", path, r.RetryCount)
	}
	if r.RetryInterval < 0 || r.RetryInterval > maxMillis {
		return invalid("field %sretryInterval is %d: want milliseconds from 0 (host default) to %d", path, r.RetryInterval, maxMillis)
	}
	if r.RetainFor < -1 || r.RetainFor > maxMillis {
		return invalid("field %sretainFor is %d: want -1 (forever), 0 (remove when finished) or milliseconds up to %d", path, r.RetainFor, maxMillis)
	}
	payload := r.Payload
	if bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
		payload = nil
	}
	if maxPayload > 0 && len(payload) > maxPayload {
		return host.NewTask{}, fmt.Errorf("%w: field %spayload is %d bytes: want at most %d", shared.ErrPayloadTooLarge, path, len(payload), maxPayload)
	}
	retainFor := time.Duration(r.RetainFor) * time.Millisecond
	if r.RetainFor == -1 {
		retainFor = host.RetainForever
	}
	return host.NewTask{
		Type:    r.Type,
		Payload: payload,
		Options: host.CreateOptions{
			RetryCount:    r.RetryCount,
			RetryInterval: time.Duration(r.RetryInterval) * time.Millisecond,
			RetainFor:     retainFor,
			ContextIDs:    r.ContextIDs,
		},
	}, nil
}
