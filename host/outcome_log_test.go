package host_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testlog"
	"github.com/taskhost/taskhost/shared"
)

// Every attempt that does not succeed is logged once, at INFO, or at WARN
// when a worker process was lost under it; nothing else about it is
// logged at WARN or ERROR.
func TestEveryFailedAttemptIsLoggedOnce(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.New(hclog.Info)
	e := setup(t, func(o *host.Options) {
		o.Logger = logger
		o.SystemWorkerCount = 8 // every task runs at once
	})
	timeout := func(o *host.HandlerOptions) { o.ExecutionTimeout = 200 * time.Millisecond }
	e.register("fail", "fail")
	e.register("exit", "exit")
	e.register("sleep", "sleep", timeout)
	e.register("hang", "hang", timeout)
	e.register("alloc", "alloc", func(o *host.HandlerOptions) { o.MemoryLimit = 64 << 20 })
	e.register("cancel", "sleep")
	e.register("echo", "echo")

	keep := host.CreateOptions{RetainFor: host.RetainForever}
	type attempt struct{ level, outcome, errName string }
	cases := []struct {
		typ, payload string
		opts         host.CreateOptions
		final        shared.Status
		attempts     []attempt
	}{
		{"fail", `{"message":"disk full"}`, host.CreateOptions{RetryCount: 1, RetryInterval: time.Millisecond, RetainFor: host.RetainForever},
			shared.StatusFailed, []attempt{{"INFO", "retry", "Error"}, {"INFO", "failed", "Error"}}},
		{"exit", `{"code":7}`, keep, shared.StatusFailed, []attempt{{"WARN", "failed", shared.ErrorNameWorkerCrashed}}},
		{"sleep", `{"ms":60000}`, keep, shared.StatusFailed, []attempt{{"INFO", "failed", shared.ErrorNameExecutionTimeout}}},
		// Killed after the cancel grace: the pool's kill is not logged again.
		{"hang", `{}`, keep, shared.StatusFailed, []attempt{{"INFO", "failed", shared.ErrorNameExecutionTimeout}}},
		{"alloc", `{"MB":256,"HoldMS":30000}`, keep, shared.StatusFailed, []attempt{{"WARN", "failed", shared.ErrorNameMemoryLimit}}},
		{"cancel", `{"ms":60000}`, keep, shared.StatusCancelled, []attempt{{"INFO", "cancelled", shared.ErrorNameCancelled}}},
		{"echo", `{}`, keep, shared.StatusSuccess, nil},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		ids[i] = e.create(tc.typ, tc.payload, tc.opts)
	}
	// Cancelled while its method runs, not while it waits for a worker.
	eventually(t, "the task to cancel to run", func() bool {
		for _, hi := range e.h.Handlers() {
			if hi.Type == "cancel" {
				return len(hi.Pool.Workers) == 1 && hi.Pool.Workers[0].Busy
			}
		}
		return false
	})
	require.NoError(t, e.h.Cancel(context.Background(), ids[5]))
	for i, tc := range cases {
		e.waitStatus(ids[i], tc.final)
	}
	e.shutdown() // every outcome is logged by now

	for i, tc := range cases {
		lines := logs.Matching("task_id=" + ids[i])
		require.Len(t, lines, len(tc.attempts), "%s:\n%s", tc.typ, logs)
		for n, a := range tc.attempts {
			line := lines[n]
			require.Contains(t, line, "["+a.level+"]", line)
			for _, field := range []string{
				"task_type=" + tc.typ, fmt.Sprintf("attempt=%d", n+1), "outcome=" + a.outcome, "error=" + a.errName, "message=",
			} {
				require.Contains(t, line, field, line)
			}
		}
	}
	var warnOrError []string
	for _, line := range logs.Lines() {
		if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
			warnOrError = append(warnOrError, line)
		}
	}
	require.Len(t, warnOrError, 2, "only the crash and the memory kill: %s", strings.Join(warnOrError, "\n"))
}
