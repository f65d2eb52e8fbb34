package host_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

// TestTaskCallback schedules tasks through the Go API: each firing
// creates a task that runs in the plugin.
func TestTaskCallback(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{Logger: logger})
	require.NoError(t, err)
	s, err := scheduler.New(st, scheduler.Options{Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Stop(context.Background()))
		require.NoError(t, st.Close())
	})

	at := time.Now().Add(100 * time.Millisecond)
	opts := host.CreateOptions{RetainFor: host.RetainForever, ContextIDs: map[string]string{"tenant": "a"}}
	cb := e.h.TaskCallback("echo", json.RawMessage(`{"from":"schedule"}`), opts)
	require.NoError(t, s.AddTask(t.Context(), "echo-once", []shared.ScheduledTaskTime{{NextTriggerTime: &at}}, cb))
	require.NoError(t, s.Start(t.Context()))

	var tasks []shared.Task
	eventually(t, "the scheduled task to succeed", func() bool {
		page, err := e.h.Query(t.Context(), host.Query{Type: "echo", Status: shared.StatusSuccess})
		require.NoError(t, err)
		tasks = page.Tasks
		return len(tasks) == 1
	})
	require.JSONEq(t, `{"from":"schedule"}`, string(tasks[0].Result))
	require.Equal(t, map[string]string{
		"tenant":                  "a",
		host.ContextIDSchedule:    "echo-once",
		host.ContextIDTriggerTime: at.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}, tasks[0].ContextIDs, "the task says which schedule and trigger made it")
	require.Equal(t, map[string]string{"tenant": "a"}, opts.ContextIDs, "the callback's options are not changed")

	// A bad task is the callback's error, for the scheduler to log.
	err = e.h.TaskCallback("no spaces", nil, host.CreateOptions{})(t.Context())
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, `create task of type "no spaces"`)
}
