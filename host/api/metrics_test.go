package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/metrics"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	// The fake engine tells the metrics what a host's engine would.
	f := setup(t, &fakeEngine{
		create: func(_ context.Context, typ string, _ json.RawMessage, _ host.CreateOptions) (string, error) {
			m.TasksCreated(typ, 1)
			return taskID, nil
		},
	}, api.ServerOptions{Metrics: m.Handler()})

	r := f.do(t, http.MethodPost, "/v1/tasks", `{"type":"image-resize"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)

	r = f.do(t, http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.header.Get("Content-Type"), "text/plain")
	require.Contains(t, r.body, "# TYPE taskhost_tasks_created_total counter\n")
	require.Contains(t, r.body, `taskhost_tasks_created_total{type="image-resize"} 1`+"\n")

	r = f.do(t, http.MethodPost, "/metrics", "")
	requireError(t, r, http.StatusMethodNotAllowed, "MethodNotAllowed")
}

func TestMetricsOff(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{}, api.ServerOptions{})
	requireError(t, f.do(t, http.MethodGet, "/metrics", ""), http.StatusNotFound, "NotFound", "no route for GET /metrics")
}
