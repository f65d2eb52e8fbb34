package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

// marshalList writes the same bytes as encoding/json writes for
// ListResponse: strings and raw JSON that encoding/json escapes or
// compacts, every optional field, no tasks, no cursor.
func TestMarshalListIsJSONMarshal(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	retain, retries := int64(-1), 2
	full := shared.Task{
		ID: "0123456789abcdef0123456789abcdef", Type: "a<b>&c\u2028", ThreadID: "main", Status: shared.StatusFailed,
		DateCreated: at, DateModified: at.Add(time.Second), DateCompleted: &at, DateCancelled: &at,
		DateRetainUntil: &at, DateNextProcess: &at,
		RetainFor: &retain, RetryInterval: &retain, RetriesRemaining: &retries, Attempts: 3,
		Payload:    json.RawMessage(" { \"html\" : \"<script>&\" ,\n\t\"n\": [1, 2] } "),
		Result:     json.RawMessage(`"é\u00e9"`),
		Error:      &shared.TaskError{Name: "E<", Message: "m&", Permanent: true},
		ContextIDs: map[string]string{"z": "1", "a": "<2>"},
		Progress:   &shared.Progress{Percent: 50, Message: "half > none"},
	}
	for _, c := range []struct {
		name   string
		tasks  []shared.Task
		cursor string
	}{
		{"no tasks", nil, ""},
		{"one, no cursor", []shared.Task{{ID: "x", Type: "t", ThreadID: "main", Status: shared.StatusPending, DateCreated: at, DateModified: at}}, ""},
		{"all fields, cursor", []shared.Task{full, full}, "c<&>\"/+="},
	} {
		entities := c.tasks
		if entities == nil {
			entities = []shared.Task{}
		}
		want, err := json.Marshal(ListResponse{Entities: entities, Cursor: c.cursor})
		require.NoError(t, err, c.name)
		got, err := marshalList(c.tasks, c.cursor)
		require.NoError(t, err, c.name)
		require.Equal(t, string(want)+"\n", string(got), c.name)
	}
}
