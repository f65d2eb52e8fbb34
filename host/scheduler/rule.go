package scheduler

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/taskhost/taskhost/shared"
)

// rule is a parsed trigger rule: what comes after a trigger.
type rule struct {
	// interval is the rule's intervals, or the delay of an "@every" cron
	// descriptor: both are a series anchored at the first trigger (to
	// the millisecond, not rounded to the second as a cron daemon
	// would). 0 without.
	interval time.Duration
	// cron is the parsed Cron, nil without (and for "@every").
	cron cron.Schedule
}

const everyPrefix = "@every "

// ValidateCron checks a cron expression as AddTask does: a standard
// 5-field expression (optionally after CRON_TZ=<zone>) or a descriptor
// such as "@daily" or "@every 30s" (whole seconds, at least 1s) that
// fires at least once more. The error wraps shared.ErrInvalidArgument.
func ValidateCron(spec string) error {
	_, err := parseCron(spec, time.Now())
	return err
}

func parseCron(spec string, now time.Time) (rule, error) {
	bad := func(format string, args ...any) (rule, error) {
		return rule{}, fmt.Errorf("%w: cron %q: %s", shared.ErrInvalidArgument, spec, fmt.Sprintf(format, args...))
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return bad("%v: want 5 fields (minute hour day-of-month month day-of-week), like \"0 3 * * *\", or a descriptor like \"@daily\" or \"@every 30s\"", err)
	}
	if d, ok := strings.CutPrefix(strings.TrimSpace(spec), everyPrefix); ok {
		// The library rounds what it cannot do; refuse it instead.
		every, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || every < time.Second || every%time.Second != 0 {
			return bad("want a whole number of seconds, at least 1s")
		}
		return rule{interval: every}, nil
	}
	r := rule{cron: sched}
	if r.next(now).IsZero() {
		return bad("it never fires")
	}
	return r, nil
}

// parseRule checks a rule and parses it.
func parseRule(t shared.ScheduledTaskTime, now time.Time) (rule, error) {
	if t.IntervalDays < 0 || t.IntervalHours < 0 || t.IntervalMinutes < 0 {
		return rule{}, fmt.Errorf("%w: intervals must not be negative (intervalDays %d, intervalHours %d, intervalMinutes %d)",
			shared.ErrInvalidArgument, t.IntervalDays, t.IntervalHours, t.IntervalMinutes)
	}
	// Bounded one by one first, so that the sum cannot overflow.
	const maxMinutes = int64(math.MaxInt64 / time.Minute)
	if int64(t.IntervalDays) > maxMinutes/(24*60) || int64(t.IntervalHours) > maxMinutes/60 || int64(t.IntervalMinutes) > maxMinutes ||
		int64(t.IntervalDays)*24*60+int64(t.IntervalHours)*60+int64(t.IntervalMinutes) > maxMinutes {
		return rule{}, fmt.Errorf("%w: the intervals add up to more than 292 years", shared.ErrInvalidArgument)
	}
	interval := t.Interval()
	switch {
	case t.Cron != "" && interval > 0:
		return rule{}, fmt.Errorf("%w: a time has cron %q and intervals: give one or the other", shared.ErrInvalidArgument, t.Cron)
	case t.Cron != "":
		return parseCron(t.Cron, now)
	case interval == 0 && t.NextTriggerTime == nil:
		return rule{}, fmt.Errorf("%w: a time has no trigger: give nextTriggerTime, an interval or cron", shared.ErrInvalidArgument)
	}
	return rule{interval: interval}, nil
}

// first is the first trigger of a new schedule's rule t.
func (r rule) first(t shared.ScheduledTaskTime, now time.Time) *time.Time {
	switch {
	case t.NextTriggerTime != nil:
		at := t.NextTriggerTime.UTC()
		return &at
	case r.cron != nil:
		return optional(r.next(now))
	}
	at := now.Add(r.interval)
	return &at
}

// after is the trigger after the one due at due, which fires at now: the
// first time of the rule's series after due that is strictly after now
// (so a late trigger is followed by the next one to come, never by a
// burst of missed ones); nil when the rule fires once or never again.
func (r rule) after(due, now time.Time) *time.Time {
	switch {
	case r.cron != nil:
		if now.After(due) {
			due = now
		}
		return optional(r.next(due))
	case r.interval == 0:
		return nil
	}
	next := due.Add(r.interval)
	if !next.After(now) {
		next = next.Add((now.Sub(next)/r.interval + 1) * r.interval)
	}
	return &next
}

// next is the first cron time strictly after t, in UTC; zero if there is
// none. Cron fields are in the host's time zone unless the expression
// names one.
func (r rule) next(t time.Time) time.Time {
	n := r.cron.Next(t.Local())
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

func optional(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
