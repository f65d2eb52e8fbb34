package store

import (
	"slices"
	"time"

	"github.com/taskhost/taskhost/shared"
)

// Schedule is a scheduled task as the scheduler (host/scheduler) keeps
// it: its trigger rules as added and where each of them stands. Its
// callback is code and lives only in the scheduler.
type Schedule struct {
	ID string
	// Times are the rules as added. Adding the schedule again with
	// [SameTimes] keeps the stored Triggers; other Times replace them.
	Times []shared.ScheduledTaskTime
	// Triggers holds one entry per rule, in the order of Times.
	Triggers []Trigger
}

// Trigger is where one rule of a schedule stands.
type Trigger struct {
	// Next is when the rule fires next; nil when it never fires again (a
	// one-shot that has fired).
	Next *time.Time
	// LastRun is the trigger time of the last firing claimed; nil before
	// the first.
	LastRun *time.Time
}

// SameTimes reports whether two lists of rules are the same schedule:
// equal rules in the same order, trigger times compared to the
// millisecond (the precision of their JSON).
func SameTimes(a, b []shared.ScheduledTaskTime) bool {
	return slices.EqualFunc(a, b, func(x, y shared.ScheduledTaskTime) bool {
		if (x.NextTriggerTime == nil) != (y.NextTriggerTime == nil) ||
			x.NextTriggerTime != nil && x.NextTriggerTime.UnixMilli() != y.NextTriggerTime.UnixMilli() {
			return false
		}
		x.NextTriggerTime, y.NextTriggerTime = nil, nil
		return x == y
	})
}
