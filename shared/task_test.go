package shared_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

func TestTaskJSONShape(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 9, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	done := created.Add(82 * time.Second)
	interval := int64(5000)
	retries := 3
	task := shared.Task{
		ID: "7f4b2c18a4f44f1f9ff7348e260ca4c2", Type: "catalogue-import", ThreadID: "main",
		Status: shared.StatusSuccess, DateCreated: created, DateModified: done, DateCompleted: &done,
		RetryInterval: &interval, RetriesRemaining: &retries,
		Payload: json.RawMessage(`{"source":"tenant-a"}`), Result: json.RawMessage(`{"inserted":248}`),
		ContextIDs: map[string]string{"tenant": "a"},
	}
	b, err := json.Marshal(task)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"id": "7f4b2c18a4f44f1f9ff7348e260ca4c2", "type": "catalogue-import", "threadId": "main",
		"status": "success",
		"dateCreated": "2026-03-09T09:30:00.123Z", "dateModified": "2026-03-09T09:31:22.123Z",
		"dateCompleted": "2026-03-09T09:31:22.123Z",
		"retryInterval": 5000, "retriesRemaining": 3,
		"payload": {"source":"tenant-a"}, "result": {"inserted":248},
		"contextIds": {"tenant": "a"}
	}`, string(b))

	var back shared.Task
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, created.Truncate(time.Millisecond).UTC(), back.DateCreated)
	require.Equal(t, done.Truncate(time.Millisecond).UTC(), *back.DateCompleted)
	require.Equal(t, task.ID, back.ID)
	require.Equal(t, task.Status, back.Status)
	require.Nil(t, back.DateCancelled)
	require.JSONEq(t, string(task.Payload), string(back.Payload))
}

func TestTaskErrorJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(shared.Task{Error: &shared.TaskError{Name: "WorkerCrashed", Message: "exit status 2"}})
	require.NoError(t, err)
	require.Contains(t, string(b), `"error":{"name":"WorkerCrashed","message":"exit status 2"}`)
}

func TestTaskRejectsBadTime(t *testing.T) {
	t.Parallel()
	var task shared.Task
	require.Error(t, json.Unmarshal([]byte(`{"dateCreated":"yesterday"}`), &task))
	require.Error(t, json.Unmarshal([]byte(`{"dateCreated":12}`), &task))
	require.Error(t, json.Unmarshal([]byte(`{"dateCreated":""}`), &task))
	require.Error(t, json.Unmarshal([]byte(`{"dateCreated":null}`), &task))
}

// A time is read in UTC, whatever its offset, and a string with escapes
// is read as JSON.
func TestTaskReadsTimes(t *testing.T) {
	t.Parallel()
	want := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, in := range []string{`"2025-01-02T03:04:05.006Z"`, `"2025-01-02T04:04:05.006+01:00"`, `"2025-01-02T03:04:05.006\u005a"`} {
		var task shared.Task
		require.NoError(t, json.Unmarshal([]byte(`{"dateCreated":`+in+`,"dateCompleted":`+in+`}`), &task), in)
		require.Equal(t, want, task.DateCreated, in)
		require.Equal(t, want, *task.DateCompleted, in)
	}
}

func TestScheduledTaskTimeJSON(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1773052200000).UTC()
	b, err := json.Marshal(shared.ScheduledTaskTime{NextTriggerTime: &at, IntervalDays: 1})
	require.NoError(t, err)
	require.JSONEq(t, `{"nextTriggerTime":1773052200000,"intervalDays":1}`, string(b))

	var back shared.ScheduledTaskTime
	require.NoError(t, json.Unmarshal([]byte(`{"intervalMinutes":15}`), &back))
	require.Nil(t, back.NextTriggerTime)
	require.Equal(t, 15*time.Minute, back.Interval())
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, at, *back.NextTriggerTime)
	require.Equal(t, 24*time.Hour, back.Interval())
}

func TestScheduledTaskTimeCronAndInfoJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(shared.ScheduledTaskTime{Cron: "@every 30s"})
	require.NoError(t, err)
	require.JSONEq(t, `{"cron":"@every 30s"}`, string(b))
	var back shared.ScheduledTaskTime
	require.NoError(t, json.Unmarshal([]byte(`{"cron":"0 3 * * *","lastRunTime":5}`), &back))
	require.Equal(t, shared.ScheduledTaskTime{Cron: "0 3 * * *"}, back)

	next, last := time.UnixMilli(1773052200000).UTC(), time.UnixMilli(1773052100000).UTC()
	info := shared.ScheduledTasksInfo{Tasks: map[string][]shared.ScheduledTaskTimeInfo{
		"a": {{ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &next, IntervalHours: 2}, LastRunTime: &last}},
		"b": {{ScheduledTaskTime: shared.ScheduledTaskTime{Cron: "@daily"}}},
	}}
	b, err = json.Marshal(info)
	require.NoError(t, err)
	require.JSONEq(t, `{"tasks":{"a":[{"nextTriggerTime":1773052200000,"intervalHours":2,"lastRunTime":1773052100000}],"b":[{"cron":"@daily"}]}}`, string(b))
	var infoBack shared.ScheduledTasksInfo
	require.NoError(t, json.Unmarshal(b, &infoBack))
	require.Equal(t, info, infoBack)
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	var terminal []shared.Status
	for _, s := range shared.Statuses() {
		require.True(t, s.Valid())
		if s.Terminal() {
			terminal = append(terminal, s)
		}
	}
	require.Equal(t, []shared.Status{shared.StatusSuccess, shared.StatusFailed, shared.StatusCancelled}, terminal)
	require.False(t, shared.Status("done").Valid())
}
