package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/testlog"
	"github.com/taskhost/taskhost/shared"
)

func TestTokenIsRequiredExceptForHealth(t *testing.T) {
	t.Parallel()
	engine := &fakeEngine{}
	engine.get = func(context.Context, string) (shared.Task, error) { return shared.Task{ID: "x"}, nil }
	f := setup(t, engine, api.ServerOptions{Token: "s3cret"})

	requireError(t, f.do(t, "GET", "/v1/tasks/x", ""), 401, "Unauthorized", "Authorization: Bearer")
	requireError(t, f.do(t, "POST", "/v1/tasks", `{"type":"a"}`), 401, "Unauthorized")
	require.Equal(t, 200, f.do(t, "GET", "/healthz", "").status)

	withToken := func(token string) int {
		req, err := http.NewRequestWithContext(t.Context(), "GET", f.url+"/v1/tasks/x", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, withToken("s3cret"))
	require.Equal(t, 401, withToken("s3cre"))
	require.Equal(t, 401, withToken("s3cret2"))

	_, err := f.client.Get(t.Context(), "x")
	require.ErrorIs(t, err, api.ErrUnauthorized)
	good, err := api.NewClient(f.url, api.WithToken("s3cret"))
	require.NoError(t, err)
	task, err := good.Get(t.Context(), "x")
	require.NoError(t, err)
	require.Equal(t, "x", task.ID)
}

func TestDrainRefusesNewTasksOnly(t *testing.T) {
	t.Parallel()
	engine := &fakeEngine{}
	engine.get = func(context.Context, string) (shared.Task, error) { return shared.Task{ID: "x"}, nil }
	engine.create = func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) { return "id", nil }
	srv := api.NewServer(engine, api.ServerOptions{})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f := &fixture{server: srv, url: ts.URL}

	require.Equal(t, 201, f.do(t, "POST", "/v1/tasks", `{"type":"a"}`).status)
	srv.Drain()
	requireError(t, f.do(t, "POST", "/v1/tasks", `{"type":"a"}`), 503, "Unavailable", "shutting down")
	requireError(t, f.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":"a"}]}`), 503, "Unavailable")
	require.Equal(t, 200, f.do(t, "GET", "/v1/tasks/x", "").status, "reads still work while draining")
}

// A 503 is the expected answer while the host drains or stops, not a
// fault of the server: it is logged as a refusal, not at ERROR.
func TestUnavailableIsLoggedAsARefusal(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.New(hclog.Debug)
	engine := &fakeEngine{}
	engine.get = func(context.Context, string) (shared.Task, error) {
		return shared.Task{}, fmt.Errorf("get: %w", shared.ErrClosed)
	}
	f := setup(t, engine, api.ServerOptions{Logger: logger})

	f.server.Drain()
	requireError(t, f.do(t, "POST", "/v1/tasks", `{"type":"a"}`), 503, "Unavailable")
	requireError(t, f.do(t, "GET", "/v1/tasks/x", ""), 503, "Unavailable")
	refused := logs.Matching("request refused", "status=503")
	require.Len(t, refused, 2, logs.String())
	for _, line := range refused {
		require.Contains(t, line, "[DEBUG]", line)
	}

	// A server fault still is an error.
	requireError(t, f.do(t, "DELETE", "/v1/tasks/x", ""), 500, "Internal")
	failed := logs.Matching("[ERROR]")
	require.Len(t, failed, 1, logs.String())
	require.Contains(t, failed[0], "status=500")
}
