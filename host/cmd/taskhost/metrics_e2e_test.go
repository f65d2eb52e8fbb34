package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2EMetrics checks the wiring of taskhost serve: the engine, the
// store and the pools all report to GET /metrics.
func TestE2EMetrics(t *testing.T) {
	t.Parallel()
	addr, serve, _ := serveReal(t, "")

	r := taskhost(t, addr, "", "create", "echo", `{"hello":"metrics"}`, "--wait")
	require.Equal(t, 0, r.code, r.stderr)

	scrape := func() string {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return string(body)
	}
	want := []string{
		`taskhost_tasks_created_total{type="echo"} 1`,
		// The outcome is reported once it is stored, a moment after
		// --wait has seen it.
		`taskhost_tasks_finished_total{outcome="success",type="echo"} 1`,
		`taskhost_workers{state="alive",type="echo"} 1`,
		`taskhost_worker_spawns_total{type="echo"} 1`,
		`taskhost_queue_depth{status="pending",type="echo"} 0`,
		`taskhost_queue_depth{status="pending",type="sleep"} 0`,
		`taskhost_store_commit_seconds_count `,
		`taskhost_store_sync_batch_size_count `,
	}
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		body := scrape()
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(body, w) })
		if len(missing) == 0 {
			break
		}
		select {
		case <-deadline.C:
			t.Fatalf("GET /metrics lacks %q:\n%s", missing, body)
		case <-tick.C:
		}
	}

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
}
