package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

const taskID = "0190f0a8c2b47c4e9a3b5d6e7f809a1b"

func TestCreate(t *testing.T) {
	t.Parallel()
	var got host.NewTask
	f := setup(t, &fakeEngine{
		create: func(_ context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error) {
			got = host.NewTask{Type: typ, Payload: payload, Options: opts}
			return taskID, nil
		},
	}, api.ServerOptions{})

	r := f.do(t, http.MethodPost, "/v1/tasks", `{"type":"image-resize","payload":{"w":10},"retryCount":3,
		"retryInterval":1500,"retainFor":-1,"contextIds":{"tenant":"a"}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.JSONEq(t, `{"id":"`+taskID+`"}`, r.body)
	require.Equal(t, "/v1/tasks/"+taskID, r.header.Get("Location"))
	require.Equal(t, host.NewTask{
		Type:    "image-resize",
		Payload: json.RawMessage(`{"w":10}`),
		Options: host.CreateOptions{
			RetryCount:    3,
			RetryInterval: 1500 * time.Millisecond,
			RetainFor:     host.RetainForever,
			ContextIDs:    map[string]string{"tenant": "a"},
		},
	}, got)

	// Absent and null mean none; zero means the defaults.
	r = f.do(t, http.MethodPost, "/v1/tasks", `{"type":"t","payload":null}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Equal(t, host.NewTask{Type: "t"}, got)

	r = f.do(t, http.MethodPost, "/v1/tasks", `{"type":"t","retainFor":60000}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Equal(t, time.Minute, got.Options.RetainFor)
}

func TestClientCreate(t *testing.T) {
	t.Parallel()
	var got host.NewTask
	f := setup(t, &fakeEngine{
		create: func(_ context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error) {
			got = host.NewTask{Type: typ, Payload: payload, Options: opts}
			return taskID, nil
		},
	}, api.ServerOptions{})

	want := host.NewTask{
		Type:    "t",
		Payload: json.RawMessage(`[1,2]`),
		Options: host.CreateOptions{RetryCount: 2, RetryInterval: 2 * time.Second, RetainFor: host.RetainForever},
	}
	id, err := f.client.Create(t.Context(), want.Type, want.Payload, want.Options)
	require.NoError(t, err)
	require.Equal(t, taskID, id)
	require.Equal(t, want, got)

	// Less than a millisecond must not turn into 0, which means "default".
	_, err = f.client.Create(t.Context(), "t", nil, host.CreateOptions{RetryInterval: time.Microsecond})
	require.NoError(t, err)
	require.Equal(t, time.Millisecond, got.Options.RetryInterval)
}

func TestCreateMany(t *testing.T) {
	t.Parallel()
	var got []host.NewTask
	f := setup(t, &fakeEngine{
		createMany: func(_ context.Context, tasks []host.NewTask) ([]string, error) {
			got = tasks
			ids := make([]string, len(tasks))
			for i := range tasks {
				ids[i] = fmt.Sprintf("id%d", i)
			}
			return ids, nil
		},
	}, api.ServerOptions{})

	r := f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[{"type":"a","retryCount":1},{"type":"b","payload":"x"}]}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.JSONEq(t, `{"ids":["id0","id1"]}`, r.body)
	require.Equal(t, []host.NewTask{
		{Type: "a", Options: host.CreateOptions{RetryCount: 1}},
		{Type: "b", Payload: json.RawMessage(`"x"`)},
	}, got)

	ids, err := f.client.CreateMany(t.Context(), []host.NewTask{{Type: "c", Options: host.CreateOptions{RetainFor: time.Second}}})
	require.NoError(t, err)
	require.Equal(t, []string{"id0"}, ids)
	require.Equal(t, []host.NewTask{{Type: "c", Options: host.CreateOptions{RetainFor: time.Second}}}, got)

	// An empty batch creates nothing, without asking the engine.
	got = nil
	r = f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[]}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.JSONEq(t, `{"ids":[]}`, r.body)
	require.Nil(t, got)
}

func TestCreateManyRejectsBadTask(t *testing.T) {
	t.Parallel()
	// createMany is unset: the engine must not be asked.
	f := setup(t, &fakeEngine{}, api.ServerOptions{MaxPayloadSize: 10})
	for _, tc := range []struct {
		name, body string
		status     int
		errName    string
		parts      []string
	}{
		{"missing tasks", `{}`, 400, "InvalidArgument", []string{"field tasks is required"}},
		{"tasks not an array", `{"tasks":{}}`, 400, "InvalidArgument", []string{"field tasks", "want array"}},
		{"unknown top-level field", `{"tasks":[],"type":"a"}`, 400, "InvalidArgument", []string{`unknown field type`, "want one of tasks"}},
		{"negative retry count", `{"tasks":[{"type":"a"},{"type":"b","retryCount":-1}]}`, 400, "InvalidArgument", []string{"tasks[1].retryCount is -1"}},
		{"wrong type", `{"tasks":[{"type":"a"},{"type":"b","retainFor":"1s"}]}`, 400, "InvalidArgument", []string{"field tasks[1].retainFor is a JSON string", "want integer"}},
		{"unknown field", `{"tasks":[{"type":"a","colour":1}]}`, 400, "InvalidArgument", []string{"unknown field tasks[0].colour", "want one of type, payload, retryCount, retryInterval, retainFor, contextIds"}},
		{"missing type", `{"tasks":[{"type":"a"},null]}`, 400, "InvalidArgument", []string{"field tasks[1].type is required"}},
		{"element not an object", `{"tasks":[{"type":"a"},7]}`, 400, "InvalidArgument", []string{"tasks[1] is a JSON number", "want object"}},
		{"payload too large", `{"tasks":[{"type":"a","payload":"0123456789abcdef"}]}`, 413, "PayloadTooLarge", []string{"field tasks[0].payload is 18 bytes: want at most 10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireError(t, f.do(t, http.MethodPost, "/v1/tasks/batch", tc.body), tc.status, tc.errName, tc.parts...)
		})
	}
}

func TestCreateRejectsBadJSON(t *testing.T) {
	t.Parallel()
	// create is unset: the engine must not be asked.
	f := setup(t, &fakeEngine{}, api.ServerOptions{})
	for _, tc := range []struct {
		name, body string
		parts      []string
	}{
		{"empty body", ``, []string{"request body is empty", "want a JSON object"}},
		{"malformed", `{"type":"a",}`, []string{"malformed JSON at byte 13", "invalid character"}},
		{"truncated", `{"type":"a"`, []string{"malformed JSON", "ends early at byte 11"}},
		{"not an object", `["a"]`, []string{"request body is a JSON array", "want object"}},
		{"unknown field", `{"type":"a","retries":3}`, []string{"unknown field retries", "want one of type, payload, retryCount"}},
		{"wrong type", `{"type":"a","retryCount":"3"}`, []string{"field retryCount is a JSON string at byte", "want integer"}},
		{"fraction", `{"type":"a","retryInterval":1.5}`, []string{"field retryInterval is a JSON number 1.5", "want integer"}},
		{"context id not a string", `{"type":"a","contextIds":{"k":1}}`, []string{"field contextIds is a JSON number", "want string"}},
		{"trailing data", `{"type":"a"} {"type":"b"}`, []string{"unexpected data after the JSON object at byte 13"}},
		{"missing type", `{"payload":1}`, []string{"field type is required"}},
		{"negative retry count", `{"type":"a","retryCount":-2}`, []string{"field retryCount is -2: want 0 or more"}},
		{"negative retry interval", `{"type":"a","retryInterval":-1}`, []string{"field retryInterval is -1"}},
		{"retain for below -1", `{"type":"a","retainFor":-2}`, []string{"field retainFor is -2", "want -1 (forever)"}},
		{"retain for overflow", `{"type":"a","retainFor":9223372036854775807}`, []string{"field retainFor is 9223372036854775807"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireError(t, f.do(t, http.MethodPost, "/v1/tasks", tc.body), http.StatusBadRequest, "InvalidArgument", tc.parts...)
		})
	}
}

func TestPayloadTooLarge(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{
		create: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) {
			return "", fmt.Errorf("%w: payload is big", shared.ErrPayloadTooLarge)
		},
	}, api.ServerOptions{MaxPayloadSize: 100})

	t.Run("body", func(t *testing.T) {
		t.Parallel()
		body := `{"type":"a","payload":"` + strings.Repeat("x", 100+64<<10) + `"}`
		requireError(t, f.do(t, http.MethodPost, "/v1/tasks", body), http.StatusRequestEntityTooLarge, "PayloadTooLarge",
			"request body is larger than 65636 bytes")
		requireError(t, f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[`+body+`]}`), http.StatusRequestEntityTooLarge, "PayloadTooLarge",
			"request body is larger than")
	})
	t.Run("payload", func(t *testing.T) {
		t.Parallel()
		body := `{"type":"a","payload":"` + strings.Repeat("x", 100) + `"}`
		requireError(t, f.do(t, http.MethodPost, "/v1/tasks", body), http.StatusRequestEntityTooLarge, "PayloadTooLarge",
			"field payload is 102 bytes: want at most 100")
	})
	t.Run("engine", func(t *testing.T) {
		t.Parallel()
		requireError(t, f.do(t, http.MethodPost, "/v1/tasks", `{"type":"a"}`), http.StatusRequestEntityTooLarge, "PayloadTooLarge",
			"payload is big")
	})
}

