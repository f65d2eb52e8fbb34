package pool

import (
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

	sdkKeys := []string{"a", "b", "c", "d", "method", "task_id"} // hclog sorts its JSON keys
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
