package host

import (
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// logAttempt logs an attempt that failed or was cancelled, once, for a
// user finding out what happened to a task. WARN when the attempt lost its
// worker process to a crash or to the memory limit: those point at the
// plugin or its limits, not at the task, and an operator should see them.
// Anything else (a plugin's error, a timeout, a cancel) is an outcome a
// task may have in the normal run of things: INFO. Successes are counted,
// not logged; attempts a stop interrupted are logged by finish.
func (hd *handler) logAttempt(rec *store.Record, outcome Outcome, runErr error, ran time.Duration) {
	msg := "task attempt failed"
	switch outcome {
	case OutcomeRetry, OutcomeFailed:
	case OutcomeCancelled:
		msg = "task cancelled"
	default:
		return
	}
	// Only a cancel can end an attempt without a task error: one that came
	// before the method started, or just after it returned.
	name, message := shared.ErrorNameCancelled, "cancelled"
	if te, ok := errors.AsType[*shared.TaskError](runErr); ok {
		name, message = te.Name, te.Message
	} else if runErr != nil {
		message = runErr.Error()
	}
	level := hclog.Info
	if name == shared.ErrorNameWorkerCrashed || name == shared.ErrorNameMemoryLimit {
		level = hclog.Warn
	}
	hd.log.Log(level, msg, "task_id", rec.ID, "attempt", rec.Attempts, "outcome", outcome,
		"error", name, "message", message, "ran", ran.Round(time.Millisecond))
}