// TestEngineErrors checks that each sentinel maps to its status and name,
// and that the client turns the answer back into an error that keeps the
// name and message and wraps the same sentinel.
func TestEngineErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
		name   string
	}{
		{shared.ErrInvalidArgument, http.StatusBadRequest, "InvalidArgument"},
		{shared.ErrNotFound, http.StatusNotFound, "NotFound"},
		{shared.ErrInvalidState, http.StatusConflict, "InvalidState"},
		{shared.ErrPayloadTooLarge, http.StatusRequestEntityTooLarge, "PayloadTooLarge"},
		{shared.ErrClosed, http.StatusServiceUnavailable, "Unavailable"},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError, "Internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			engineErr := fmt.Errorf("task %s: %w", taskID, tc.err)
			f := setup(t, &fakeEngine{
				get:    func(context.Context, string) (shared.Task, error) { return shared.Task{}, engineErr },
				retry:  func(context.Context, string) error { return engineErr },
				cancel: func(context.Context, string) error { return engineErr },
				remove: func(context.Context, string) error { return engineErr },
			}, api.ServerOptions{})

			requireError(t, f.do(t, http.MethodGet, "/v1/tasks/"+taskID, ""), tc.status, tc.name, engineErr.Error())
			requireError(t, f.do(t, http.MethodPost, "/v1/tasks/"+taskID+"/retry", ""), tc.status, tc.name)
			requireError(t, f.do(t, http.MethodPost, "/v1/tasks/"+taskID+"/cancel", ""), tc.status, tc.name)
			requireError(t, f.do(t, http.MethodDelete, "/v1/tasks/"+taskID, ""), tc.status, tc.name)

			_, err := f.client.Get(t.Context(), taskID)
			apiErr, ok := err.(*api.Error)
			require.True(t, ok, "%T %v", err, err)
			require.Equal(t, &api.Error{Status: tc.status, Name: tc.name, Message: engineErr.Error()}, apiErr)
			require.Equal(t, fmt.Sprintf("%s (%d %s)", engineErr, tc.status, tc.name), err.Error())
			if tc.status != http.StatusInternalServerError {
				require.ErrorIs(t, err, tc.err)
			}
			for _, call := range []func() error{
				func() error { return f.client.Retry(t.Context(), taskID) },
				func() error { return f.client.Cancel(t.Context(), taskID) },
				func() error { return f.client.Remove(t.Context(), taskID) },
			} {
				err := call()
				require.Error(t, err)
				require.Equal(t, apiErr, err)
			}
		})
	}
}

