package host_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// A firing's task has the firing's own id: the callback run twice for one
// trigger (after a crash before its claim, or by two nodes' schedulers)
// makes one task.
func TestTaskCallbackIsIdempotentPerFiring(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cb := e.h.TaskCallback("later", json.RawMessage(`1`), host.CreateOptions{RetainFor: host.RetainForever})
	at := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	first := scheduler.WithFiring(t.Context(), scheduler.Firing{ID: "nightly", TriggerTime: at})
	require.NoError(t, cb(first))
	require.NoError(t, cb(first), "the second run of the same firing finds its task")
	require.NoError(t, cb(scheduler.WithFiring(t.Context(), scheduler.Firing{ID: "nightly", TriggerTime: at.Add(time.Second)})))
	require.NoError(t, cb(scheduler.WithFiring(t.Context(), scheduler.Firing{ID: "nightly", Index: 1, TriggerTime: at})))
	require.NoError(t, cb(scheduler.WithFiring(t.Context(), scheduler.Firing{ID: "hourly", TriggerTime: at})))

	page, err := e.h.Query(t.Context(), host.Query{Type: "later"})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 4, "one task per firing")
	for _, task := range page.Tasks {
		prefix := task.ID[:12]
		require.Contains(t, []string{fmt.Sprintf("%012x", at.UnixMilli()), fmt.Sprintf("%012x", at.Add(time.Second).UnixMilli())}, prefix,
			"a UUIDv7 of the trigger time: %s", task.ID)
		require.Equal(t, byte('7'), task.ID[12], "version 7: %s", task.ID)
	}
}
