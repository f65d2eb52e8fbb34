package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// keysOf returns the keys of a JSON object line in their order.
func keysOf(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	_, err := dec.Token()
	require.NoError(t, err, line)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err, line)
		keys = append(keys, k.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v), line)
	}
	return keys
}

func TestJSONLoggerKeepsArgumentOrder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newJSONLogger(&buf, hclog.Debug)
	l.Trace("hidden")
	call := l.Named("import").With("task_id", "t1", "method", "run")
	call.Info("batch done", "zulu", 1, "alpha", "x y", "mike", []int{1, 2}, "err", errors.New("disk full"))
	call.Named("csv").Warn("bad row", "row", 7)
	l.SetLevel(hclog.Warn)
	call.Info("hidden too: the level is shared")
	require.False(t, call.IsInfo())
	require.True(t, call.IsWarn())

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2, buf.String())
	require.Equal(t, []string{"@timestamp", "@level", "@message", "@module", "task_id", "method", "zulu", "alpha", "mike", "err"}, keysOf(t, lines[0]))
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, "info", first["@level"])
	require.Equal(t, "batch done", first["@message"])
	require.Equal(t, "import", first["@module"])
	require.Equal(t, "disk full", first["err"])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}`, first["@timestamp"])
	var second map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
	require.Equal(t, "warn", second["@level"])
	require.Equal(t, "import.csv", second["@module"])
	require.Equal(t, []any{"task_id", "t1", "method", "run"}, call.ImpliedArgs())
}

func TestJSONLoggerStandardWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newJSONLogger(&buf, hclog.Trace)
	std := l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	std.Print("[WARN] low disk")
	std.Print("plain")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], `"@level":"warn","@message":"low disk"`)
	require.Contains(t, lines[1], `"@level":"info","@message":"plain"`)
}
