package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

// POST /v1/tasks?wait= answers with the final task, even for tasks that
// end at once and are removed at once.
func TestE2ECreateWaitAnswersWithTheFinalTask(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	for i := range 20 {
		body, want := `{"type":"echo","payload":"hi"}`, shared.StatusSuccess
		if i%2 == 1 {
			body, want = `{"type":"fail","payload":{"message":"no"}}`, shared.StatusFailed
		}
		r := e.do(t, http.MethodPost, "/v1/tasks?wait=30s", body)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		var resp api.CreateResponse
		require.NoError(t, json.Unmarshal([]byte(r.body), &resp))
		require.NotNil(t, resp.Task, r.body)
		require.Equal(t, resp.ID, resp.Task.ID)
		require.Equal(t, want, resp.Task.Status, r.body)
		require.Empty(t, resp.Warning)
		require.Empty(t, r.header.Values("Warning"))
	}

	// Past the wait the answer is the task as it is then.
	r := e.do(t, http.MethodPost, "/v1/tasks?wait=50ms", `{"type":"sleep","payload":{"ms":60000}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	var resp api.CreateResponse
	require.NoError(t, json.Unmarshal([]byte(r.body), &resp))
	require.NotNil(t, resp.Task)
	require.False(t, resp.Task.Status.Terminal(), r.body)
	require.NoError(t, e.client.Cancel(t.Context(), resp.ID))
}

func TestE2EClientCreateWatchSeesTheEnd(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	var seen []shared.Status
	id, err := e.client.CreateWatch(t.Context(), "progress", json.RawMessage(`{"steps":3,"delayMs":5}`), host.CreateOptions{},
		func(task shared.Task) { seen = append(seen, task.Status) })
	require.NoError(t, err)
	require.Len(t, id, 32)
	require.Equal(t, shared.StatusPending, seen[0])
	require.Equal(t, shared.StatusSuccess, seen[len(seen)-1])

	_, err = e.client.CreateWatch(t.Context(), "bad type!", nil, host.CreateOptions{}, func(shared.Task) { t.Error("no state of a refused task") })
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
}

func TestCreateWaitAndStreamParameters(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{}, api.ServerOptions{})
	for _, q := range []string{"wait=soon", "wait=0s", "wait=2h", "wait=-1s", "wait=1s&wait=2s", "limit=3"} {
		r := f.do(t, http.MethodPost, "/v1/tasks?"+q, `{"type":"t"}`)
		requireError(t, r, http.StatusBadRequest, api.ErrorNameInvalidArgument)
		require.Contains(t, r.body, "wait", q)
	}
}

func TestCreateWarnsOfTypesWithoutHandler(t *testing.T) {
	t.Parallel()
	var warnings []string
	var mu sync.Mutex
	f := setup(t, &fakeEngine{
		hasHandler: func(typ string) bool { return typ == "known" },
		create: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) {
			return "0123456789abcdef0123456789abcdef", nil
		},
		createMany: func(_ context.Context, tasks []host.NewTask) ([]string, error) {
			return make([]string, len(tasks)), nil
		},
		createWatch: func(_ context.Context, typ string, _ json.RawMessage, _ host.CreateOptions) (string, <-chan shared.Task, error) {
			ch := make(chan shared.Task, 2)
			ch <- shared.Task{ID: "0123456789abcdef0123456789abcdef", Type: typ, Status: shared.StatusPending}
			close(ch)
			return "0123456789abcdef0123456789abcdef", ch, nil
		},
	}, api.ServerOptions{})

	const want = `no handler is registered for task type "nosuch-typo": the task waits until one registers`
	r := f.do(t, http.MethodPost, "/v1/tasks", `{"type":"nosuch-typo"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Equal(t, []string{`299 taskhost "` + strings.ReplaceAll(want, `"`, `\"`) + `"`}, r.header.Values("Warning"))
	require.JSONEq(t, fmt.Sprintf(`{"id":"0123456789abcdef0123456789abcdef","warning":%q}`, want), r.body)

	r = f.do(t, http.MethodPost, "/v1/tasks", `{"type":"known"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Empty(t, r.header.Values("Warning"))
	require.NotContains(t, r.body, "warning")

	r = f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[{"type":"b"},{"type":"known"},{"type":"a"},{"type":"b"}]}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Contains(t, r.body, `"warning":"no handler is registered for task types \"a\", \"b\": their tasks wait until one registers"`)

	r = f.do(t, http.MethodPost, "/v1/tasks?wait=1s", `{"type":"nosuch-typo"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Len(t, r.header.Values("Warning"), 1)
	require.Contains(t, r.body, `"warning":`)

	// The Go client hands warnings to its handler, the streaming create's too.
	client, err := api.NewClient(f.url, api.WithWarningHandler(func(text string) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, text)
	}))
	require.NoError(t, err)
	_, err = client.Create(t.Context(), "nosuch-typo", nil, host.CreateOptions{})
	require.NoError(t, err)
	_, err = client.Create(t.Context(), "known", nil, host.CreateOptions{})
	require.NoError(t, err)
	_, err = client.CreateWatch(t.Context(), "nosuch-typo", nil, host.CreateOptions{}, func(shared.Task) {})
	require.NoError(t, err)
	mu.Lock()
	require.Equal(t, []string{want, want}, warnings)
	mu.Unlock()
}

func TestNoHandlerIs422(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{
		create: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) {
			return "", fmt.Errorf("%w: task type %q has no handler: want one of echo", shared.ErrNoHandler, "x")
		},
	}, api.ServerOptions{})
	r := f.do(t, http.MethodPost, "/v1/tasks", `{"type":"x"}`)
	requireError(t, r, http.StatusUnprocessableEntity, api.ErrorNameNoHandler, "want one of echo")
	_, err := f.client.Create(t.Context(), "x", nil, host.CreateOptions{})
	require.ErrorIs(t, err, shared.ErrNoHandler)
}

// A long poll ends with the server: it answers with the state it has.
func TestCreateWaitEndsWhenTheServerCloses(t *testing.T) {
	t.Parallel()
	ch := make(chan shared.Task, 1)
	ch <- shared.Task{ID: "0123456789abcdef0123456789abcdef", Type: "t", Status: shared.StatusPending}
	f := setup(t, &fakeEngine{
		createWatch: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, <-chan shared.Task, error) {
			return "0123456789abcdef0123456789abcdef", ch, nil
		},
	}, api.ServerOptions{})
	done := make(chan rawResponse)
	go func() { done <- f.do(t, http.MethodPost, "/v1/tasks?wait=1h", `{"type":"t"}`) }()
	require.Eventually(t, func() bool { return len(ch) == 0 }, 10*time.Second, time.Millisecond)
	f.server.Close()
	r := <-done
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Contains(t, r.body, `"status":"pending"`)
}
