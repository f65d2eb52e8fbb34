package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

var testworker string

func TestMain(m *testing.M) {
	testplugin.Main(m, &testworker)
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// e2e is the real thing: a host with testworker handlers on Badger, its
// HTTP server on 127.0.0.1, and a client.
type e2e struct {
	*fixture
	h *host.Host
}

func setupE2E(t *testing.T) *e2e {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: logWriter{t}})
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{Logger: log})
	require.NoError(t, err)
	h, err := host.New(st, host.Options{Logger: log, MaxPayloadSize: 1024})
	require.NoError(t, err)
	ctx := context.Background()
	for typ, method := range map[string]string{"echo": "echo", "sleep": "sleep", "progress": "progress", "fail": "fail"} {
		require.NoError(t, h.RegisterHandler(ctx, typ, testworker, method, nil, host.HandlerOptions{IdleShutdownTimeout: host.KeepForever}))
	}
	require.NoError(t, h.Start(ctx))

	srv := api.NewServer(h, api.ServerOptions{Logger: log, MaxPayloadSize: 1024, Counts: st})
	ts := httptest.NewServer(srv.Handler())
	client, err := api.NewClient(ts.URL)
	require.NoError(t, err)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Stop(ctx))
		require.NoError(t, st.Close())
	})
	return &e2e{fixture: &fixture{server: srv, url: ts.URL, client: client}, h: h}
}

// wait follows a task's events until it is terminal and returns every
// state seen.
func (e *e2e) wait(t *testing.T, id string) []shared.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var seen []shared.Task
	require.NoError(t, e.client.Events(ctx, id, func(task shared.Task) { seen = append(seen, task) }))
	require.NotEmpty(t, seen)
	require.True(t, seen[len(seen)-1].Status.Terminal(), "events end with a terminal state: %v", seen[len(seen)-1].Status)
	return seen
}

func TestE2ECreateRunGet(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	r := e.do(t, "POST", "/v1/tasks", `{"type":"echo","payload":{"n":1},"retryCount":2,"retryInterval":1500,"retainFor":-1,"contextIds":{"tenant":"a"}}`)
	require.Equal(t, 201, r.status, r.body)
	var created struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &created))
	require.Len(t, created.ID, 32)

	seen := e.wait(t, created.ID)
	require.Equal(t, shared.StatusSuccess, seen[len(seen)-1].Status)

	r = e.do(t, "GET", "/v1/tasks/"+created.ID, "")
	require.Equal(t, 200, r.status)
	var task map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &task))
	require.Equal(t, "success", task["status"])
	require.Equal(t, map[string]any{"n": float64(1)}, task["result"])
	require.Equal(t, map[string]any{"tenant": "a"}, task["contextIds"])
	require.Equal(t, "main", task["threadId"])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, task["dateCompleted"])
	require.NotContains(t, task, "retriesRemaining", "success clears retry fields")

	urn := e.do(t, "GET", "/v1/tasks/background-task:default:"+created.ID, "")
	require.Equal(t, 200, urn.status)
}

