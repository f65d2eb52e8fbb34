package ui_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/host/ui"
	"github.com/taskhost/taskhost/shared"
)

// measureEnv turns TestMeasureRenderAtScale on: make measure-ui. It is a
// measurement, not a test: it prints the figures and holds them to no
// threshold.
const (
	measureEnv      = "TASKHOST_UI_MEASURE"
	measureDirEnv   = "TASKHOST_UI_MEASURE_DIR"   // keeps the seeded store for the next run
	measureTasksEnv = "TASKHOST_UI_MEASURE_TASKS" // default 1,000,000
)

// TestMeasureRenderAtScale stores a million tasks (5 types, every status)
// in Badger, serves them, and measures in Chromium how long each page
// takes from the start of its navigation until its data is drawn, and
// how long the API calls behind it take.
func TestMeasureRenderAtScale(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skipf("a measurement: set %s=1 (make measure-ui)", measureEnv)
	}
	total := 1_000_000
	if v := os.Getenv(measureTasksEnv); v != "" {
		var err error
		total, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	dir := os.Getenv(measureDirEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: logWriter{t}})
	st, err := badgerstore.Open(dir, badgerstore.Options{Logger: log})
	require.NoError(t, err)
	defer st.Close()

	start := time.Now()
	counts, err := st.Counts(context.Background())
	require.NoError(t, err)
	stored := 0
	for _, by := range counts {
		for _, n := range by {
			stored += n
		}
	}
	t.Logf("store in %s holds %d tasks (a full count took %v)", dir, stored, time.Since(start).Round(time.Millisecond))
	if stored < total {
		seed(t, st, total-stored)
	}

	h, err := host.New(st, host.Options{Logger: log, NodeID: "measure"})
	require.NoError(t, err)
	require.NoError(t, h.RegisterHandler(context.Background(), "echo", testworker, "echo", nil, host.HandlerOptions{}))
	require.NoError(t, h.Start(context.Background()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	}()
	dashboard, err := ui.NewHandler(ui.Options{NodeID: "measure"})
	require.NoError(t, err)
	srv := api.NewServer(h, api.ServerOptions{Logger: log, Counts: st, UI: dashboard})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	url := "http://" + ln.Addr().String()

	// The first count, which starts with the server.
	var first api.CountsResponse
	getJSON(t, url+"/v1/counts", &first)
	t.Logf("first count after start: %d ms", first.TookMS)

	var page api.ListResponse
	getJSON(t, url+"/v1/tasks?type=type-2&status=failed&limit=1", &page)
	require.NotEmpty(t, page.Entities)
	someID := page.Entities[0].ID

	for _, c := range []struct{ name, path string }{
		{"GET /v1/counts (snapshot)", "/v1/counts"},
		{"GET /v1/tasks (first page, newest first)", "/v1/tasks?sortBy=dateCreated&order=desc&limit=50"},
		{"GET /v1/tasks (type and status)", "/v1/tasks?type=type-2&status=failed&sortBy=dateCreated&order=desc&limit=50"},
		{"GET /v1/tasks (by status)", "/v1/tasks?sortBy=status&order=asc&limit=50"},
		{"GET /v1/tasks/{id}", "/v1/tasks/" + someID},
		{"GET /v1/handlers", "/v1/handlers"},
		{"GET /v1/activity", "/v1/activity"},
	} {
		var ds []time.Duration
		for range 20 {
			s := time.Now()
			resp, err := http.Get(url + c.path)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds = append(ds, time.Since(s))
		}
		t.Logf("%-45s p50 %6.1f ms  max %6.1f ms", c.name, ms(pct(ds, 50)), ms(pct(ds, 100)))
	}

	for _, p := range []struct{ name, path, ready string }{
		{"overview", "/ui/", `document.querySelectorAll('a[data-count]').length > 0 && document.querySelectorAll('figure.chart').length === 2 && !!document.getElementById('workers-total')`},
		{"tasks", "/ui/tasks", `document.querySelectorAll('#list tbody tr').length === 50`},
		{"tasks (type and status)", "/ui/tasks?type=type-2&status=failed", `document.querySelectorAll('#list tbody tr').length === 50`},
		{"task detail", "/ui/tasks/" + someID, `!!document.querySelector('#task h1 .status')`},
		{"handlers", "/ui/handlers", `!!document.querySelector('#handler-echo')`},
		{"schedules", "/ui/schedules", `(document.querySelector('#schedules') || {textContent: ''}).textContent.includes('No schedule')`},
	} {
		// A tab a page, closed after it: each open page holds an event
		// stream, and Chromium opens at most 6 connections to a host.
		ctx, closeTab := newTab(t)
		var ds []time.Duration
		for range 10 {
			do(t, ctx, chromedp.Navigate(url+p.path))
			// From the navigation's start to the first frame with the data.
			msSince := eval[float64](t, ctx, fmt.Sprintf(`new Promise((resolve) => {
				const check = () => (%s) ? resolve(performance.now()) : requestAnimationFrame(check);
				check();
			})`, p.ready))
			ds = append(ds, time.Duration(msSince*float64(time.Millisecond)))
		}
		closeTab()
		t.Logf("page %-25s p50 %6.1f ms  max %6.1f ms (navigation start to data drawn, 10 loads)", p.name, ms(pct(ds, 50)), ms(pct(ds, 100)))
	}
}

// seed stores n tasks straight into the store: five types, every status
// (mostly finished ones, as a long-running host retains them).
func seed(t *testing.T, st *badgerstore.Store, n int) {
	t.Helper()
	start := time.Now()
	base := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Millisecond)
	const batch = 2000
	statusOf := func(i int) shared.Status {
		switch i % 20 {
		case 0, 1:
			return shared.StatusPending
		case 2:
			return shared.StatusFailed
		case 3:
			return shared.StatusCancelled
		default:
			return shared.StatusSuccess
		}
	}
	forever := int64(-1)
	for done := 0; done < n; {
		recs := make([]*store.Record, 0, batch)
		for i := done; i < min(n, done+batch); i++ {
			u, err := uuid.NewV7()
			require.NoError(t, err)
			at := base.Add(time.Duration(i) * time.Millisecond)
			typ := fmt.Sprintf("type-%d", i%5)
			rec := &store.Record{Task: shared.Task{
				ID: hex.EncodeToString(u[:]), Type: typ, ThreadID: "measure", Status: statusOf(i),
				DateCreated: at, DateModified: at, RetainFor: &forever,
				Payload: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`),
			}}
			if rec.Status.Terminal() {
				end := at.Add(time.Second)
				rec.DateModified, rec.DateCompleted, rec.Attempts = end, &end, 1
				if rec.Status == shared.StatusSuccess {
					rec.Result = json.RawMessage(`"ok"`)
				}
			}
			recs = append(recs, rec)
		}
		require.NoError(t, st.Create(context.Background(), recs...))
		done += len(recs)
		if done%100_000 == 0 {
			t.Logf("seeded %d tasks in %v", done, time.Since(start).Round(time.Second))
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