func TestPanicIsInternal(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{
		get: func(context.Context, string) (shared.Task, error) { panic("boom") },
	}, api.ServerOptions{})
	requireError(t, f.do(t, http.MethodGet, "/v1/tasks/x", ""), http.StatusInternalServerError, "Internal", "panic: boom")
}

func TestGet(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	f := setup(t, &fakeEngine{
		get: func(_ context.Context, id string) (shared.Task, error) {
			return shared.Task{ID: id, Type: "t", ThreadID: "main", Status: shared.StatusPending, DateCreated: created, DateModified: created}, nil
		},
	}, api.ServerOptions{})

	// The twin URN form goes to the engine as it is.
	urn := "background-task:local:" + taskID
	r := f.do(t, http.MethodGet, "/v1/tasks/"+urn, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.JSONEq(t, `{"id":"`+urn+`","type":"t","threadId":"main","status":"pending",
		"dateCreated":"2025-03-04T05:06:07.890Z","dateModified":"2025-03-04T05:06:07.890Z"}`, r.body)

	task, err := f.client.Get(t.Context(), urn)
	require.NoError(t, err)
	require.Equal(t, urn, task.ID)
	require.Equal(t, created, task.DateCreated)
}

func TestRetryCancelRemove(t *testing.T) {
	t.Parallel()
	calls := make(chan string, 6)
	f := setup(t, &fakeEngine{
		retry:  func(_ context.Context, id string) error { calls <- "retry " + id; return nil },
		cancel: func(_ context.Context, id string) error { calls <- "cancel " + id; return nil },
		remove: func(_ context.Context, id string) error { calls <- "remove " + id; return nil },
	}, api.ServerOptions{})

	for _, tc := range []struct{ method, path, call string }{
		{http.MethodPost, "/v1/tasks/a/retry", "retry a"},
		{http.MethodPost, "/v1/tasks/b/cancel", "cancel b"},
		{http.MethodDelete, "/v1/tasks/c", "remove c"},
	} {
		r := f.do(t, tc.method, tc.path, "")
		require.Equal(t, http.StatusNoContent, r.status, r.body)
		require.Empty(t, r.body)
		require.Equal(t, tc.call, <-calls)
	}
	require.NoError(t, f.client.Retry(t.Context(), "d"))
	require.Equal(t, "retry d", <-calls)
	require.NoError(t, f.client.Cancel(t.Context(), "e"))
	require.Equal(t, "cancel e", <-calls)
	require.NoError(t, f.client.Remove(t.Context(), "f"))
	require.Equal(t, "remove f", <-calls)
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{}, api.ServerOptions{})

	requireError(t, f.do(t, http.MethodGet, "/v2/tasks", ""), http.StatusNotFound, "NotFound", "no route for GET /v2/tasks")
	requireError(t, f.do(t, http.MethodGet, "/v1/tasks/a/b", ""), http.StatusNotFound, "NotFound")

	r := f.do(t, http.MethodPut, "/v1/tasks/a", "{}")
	requireError(t, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "method PUT is not allowed on /v1/tasks/a")
	require.Contains(t, r.header.Get("Allow"), "DELETE")
	require.Contains(t, r.header.Get("Allow"), "GET")

	r = f.do(t, http.MethodGet, "/v1/tasks/a/retry", "")
	requireError(t, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "want POST")
	require.Equal(t, "POST", r.header.Get("Allow"))

	r = f.do(t, http.MethodGet, "/healthz", "")
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"status":"ok"}`, r.body)
	require.NoError(t, f.client.Health(t.Context()))
}

func TestList(t *testing.T) {
	t.Parallel()
	queries := make(chan host.Query, 4)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f := setup(t, &fakeEngine{
		query: func(_ context.Context, q host.Query) (host.Page, error) {
			queries <- q
			if q.Cursor == "" {
				return host.Page{
					Tasks:  []shared.Task{{ID: "a", Type: "t", ThreadID: "main", Status: shared.StatusFailed, DateCreated: created, DateModified: created}},
					Cursor: "next",
				}, nil
			}
			return host.Page{}, nil
		},
	}, api.ServerOptions{})

	r := f.do(t, http.MethodGet, "/v1/tasks?type=t&status=failed&sortBy=dateModified&order=desc&limit=7", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.JSONEq(t, `{"entities":[{"id":"a","type":"t","threadId":"main","status":"failed",
		"dateCreated":"2025-01-02T03:04:05.000Z","dateModified":"2025-01-02T03:04:05.000Z"}],"cursor":"next"}`, r.body)
	require.Equal(t, host.Query{Type: "t", Status: shared.StatusFailed, SortBy: "dateModified", Desc: true, Limit: 7}, <-queries)

	// The last page has no cursor, and an empty page an empty array.
	r = f.do(t, http.MethodGet, "/v1/tasks?cursor=next&order=asc", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.JSONEq(t, `{"entities":[]}`, r.body)
	require.Equal(t, host.Query{Cursor: "next"}, <-queries)

	page, err := f.client.List(t.Context(), host.Query{Type: "t", Status: shared.StatusPending, SortBy: "status", Desc: true, Limit: 3})
	require.NoError(t, err)
	require.Equal(t, "next", page.Cursor)
	require.Len(t, page.Tasks, 1)
	require.Equal(t, host.Query{Type: "t", Status: shared.StatusPending, SortBy: "status", Desc: true, Limit: 3}, <-queries)

	page, err = f.client.List(t.Context(), host.Query{Cursor: page.Cursor})
	require.NoError(t, err)
	require.Equal(t, host.Page{Tasks: []shared.Task{}}, page)
	require.Equal(t, host.Query{Cursor: "next"}, <-queries)
}

func TestListRejectsBadQuery(t *testing.T) {
	t.Parallel()
	// query is unset: the engine must not be asked.
	f := setup(t, &fakeEngine{}, api.ServerOptions{})
	for _, tc := range []struct {
		query string
		parts []string
	}{
		{"status=done", []string{`status "done"`, "want one of pending, processing, success, failed, cancelled"}},
		{"sortBy=id", []string{`sortBy "id"`, "want one of dateCreated, dateModified, dateCompleted, status"}},
		{"order=up", []string{`order "up"`, "want asc or desc"}},
		{"limit=-1", []string{`limit "-1"`, "want an integer from 1 to 1000"}},
		{"limit=0", []string{`limit "0"`}},
		{"limit=1001", []string{`limit "1001"`}},
		{"limit=ten", []string{`limit "ten"`}},
		{"sort=status", []string{`unknown query parameter "sort"`, "want one of type, status, sortBy, order, cursor, limit"}},
		{"type=a&type=b", []string{"query parameter type is given 2 times"}},
		{"type=%zz", []string{"malformed query string"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			requireError(t, f.do(t, http.MethodGet, "/v1/tasks?"+tc.query, ""), http.StatusBadRequest, "InvalidArgument", tc.parts...)
		})
	}
}

func TestHandlers(t *testing.T) {
	t.Parallel()
	info := []host.HandlerInfo{{
		Type: "t", Plugin: "/bin/p", Method: "m", MaxWorkerCount: 2, IdleShutdownTimeout: -1,
		Pool: host.PoolStats{Type: "t", Max: 2, Alive: 1, Busy: 1, Calls: 5},
	}}
	f := setup(t, &fakeEngine{handlers: func() []host.HandlerInfo { return info }}, api.ServerOptions{})

	r := f.do(t, http.MethodGet, "/v1/handlers", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	var body struct {
		Handlers []map[string]any `json:"handlers"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	require.Len(t, body.Handlers, 1)
	require.Equal(t, "t", body.Handlers[0]["type"])
	require.Equal(t, float64(-1), body.Handlers[0]["idleShutdownTimeout"])

	got, err := f.client.Handlers(t.Context())
	require.NoError(t, err)
	require.Equal(t, info, got)

	empty := setup(t, &fakeEngine{}, api.ServerOptions{})
	r = empty.do(t, http.MethodGet, "/v1/handlers", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.JSONEq(t, `{"handlers":[]}`, r.body)
}

