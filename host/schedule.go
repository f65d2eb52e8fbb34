package host

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/taskhost/taskhost/host/scheduler"
)

// Context ids of a task a schedule created: which schedule, and the
// trigger that fired it (RFC 3339 with milliseconds, UTC).
const (
	ContextIDSchedule    = "scheduleId"
	ContextIDTriggerTime = "triggerTime"
)

// TaskCallback returns a scheduler callback that creates a task of typ
// with payload and opts each time its schedule fires: a schedule that
// runs in a handler's plugin. The task's contextIds also say which
// schedule and trigger created it (ContextIDSchedule,
// ContextIDTriggerTime). The task is on disk when the callback returns;
// an error (a bad type or payload, a closed store) is the scheduler's to
// log.
func (h *Host) TaskCallback(typ string, payload json.RawMessage, opts CreateOptions) scheduler.Callback {
	return func(ctx context.Context) error {
		f, fired := scheduler.FiringFrom(ctx)
		if fired {
			ids := maps.Clone(opts.ContextIDs)
			if ids == nil {
				ids = make(map[string]string, 2)
			}
			ids[ContextIDSchedule] = f.ID
			ids[ContextIDTriggerTime] = f.TriggerTime.UTC().Format("2006-01-02T15:04:05.000Z07:00")
			opts.ContextIDs = ids
		}
		id, err := h.Create(ctx, typ, payload, opts)
		if err != nil {
			return fmt.Errorf("create task of type %q: %w", typ, err)
		}
		h.log.Debug("scheduled task created", "schedule", f.ID, "trigger_time", f.TriggerTime, "task_type", typ, "task_id", id)
		return nil
	}
}
