package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

func eventTasks() []shared.Task {
	at := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	return []shared.Task{
		{ID: "a", Type: "t", ThreadID: "main", Status: shared.StatusProcessing, DateCreated: at, DateModified: at,
			Progress: &shared.Progress{Percent: 50, Message: "half\nway"}},
		{ID: "a", Type: "t", ThreadID: "main", Status: shared.StatusSuccess, DateCreated: at, DateModified: at,
			Result: json.RawMessage(`{"ok":true}`)},
	}
}

// watchOf returns a Watch that sends tasks and closes the channel.
func watchOf(tasks ...shared.Task) func(context.Context, string) (<-chan shared.Task, error) {
	return func(context.Context, string) (<-chan shared.Task, error) {
		ch := make(chan shared.Task, len(tasks))
		for _, t := range tasks {
			ch <- t
		}
		close(ch)
		return ch, nil
	}
}

func TestEventsFraming(t *testing.T) {
	t.Parallel()
	tasks := eventTasks()
	f := setup(t, &fakeEngine{watch: watchOf(tasks...)}, api.ServerOptions{})

	r := f.do(t, http.MethodGet, "/v1/tasks/a/events", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Equal(t, "text/event-stream", r.header.Get("Content-Type"))
	require.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	want := ""
	for _, task := range tasks {
		data, err := json.Marshal(task)
		require.NoError(t, err)
		want += fmt.Sprintf("data: %s\n\n", data)
	}
	require.Equal(t, want, r.body)
}

func TestClientEvents(t *testing.T) {
	t.Parallel()
	tasks := eventTasks()
	f := setup(t, &fakeEngine{watch: watchOf(tasks...)}, api.ServerOptions{})

	var got []shared.Task
	require.NoError(t, f.client.Events(t.Context(), "a", func(task shared.Task) { got = append(got, task) }))
	require.Equal(t, tasks, got)
}

func TestEventsWatchError(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{
		watch: func(_ context.Context, id string) (<-chan shared.Task, error) {
			return nil, fmt.Errorf("task %s: %w", id, shared.ErrNotFound)
		},
	}, api.ServerOptions{})

	requireError(t, f.do(t, http.MethodGet, "/v1/tasks/nope/events", ""), http.StatusNotFound, "NotFound", "task nope: not found")
	err := f.client.Events(t.Context(), "nope", func(shared.Task) { t.Error("event without a stream") })
	require.ErrorIs(t, err, shared.ErrNotFound)
}

func TestEventsKeepAlive(t *testing.T) {
	t.Parallel()
	ch := make(chan shared.Task)
	f := setup(t, &fakeEngine{
		watch: func(context.Context, string) (<-chan shared.Task, error) { return ch, nil },
	}, api.ServerOptions{KeepAlive: time.Millisecond})

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.url+"/v1/tasks/a/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, ": keep-alive\n", line)

	task := eventTasks()[1]
	ch <- task
	close(ch)
	data, err := json.Marshal(task)
	require.NoError(t, err)
	for {
		line, err := rd.ReadString('\n')
		require.NoError(t, err)
		if line != "\n" && line != ": keep-alive\n" {
			require.Equal(t, fmt.Sprintf("data: %s\n", data), line)
			break
		}
	}
}

func TestEventsEndWhenClientLeaves(t *testing.T) {
	t.Parallel()
	watching := make(chan context.Context, 1)
	f := setup(t, &fakeEngine{
		watch: func(ctx context.Context, _ string) (<-chan shared.Task, error) {
			watching <- ctx
			return make(chan shared.Task), nil
		},
	}, api.ServerOptions{})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.client.Events(ctx, "a", func(shared.Task) {}) }()
	watchCtx := <-watching
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	// The engine's watch must end too.
	<-watchCtx.Done()
}

func TestEventsEndWhenServerCloses(t *testing.T) {
	t.Parallel()
	watching := make(chan struct{}, 1)
	f := setup(t, &fakeEngine{
		watch: func(context.Context, string) (<-chan shared.Task, error) {
			watching <- struct{}{}
			return make(chan shared.Task), nil
		},
	}, api.ServerOptions{})

	done := make(chan error, 1)
	go func() { done <- f.client.Events(t.Context(), "a", func(shared.Task) {}) }()
	<-watching
	f.server.Close()
	require.NoError(t, <-done)
}

// TestClientEventsParsing feeds the client a stream with what the SSE
// format allows besides data lines: comments, other fields, multi-line
// data, CRLF-free blank lines between events.
func TestClientEventsParsing(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		fmt.Fprint(w, ": hello\n\nevent: task\nid: 1\ndata: {\"id\":\"a\",\n"+
			"data:\"status\":\"pending\"}\n\n\n\ndata: {\"id\":\"b\"}\n\n")
	}))
	t.Cleanup(ts.Close)
	client, err := api.NewClient(ts.URL)
	require.NoError(t, err)

	var ids []string
	var statuses []shared.Status
	require.NoError(t, client.Events(t.Context(), "x", func(task shared.Task) {
		ids = append(ids, task.ID)
		statuses = append(statuses, task.Status)
	}))
	require.Equal(t, []string{"a", "b"}, ids)
	require.Equal(t, []shared.Status{shared.StatusPending, ""}, statuses)
}
