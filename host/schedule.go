package host

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/taskhost/taskhost/host/scheduler"
)

// TaskCallback returns a scheduler callback that creates a task of typ
// with payload and opts each time its schedule fires: a schedule that
// runs in a handler's plugin. The task is on disk when the callback
// returns; an error (a bad type or payload, a closed store) is the
// scheduler's to log.
func (h *Host) TaskCallback(typ string, payload json.RawMessage, opts CreateOptions) scheduler.Callback {
	return func(ctx context.Context) error {
		id, err := h.Create(ctx, typ, payload, opts)
		if err != nil {
			return fmt.Errorf("create task of type %q: %w", typ, err)
		}
		f, _ := scheduler.FiringFrom(ctx)
		h.log.Debug("scheduled task created", "schedule", f.ID, "trigger_time", f.TriggerTime, "task_type", typ, "task_id", id)
		return nil
	}
}
