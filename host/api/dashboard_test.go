package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

// changeStream reads GET /v1/events and sends each change it carries.
func changeStream(t *testing.T, url string) <-chan host.Change {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	out := make(chan host.Change, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			data, ok := strings.CutPrefix(lines.Text(), "data: ")
			if !ok {
				continue
			}
			var ch host.Change
			if json.Unmarshal([]byte(data), &ch) == nil {
				out <- ch
			}
		}
	}()
	return out
}

func TestE2EEventsOfEveryTask(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	changes := changeStream(t, e.url)
	first := <-changes
	require.Equal(t, host.ChangeResync, first.Kind, "a stream starts with a resync")

	id, err := e.client.Create(t.Context(), "echo", json.RawMessage(`{"secret":"payload"}`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	var kinds []string
	deadline := time.After(15 * time.Second)
	for done := false; !done; {
		select {
		case ch, ok := <-changes:
			require.True(t, ok, "the stream ended early")
			if ch.Task == nil || ch.Task.ID != id {
				continue
			}
			require.Nil(t, ch.Task.Payload)
			kinds = append(kinds, string(ch.Kind)+":"+string(ch.Task.Status))
			done = ch.Task.Status == shared.StatusSuccess
		case <-deadline:
			t.Fatalf("no success event; saw %v", kinds)
		}
	}
	require.Equal(t, []string{"created:pending", "updated:processing", "updated:success"}, kinds)
}

func TestE2ECountsAndActivity(t *testing.T) {
	t.Parallel()
	e := setupE2E(t)
	for range 3 {
		_, err := e.client.Create(t.Context(), "nohandler", nil, host.CreateOptions{})
		require.NoError(t, err)
	}
	id, err := e.client.Create(t.Context(), "echo", json.RawMessage(`1`), host.CreateOptions{RetainFor: host.RetainForever})
	require.NoError(t, err)
	e.wait(t, id)

	// The snapshot catches up within a few seconds.
	var counts api.CountsResponse
	require.Eventually(t, func() bool {
		r := e.do(t, http.MethodGet, "/v1/counts", "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.NoError(t, json.Unmarshal([]byte(r.body), &counts))
		return counts.Counts["nohandler"][shared.StatusPending] == 3 && counts.Counts["echo"][shared.StatusSuccess] == 1
	}, 15*time.Second, 50*time.Millisecond, "counts: %v", counts.Counts)
	require.Zero(t, counts.Counts["echo"][shared.StatusFailed], "every status is listed")
	require.False(t, counts.AsOf.IsZero())

	r := e.do(t, http.MethodGet, "/v1/activity", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	var act host.Activity
	require.NoError(t, json.Unmarshal([]byte(r.body), &act))
	require.Len(t, act.Started, int(host.ActivityWindow/time.Second))
	sum := 0
	for _, n := range act.Finished[host.OutcomeSuccess] {
		sum += n
	}
	require.Equal(t, 1, sum)
}

func TestReadOnlyRefusesChangesFromTheDashboard(t *testing.T) {
	t.Parallel()
	cancelled := 0
	f := setup(t, &fakeEngine{cancel: func(context.Context, string) error { cancelled++; return nil }},
		api.ServerOptions{UIReadOnly: true, UI: http.NotFoundHandler()})
	host := strings.TrimPrefix(f.url, "http://")
	for name, headers := range map[string]map[string]string{
		"its header":         {api.UIHeader: "1"},
		"a same-origin page": {"Sec-Fetch-Site": "same-origin"},
		"the host's origin":  {"Origin": "http://" + host},
	} {
		r := f.send(t, http.MethodPost, "/v1/tasks/a/cancel", "", headers)
		requireError(t, r, http.StatusForbidden, api.ErrorNameForbidden, "read-only")
		_ = name
	}
	require.Zero(t, cancelled)
	r := f.send(t, http.MethodPost, "/v1/tasks/a/cancel", "", nil)
	require.Equal(t, http.StatusNoContent, r.status, "the CLI may: %s", r.body)
	require.Equal(t, 1, cancelled)
}

func TestDashboardIsMountedWithoutTheToken(t *testing.T) {
	t.Parallel()
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("page " + r.URL.Path)) })
	f := setup(t, &fakeEngine{}, api.ServerOptions{UI: ui, Token: "s3cret"})
	r := f.do(t, http.MethodGet, "/ui/tasks", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "page /ui/tasks", r.body)
	requireError(t, f.do(t, http.MethodGet, "/v1/handlers", ""), http.StatusUnauthorized, api.ErrorNameUnauthorized)
	// The Host check applies to the pages too.
	r = f.send(t, http.MethodGet, "/ui/", "", map[string]string{"Host": "evil.example"})
	require.Equal(t, http.StatusForbidden, r.status)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(f.url + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "/ui/", resp.Header.Get("Location"))

	// Without a UI, /ui/ is no route.
	g := setup(t, &fakeEngine{}, api.ServerOptions{})
	requireError(t, g.do(t, http.MethodGet, "/ui/", ""), http.StatusNotFound, api.ErrorNameNotFound)
}
