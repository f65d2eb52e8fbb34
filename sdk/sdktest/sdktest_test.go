package sdktest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
)

// logMethods exports "log", which logs one line at debug and one at info.
func logMethods() sdk.Methods {
	return sdk.Methods{"log": sdk.Func(func(ctx context.Context, _ sdk.Task, _ struct{}) (struct{}, error) {
		sdk.Logger(ctx).Debug("decoded the payload")
		sdk.Logger(ctx).Info("resized the image")
		return struct{}{}, nil
	})}
}

// helperEnv makes TestLogHelper run; TestTestOutputHasLogLinesOnlyWhenAsked
// sets it in the child process whose output it reads.
const helperEnv = "SDKTEST_LOG_HELPER"

func TestLogHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run in a child process by TestTestOutputHasLogLinesOnlyWhenAsked")
	}
	p := sdktest.Start(t, logMethods())
	_, err := sdktest.Call[struct{}](context.Background(), p, "log", nil)
	require.NoError(t, err)
}

// The test output is a whole process's stdout and stderr (go-plugin's
// logger wrote to os.Stderr), so a child test binary runs TestLogHelper
// and this test reads all of it.
func TestTestOutputHasLogLinesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level  string // TASKHOST_TEST_LOG
		want   []string
		absent []string
	}{
		{"", []string{"--- PASS: TestLogHelper"}, []string{"[TRACE]", "[DEBUG]", "[INFO]", "[WARN]", "[ERROR]", "stdio"}},
		{"info", []string{"--- PASS: TestLogHelper", "[INFO]  plugin: resized the image"}, []string{"[DEBUG]", "stdio"}},
		{"debug", []string{"--- PASS: TestLogHelper", "[DEBUG] plugin: decoded the payload", "[INFO]  plugin: resized the image"}, []string{"stdio"}},
		{"loud", []string{"--- FAIL: TestLogHelper", `TASKHOST_TEST_LOG="loud": want trace, debug, info, warn, error or off`}, nil},
	} {
		t.Run("level="+tc.level, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestLogHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(withoutEnv(os.Environ(), sdktest.LogEnv), helperEnv+"=1")
			if tc.level != "" {
				cmd.Env = append(cmd.Env, sdktest.LogEnv+"="+tc.level)
			}
			out, _ := cmd.CombinedOutput() // the "loud" case exits non-zero; the output says how it went
			for _, s := range tc.want {
				require.Contains(t, string(out), s)
			}
			for _, s := range tc.absent {
				require.NotContains(t, string(out), s)
			}
		})
	}
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWithLoggerReceivesMethodLines(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &buf})
	p := sdktest.Start(t, logMethods(), sdktest.WithLogger(logger))
	_, err := p.Call(context.Background(), "log", sdk.Task{ID: "t1"}, nil, nil)
	require.NoError(t, err)
	require.Contains(t, buf.String(), "[DEBUG] decoded the payload: method=log task_id=t1")
	require.Contains(t, buf.String(), "[INFO]  resized the image: method=log task_id=t1")
}
