package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// readmeSchedules is the README's example of schedules, verbatim.
const readmeSchedules = `schedule "daily-sync" {
  interval_days = 1                   # or interval_hours, interval_minutes (whole numbers)
  task {
    type        = "catalogue-import"
    payload     = { source = "tenant-a", batchSize = 250 }
    retry_count = 2
    retain_for  = "24h"               # a Go duration, or "forever"
  }
}

schedule "nightly-import" {
  cron = "CRON_TZ=UTC 30 3 * * 1-5"   # 03:30 UTC on weekdays; also "@hourly", "@every 30s"
  task {
    type           = "catalogue-import"
    payload        = { source = "tenant-a" }
    retry_count    = 3
    retry_interval = "1m"
  }
}

schedule "one-off" {
  next_trigger_time = "2030-01-01T00:00:00Z"   # RFC 3339; no interval or cron: fires once
  task {
    type    = "catalogue-import"
    payload = { source = "tenant-a", batchSize = 50 }
  }
}
`

func TestLoadConfigSchedules(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	path := writeConfig(t, dir, "taskhost.hcl", `
handler "catalogue-import" {
  plugin = "./bin/worker"
  method = "import"
}

`+readmeSchedules+`
schedule "every-30s" {
  cron              = "@every 30s"
  next_trigger_time = "2030-01-01T00:00:00.250+02:00"
  task {
    type = "catalogue-import"
  }
}

schedule "mixed" {
  interval_hours   = 2
  interval_minutes = 30
  task {
    type = "catalogue-import"
  }
}
`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Len(t, cfg.Schedules, 5)

	sc := cfg.Schedules[0]
	require.Equal(t, "daily-sync", sc.ID)
	require.Equal(t, path, sc.DefRange.Filename)
	require.Equal(t, 7, sc.DefRange.Start.Line)
	require.Equal(t, shared.ScheduledTaskTime{IntervalDays: 1}, sc.Time)
	require.JSONEq(t, `{"source":"tenant-a","batchSize":250}`, string(sc.Task.Payload))
	sc.Task.Payload = nil
	require.Equal(t, host.NewTask{Type: "catalogue-import", Options: host.CreateOptions{RetryCount: 2, RetainFor: 24 * time.Hour}}, sc.Task)

	sc = cfg.Schedules[1]
	require.Equal(t, "nightly-import", sc.ID)
	require.Equal(t, shared.ScheduledTaskTime{Cron: "CRON_TZ=UTC 30 3 * * 1-5"}, sc.Time)
	require.JSONEq(t, `{"source":"tenant-a"}`, string(sc.Task.Payload))
	sc.Task.Payload = nil
	require.Equal(t, host.NewTask{Type: "catalogue-import", Options: host.CreateOptions{RetryCount: 3, RetryInterval: time.Minute}}, sc.Task)

	sc = cfg.Schedules[2]
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, shared.ScheduledTaskTime{NextTriggerTime: &at}, sc.Time)
	require.JSONEq(t, `{"source":"tenant-a","batchSize":50}`, string(sc.Task.Payload))
	sc.Task.Payload = nil
	require.Equal(t, host.NewTask{Type: "catalogue-import"}, sc.Task)

	sc = cfg.Schedules[3]
	at = time.Date(2029, 12, 31, 22, 0, 0, 250e6, time.UTC)
	require.Equal(t, shared.ScheduledTaskTime{NextTriggerTime: &at, Cron: "@every 30s"}, sc.Time)
	require.Equal(t, host.NewTask{Type: "catalogue-import"}, sc.Task)

	require.Equal(t, shared.ScheduledTaskTime{IntervalHours: 2, IntervalMinutes: 30}, cfg.Schedules[4].Time)
}

// TestExampleConfigWithReadmeSchedules: the README's schedules added to
// the config `make run` uses load (plugins aside, which tests do not
// build).
func TestExampleConfigWithReadmeSchedules(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "taskhost.hcl"))
	require.NoError(t, err)
	_, err = LoadConfig(writeConfig(t, t.TempDir(), "taskhost.hcl", string(b)+"\n"+readmeSchedules))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	for _, d := range ce.Diagnostics {
		require.Contains(t, []string{"Plugin not found", "Script not found", "Module not found"}, d.Summary,
			"only the plugins, scripts and modules beside the example may be missing: %v", err)
	}
}

func TestLoadConfigSchedulesJSON(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, configDir(t), "taskhost.json", `{
  "schedule": {
    "daily-sync": {
      "interval_days": 1,
      "task": {"type": "catalogue-import", "payload": {"source": "tenant-a", "ids": [1, 2]}, "retain_for": "1h"}
    }
  }
}`)
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	require.Len(t, cfg.Schedules, 1)
	require.Equal(t, shared.ScheduledTaskTime{IntervalDays: 1}, cfg.Schedules[0].Time)
	require.JSONEq(t, `{"source":"tenant-a","ids":[1,2]}`, string(cfg.Schedules[0].Task.Payload))
	require.Equal(t, time.Hour, cfg.Schedules[0].Task.Options.RetainFor)
}