type scheduleSource map[string][]shared.ScheduledTaskTimeInfo

func (s scheduleSource) TasksInfo(context.Context) (shared.ScheduledTasksInfo, error) {
	return shared.ScheduledTasksInfo{Tasks: s}, nil
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{}, api.ServerOptions{})
	r := f.do(t, http.MethodGet, "/v1/schedules", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.JSONEq(t, `{"tasks":{}}`, r.body)

	next := time.UnixMilli(1_700_000_000_000).UTC()
	last := time.UnixMilli(1_699_999_700_000).UTC()
	src := scheduleSource{
		"s1": {{ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &next, IntervalMinutes: 5}, LastRunTime: &last}},
		"s2": {
			{ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &next, Cron: "@every 30s"}},
			{ScheduledTaskTime: shared.ScheduledTaskTime{IntervalDays: 1, IntervalHours: 2}, LastRunTime: &last},
		},
	}
	f = setup(t, &fakeEngine{}, api.ServerOptions{Schedules: src})
	r = f.do(t, http.MethodGet, "/v1/schedules", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.JSONEq(t, `{"tasks":{
		"s1":[{"nextTriggerTime":1700000000000,"intervalMinutes":5,"lastRunTime":1699999700000}],
		"s2":[{"nextTriggerTime":1700000000000,"cron":"@every 30s"},{"intervalDays":1,"intervalHours":2,"lastRunTime":1699999700000}]
	}}`, r.body)

	got, err := f.client.Schedules(t.Context())
	require.NoError(t, err)
	require.Equal(t, map[string][]shared.ScheduledTaskTimeInfo(src), got)
}