func TestE2ECreateManyAndList(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	r := e.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":"nohandler","payload":1},{"type":"nohandler","payload":2},{"type":"other"}]}`)
	require.Equal(t, 201, r.status, r.body)
	var ids struct{ IDs []string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &ids))
	require.Len(t, ids.IDs, 3)

	page, err := e.client.List(t.Context(), host.Query{Type: "nohandler", Status: shared.StatusPending, Limit: 1})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 1)
	require.Equal(t, ids.IDs[0], page.Tasks[0].ID)
	require.NotEmpty(t, page.Cursor)
	page, err = e.client.List(t.Context(), host.Query{Type: "nohandler", Status: shared.StatusPending, Limit: 1, Cursor: page.Cursor})
	require.NoError(t, err)
	require.Equal(t, ids.IDs[1], page.Tasks[0].ID)
	require.Empty(t, page.Cursor, "no cursor on the last page")

	r = e.do(t, "GET", "/v1/tasks?type=nohandler&sortBy=dateCreated&order=desc", "")
	require.Equal(t, 200, r.status)
	var list struct {
		Entities []shared.Task `json:"entities"`
		Cursor   *string       `json:"cursor"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &list))
	require.Equal(t, []string{ids.IDs[1], ids.IDs[0]}, []string{list.Entities[0].ID, list.Entities[1].ID})
	require.Nil(t, list.Cursor)
}

func TestE2EErrorCodes(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	missing := strings.Repeat("0", 32)
	requireError(t, e.do(t, "GET", "/v1/tasks/"+missing, ""), 404, "NotFound")
	requireError(t, e.do(t, "POST", "/v1/tasks/"+missing+"/cancel", ""), 404, "NotFound")
	requireError(t, e.do(t, "DELETE", "/v1/tasks/"+missing, ""), 404, "NotFound")
	requireError(t, e.do(t, "POST", "/v1/tasks", `{"type":"bad type!"}`), 400, "InvalidArgument", "task type")
	requireError(t, e.do(t, "POST", "/v1/tasks", `{"type":"echo","retryCount":-1}`), 400, "InvalidArgument", "retryCount")
	requireError(t, e.do(t, "POST", "/v1/tasks", `{"type":"echo",`), 400, "InvalidArgument")
	requireError(t, e.do(t, "POST", "/v1/tasks", `{"type":"echo","payload":"`+strings.Repeat("x", 2048)+`"}`), 413, "PayloadTooLarge")
	requireError(t, e.do(t, "GET", "/v1/tasks?sortBy=colour", ""), 400, "InvalidArgument", "sortBy")

	id, err := e.client.Create(t.Context(), "echo", json.RawMessage(`1`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	e.wait(t, id)
	requireError(t, e.do(t, "POST", "/v1/tasks/"+id+"/cancel", ""), 409, "InvalidState", "success")
	requireError(t, e.do(t, "POST", "/v1/tasks/"+id+"/retry", ""), 409, "InvalidState")
	r := e.do(t, "DELETE", "/v1/tasks/"+id, "")
	require.Equal(t, 204, r.status)
	requireError(t, e.do(t, "GET", "/v1/tasks/"+id, ""), 404, "NotFound")
}

func TestE2ECancelRetryAndProgress(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	id, err := e.client.Create(t.Context(), "sleep", json.RawMessage(`{"ms":60000}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	eventually(t, func() bool {
		task, err := e.client.Get(t.Context(), id)
		return err == nil && task.Status == shared.StatusProcessing
	})
	r := e.do(t, "POST", "/v1/tasks/"+id+"/cancel", "")
	require.Equal(t, 204, r.status, r.body)
	task, err := e.client.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, shared.StatusCancelled, task.Status)

	failed, err := e.client.Create(t.Context(), "fail", json.RawMessage(`{"message":"nope"}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	seen := e.wait(t, failed)
	require.Equal(t, "nope", seen[len(seen)-1].Error.Message)
	require.Equal(t, 204, e.do(t, "POST", "/v1/tasks/"+failed+"/retry", "").status)
	eventually(t, func() bool {
		task, err := e.client.Get(t.Context(), failed)
		return err == nil && task.Status == shared.StatusFailed && task.DateModified.After(seen[len(seen)-1].DateModified)
	})

	prog, err := e.client.Create(t.Context(), "progress", json.RawMessage(`{"steps":3,"delayMs":50}`), host.CreateOptions{})
	require.NoError(t, err)
	var percents []float64
	for _, s := range e.wait(t, prog) {
		if s.Progress != nil {
			percents = append(percents, s.Progress.Percent)
		}
	}
	require.NotEmpty(t, percents, "progress reaches the event stream")
}

func TestE2EHandlers(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	id, err := e.client.Create(t.Context(), "echo", json.RawMessage(`1`), host.CreateOptions{})
	require.NoError(t, err)
	e.wait(t, id)
	hs, err := e.client.Handlers(t.Context())
	require.NoError(t, err)
	require.Len(t, hs, 4)
	require.Equal(t, "echo", hs[0].Type)
	require.Equal(t, 1, hs[0].Pool.Alive)
	require.True(t, testplugin.Alive(hs[0].Pool.Workers[0].PID))
	require.Equal(t, uint64(1), hs[0].Pool.Calls)
	require.Equal(t, 200, e.do(t, "GET", "/healthz", "").status)
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Error messages say each thing once: the task, the sentinel, the reason.
func TestE2EErrorMessagesSayEachThingOnce(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	const id = "0123456789abcdef0123456789abcdef"
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/tasks/" + id},
		{http.MethodGet, "/v1/tasks/background-task:x:" + id},
		{http.MethodPost, "/v1/tasks/" + id + "/cancel"},
		{http.MethodPost, "/v1/tasks/" + id + "/retry"},
		{http.MethodDelete, "/v1/tasks/" + id},
		{http.MethodGet, "/v1/tasks/" + id + "/events"},
	} {
		r := e.do(t, c.method, c.path, "")
		require.JSONEq(t, `{"error":{"name":"NotFound","message":"task `+id+`: not found"}}`, r.body, "%s %s", c.method, c.path)
	}
	r := e.do(t, http.MethodGet, "/v1/tasks?cursor=abc", "")
	require.JSONEq(t, `{"error":{"name":"InvalidArgument","message":"invalid argument: cursor is not from this query"}}`, r.body)

	done := e.do(t, http.MethodPost, "/v1/tasks?wait=30s", `{"type":"echo","retainFor":-1}`)
	var resp api.CreateResponse
	require.NoError(t, json.Unmarshal([]byte(done.body), &resp), done.body)
	require.Equal(t, shared.StatusSuccess, resp.Task.Status)
	r = e.do(t, http.MethodPost, "/v1/tasks/"+resp.ID+"/cancel", "")
	require.JSONEq(t, `{"error":{"name":"InvalidState","message":"invalid state: task `+resp.ID+` is success: only pending or processing tasks can be cancelled"}}`, r.body)
}
