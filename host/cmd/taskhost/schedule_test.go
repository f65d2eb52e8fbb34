package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

type fakeSchedules map[string][]shared.ScheduledTaskTimeInfo

func (f fakeSchedules) TasksInfo(context.Context) (shared.ScheduledTasksInfo, error) {
	return shared.ScheduledTasksInfo{Tasks: f}, nil
}

// requireColumns checks that each row has, at the column of each header,
// the expected cell.
func requireColumns(t *testing.T, out string, headers []string, rows [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, len(rows)+1, out)
	for i, h := range headers {
		at := strings.Index(lines[0], h)
		require.GreaterOrEqual(t, at, 0, "header %q in %q", h, lines[0])
		for j, row := range rows {
			line := lines[j+1]
			require.True(t, strings.HasPrefix(line[at:], row[i]+" ") || line[at:] == row[i], "column %s of %q: want %q", h, line, row[i])
		}
	}
}

func TestSchedulesTable(t *testing.T) {
	t.Parallel()
	next := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	last := time.Date(2030, 1, 1, 3, 4, 5, 678e6, time.UTC)
	src := fakeSchedules{
		"nightly-report": {{ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &next, Cron: "30 3 * * 1-5"}, LastRunTime: &last}},
		"daily-sync": {
			{ScheduledTaskTime: shared.ScheduledTaskTime{NextTriggerTime: &next, IntervalDays: 1, IntervalMinutes: 30}},
			{ScheduledTaskTime: shared.ScheduledTaskTime{IntervalHours: 2}, LastRunTime: &last},
		},
		"migration": {{LastRunTime: &last}},
	}
	srv := api.NewServer(&fakeEngine{}, api.ServerOptions{Schedules: src})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")

	r := taskhost(t, addr, "", "schedules")
	require.Equal(t, 0, r.code, r.stderr)
	requireColumns(t, r.stdout, []string{"ID", "RULE", "NEXT", "LAST RUN"}, [][]string{
		{"daily-sync", "every 1d30m", "2030-01-02T03:04:05Z", "-"},
		{"daily-sync", "every 2h", "-", "2030-01-01T03:04:05Z"},
		{"migration", "once", "-", "2030-01-01T03:04:05Z"},
		{"nightly-report", "30 3 * * 1-5", "2030-01-02T03:04:05Z", "2030-01-01T03:04:05Z"},
	})

	r = taskhost(t, addr, "", "schedules", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"tasks": {
		"daily-sync": [{"nextTriggerTime": 1893553445000, "intervalDays": 1, "intervalMinutes": 30}, {"intervalHours": 2, "lastRunTime": 1893467045678}],
		"migration": [{"lastRunTime": 1893467045678}],
		"nightly-report": [{"nextTriggerTime": 1893553445000, "cron": "30 3 * * 1-5", "lastRunTime": 1893467045678}]
	}}`, r.stdout)
	// Exactly what the API gives.
	resp, err := http.Get("http://" + addr + "/v1/schedules")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.JSONEq(t, string(body), r.stdout)
}

// TestServeConfigSchedule runs `taskhost serve` with a schedule in its
// config: each firing creates a task that completes in a plugin, the
// schedule shows in `taskhost schedules`, and SIGTERM stops it all.
func TestServeConfigSchedule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, err := testplugin.Build(dir, "testworker")
	require.NoError(t, err)
	first := time.Now().Add(200 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	config := fmt.Sprintf(`
data_dir = "data"
listen   = "127.0.0.1:0"

handler "echo" {
  plugin = %q
  method = "echo"
}

schedule "echo-every-second" {
  cron              = "@every 1s"
  next_trigger_time = %q
  task {
    type       = "echo"
    payload    = { source = "schedule", sizes = [1, 2] }
    retain_for = "forever"
  }
}
`, bin, first)
	cfgPath := filepath.Join(dir, "taskhost.hcl")
	require.NoError(t, os.WriteFile(cfgPath, []byte(config), 0o644))

	cmd := exec.Command(taskhostBin, "serve", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	addrRE := regexp.MustCompile(`serving the API: addr=http://(\S+)`)
	lines := bufio.NewScanner(stderr)
	var addr string
	for addr == "" && lines.Scan() {
		t.Log(lines.Text())
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	require.NotEmpty(t, addr, "taskhost serve ended before serving")
	go func() { _, _ = io.Copy(scheduleTestLog{t}, stderr) }()

	c, err := api.NewClient(addr)
	require.NoError(t, err)
	var done []shared.Task
	waitUntil(t, "two scheduled tasks to succeed", func() bool {
		page, err := c.List(t.Context(), host.Query{Type: "echo", Status: shared.StatusSuccess})
		require.NoError(t, err)
		done = page.Tasks
		return len(done) >= 2
	})
	for _, task := range done {
		require.JSONEq(t, `{"source":"schedule","sizes":[1,2]}`, string(task.Result), "the echo of the configured payload")
	}

	r := taskhost(t, addr, "", "schedules", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var infos shared.ScheduledTasksInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &infos), r.stdout)
	require.Len(t, infos.Tasks["echo-every-second"], 1)
	got := infos.Tasks["echo-every-second"][0]
	require.Equal(t, "@every 1s", got.Cron)
	require.NotNil(t, got.LastRunTime)
	require.NotNil(t, got.NextTriggerTime)
	require.True(t, got.NextTriggerTime.After(*got.LastRunTime))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

type scheduleTestLog struct{ t *testing.T }

func (w scheduleTestLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
