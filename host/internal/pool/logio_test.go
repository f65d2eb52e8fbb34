package pool

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/internal/testlog"
)

var (
	logKey       = regexp.MustCompile(`(?:^|\s)([\w@.]+)=`)
	logTimestamp = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)
)

// keysAmong returns the keys of a text log line that are in want, in the
// line's order.
func keysAmong(line string, want ...string) []string {
	var keys []string
	for _, m := range logKey.FindAllStringSubmatch(line, -1) {
		for _, w := range want {
			if m[1] == w {
				keys = append(keys, w)
			}
		}
	}
	return keys
}

// go-plugin decoded each JSON log line of a plugin into a map, so the keys
// came out in a different order on every line, and it passed the plugin's
// timestamp on as one more key.
func TestPluginLogLinesKeepTheirKeyOrderAndOneTimestamp(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.New(hclog.Debug)
	cfg := setup(t)
	cfg.Method, cfg.Logger = "log", logger
	p := newPool(t, NewSystem(1), cfg)
	_, err := call(t, p, `{"lines":8}`)
	require.NoError(t, err)
	// The lines come on stderr, not with the answer.
	eventually(t, "the plugin's log lines", func() bool {
		return len(logs.Matching("raw line")) == 8 && len(logs.Matching("sdk line")) == 8
	})

	sdkKeys := []string{"task_id", "method", "zulu", "bravo", "yankee", "alpha"} // the call's, then the line's
	for _, line := range logs.Matching("sdk line") {
		require.Equal(t, sdkKeys, keysAmong(line, sdkKeys...), line)
		require.Contains(t, line, "[INFO]", line)
		require.Len(t, logTimestamp.FindAllString(line, -1), 1, line)
		require.NotContains(t, line, "timestamp=", line)
	}
	rawKeys := []string{"zulu", "alpha", "mike"}
	for _, line := range logs.Matching("raw line") {
		require.Equal(t, rawKeys, keysAmong(line, rawKeys...), line)
		require.Len(t, logTimestamp.FindAllString(line, -1), 1, line)
		require.Contains(t, line, "testworker.js: raw line", "@module names the logger: %s", line)
		require.NotContains(t, line, "@module", line)
	}

	// A plain line (here before an exit) is logged once, as it is, and
	// still explains the exit.
	cfg.Method = "exit"
	p = newPool(t, NewSystem(1), cfg)
	_, err = call(t, p, `{"code":3}`)
	requireTaskError(t, err, "WorkerCrashed", "exit status 3", "testworker: exiting with code 3")
	require.Len(t, logs.Matching("testworker: exiting with code 3"), 1, logs.String())
}

// A worker's start is logged with its pid and how long it took, as its
// exit is; the check run at registration is logged as that, not as a
// worker 0 that started and exited.
func TestWorkerStartExitAndCheckAreLogged(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.New(hclog.Info)
	cfg := setup(t)
	cfg.IdleShutdownTimeout, cfg.Logger = 0, logger
	p := newPool(t, NewSystem(1), cfg)

	checked := logs.Matching("plugin checked")
	require.Len(t, checked, 1, logs.String())
	require.Contains(t, checked[0], "plugin="+testworker)
	require.Regexp(t, `methods="?\[.*\becho\b.*\bpid\b`, checked[0])
	require.Regexp(t, `took=\d`, checked[0])
	require.Empty(t, logs.Matching("worker=0"), logs.String())

	pid := callPID(t, p, `{}`)
	eventually(t, "the worker's exit line", func() bool { return len(logs.Matching("exited")) > 0 })
	at := fmt.Sprintf("pid=%d", pid)
	started := logs.Matching("worker started", at)
	require.Len(t, started, 1, logs.String())
	require.Contains(t, started[0], "[INFO]")
	require.Contains(t, started[0], "worker=1")
	require.Regexp(t, `took=\d`, started[0])
	exited := logs.Matching("exited")
	require.Len(t, exited, 1, logs.String())
	require.Contains(t, exited[0], "[INFO]")
	require.Contains(t, exited[0], "worker exited")
	require.Contains(t, exited[0], "worker=1")
	require.Contains(t, exited[0], at)
	require.Contains(t, exited[0], `status="exit status 0"`)
}

func TestLineWriterCutsOverlongLines(t *testing.T) {
	t.Parallel()
	var got []string
	w := &lineWriter{line: func(s string) { got = append(got, s) }}
	long := strings.Repeat("x", maxLogLine+10)
	for _, piece := range []string{"one\r", "\ntw", "o\n", long[:100], long[100:], "\n", "partial"} {
		_, err := w.Write([]byte(piece))
		require.NoError(t, err)
	}
	require.Equal(t, []string{"one", "two", long[:maxLogLine], long[maxLogLine:]}, got)
}