func TestLoadConfigScheduleErrors(t *testing.T) {
	t.Parallel()
	const task = "  task {\n    type = \"t\"\n  }\n"
	for _, tc := range []struct {
		name, content string
		lines         [][]string
	}{
		{"cron and intervals", "schedule \"s\" {\n  interval_hours = 1\n  cron = \"@daily\"\n" + task + "}\n",
			[][]string{{":3,10: Invalid cron", `schedule "s": give cron or interval_days/interval_hours/interval_minutes, not both`}}},
		{"bad cron", "schedule \"s\" {\n  cron = \"61 * * * *\"\n" + task + "}\n",
			[][]string{{":2,10: Invalid cron", `schedule "s": cron "61 * * * *": `, "want 5 fields"}}},
		{"cron with six fields", "schedule \"s\" {\n  cron = \"0 0 3 * * *\"\n" + task + "}\n",
			[][]string{{":2,10: Invalid cron", "want 5 fields"}}},
		{"cron sub-second every", "schedule \"s\" {\n  cron = \"@every 100ms\"\n" + task + "}\n",
			[][]string{{":2,10: Invalid cron", "at least 1s"}}},
		{"empty cron", "schedule \"s\" {\n  cron = \"\"\n" + task + "}\n",
			[][]string{{":2,10: Invalid cron", `cron ""`}}},
		{"zero interval", "schedule \"s\" {\n  interval_minutes = 0\n" + task + "}\n",
			[][]string{{":2,22: Invalid interval_minutes", `schedule "s": 0: want at least 1`}}},
		{"negative interval", "schedule \"s\" {\n  interval_days = -1\n" + task + "}\n",
			[][]string{{":2,19: Invalid interval_days", "-1: want at least 1"}}},
		{"no trigger", "schedule \"s\" {\n" + task + "}\n",
			[][]string{{":1,1: Schedule without trigger", `schedule "s": give interval_days, interval_hours, interval_minutes, cron or next_trigger_time`}}},
		{"bad next trigger time", "schedule \"s\" {\n  next_trigger_time = \"tomorrow\"\n" + task + "}\n",
			[][]string{{":2,23: Invalid next_trigger_time", `"tomorrow": want an RFC 3339 time`}}},
		{"duplicate schedule", "schedule \"s\" {\n  interval_hours = 1\n" + task + "}\n" + "schedule \"s\" {\n  interval_hours = 2\n" + task + "}\n",
			[][]string{{":7,10: Duplicate schedule", `schedule "s" is already defined at`, "c.hcl:1"}}},
		{"bad task type", "schedule \"s\" {\n  interval_hours = 1\n  task {\n    type = \"a b\"\n  }\n}\n",
			[][]string{{":4,12: Invalid task type", `schedule "s": task: task type "a b": character ' ' at 1 is not allowed`}}},
		{"empty task type", "schedule \"s\" {\n  interval_hours = 1\n  task {\n    type = \"\"\n  }\n}\n",
			[][]string{{":4,12: Invalid task type", "task type is empty"}}},
		{"bad schedule id", "schedule \"\" {\n  interval_hours = 1\n" + task + "}\n",
			[][]string{{":1,10: Invalid schedule id", "schedule id must have 1 to 255 bytes"}}},
		{"no task", "schedule \"s\" {\n  interval_hours = 1\n}\n",
			[][]string{{":1,14: Missing task block", "A task block is required"}}},
		{"two tasks", "schedule \"s\" {\n  interval_hours = 1\n" + task + task + "}\n",
			[][]string{{":6,3: Duplicate task block"}}},
		{"negative retry count", "schedule \"s\" {\n  interval_hours = 1\n  task {\n    type = \"t\"\n    retry_count = -1\n  }\n}\n",
			[][]string{{":5,19: Invalid retry_count", "-1: want 0 or more"}}},
		{"bad retry interval", "schedule \"s\" {\n  interval_hours = 1\n  task {\n    type = \"t\"\n    retry_interval = \"0s\"\n  }\n}\n",
			[][]string{{":5,22: Invalid retry_interval", "want a positive duration"}}},
		{"bad retain for", "schedule \"s\" {\n  interval_hours = 1\n  task {\n    type = \"t\"\n    retain_for = \"always\"\n  }\n}\n",
			[][]string{{":5,18: Invalid retain_for", `"always": want a duration like "10m" or "forever"`}}},
		{"unknown schedule attribute", "schedule \"s\" {\n  interval_seconds = 5\n" + task + "}\n",
			[][]string{{":2,3: Unsupported argument", `"interval_seconds"`}}},
		{"payload with a variable", "schedule \"s\" {\n  interval_hours = 1\n  task {\n    type = \"t\"\n    payload = { a = var.x }\n  }\n}\n",
			[][]string{{":5,21: Variables not allowed"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, configDir(t), "c.hcl", tc.content)
			_, err := LoadConfig(path)
			for _, parts := range tc.lines {
				requireConfigError(t, err, append([]string{path + parts[0]}, parts[1:]...)...)
			}
			require.Len(t, strings.Split(err.Error(), "\n"), len(tc.lines), err.Error())
		})
	}
}
