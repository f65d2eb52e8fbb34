package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store"
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
// ContextIDTriggerTime), and its id is the firing's own, so the callback
// is idempotent: add it with scheduler.Idempotent, and each trigger
// creates exactly one task, across a crash and across the schedulers of
// several nodes. The task is on disk when the callback returns; an error
// (a bad type or payload, a closed store) is the scheduler's to log.
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
		nt := NewTask{Type: typ, Payload: payload, Options: opts}
		if fired {
			nt.ID = firingTaskID(f)
		}
		recs, err := h.create(ctx, []NewTask{nt}, nil)
		switch {
		case fired && errors.Is(err, store.ErrExists):
			// This firing's task exists: made by another node's scheduler,
			// or before a crash that kept the trigger from being claimed.
			h.log.Debug("scheduled task exists already", "schedule", f.ID, "trigger_time", f.TriggerTime, "task_id", nt.ID)
			return nil
		case err != nil:
			return fmt.Errorf("create task of type %q: %w", typ, err)
		}
		h.log.Debug("scheduled task created", "schedule", f.ID, "trigger_time", f.TriggerTime, "task_type", typ, "task_id", recs[0].ID)
		return nil
	}
}

// firingTaskID is the id of the task a firing creates: a UUIDv7 of the
// trigger time whose other bits are a hash of the schedule, rule and
// trigger, so that every scheduler firing that trigger names the same
// task, and ids still sort by time.
func firingTaskID(f scheduler.Firing) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", f.ID, f.Index, f.TriggerTime.UnixNano()))
	var u [16]byte
	copy(u[6:], sum[:10])
	ms := uint64(f.TriggerTime.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (8 * (5 - i)))
	}
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
	return hex.EncodeToString(u[:])
}
