// Package scheduler runs callbacks on schedules: the host's version of
// twin's ITaskSchedulerComponent ([Scheduler.AddTask], [Scheduler.RemoveTask],
// [Scheduler.TasksInfo]), persisted in the task store so that restarts
// and several schedulers on one store agree on what has run.
//
// # Rules
//
// A schedule has one or more trigger rules ([shared.ScheduledTaskTime]).
// Without NextTriggerTime a rule first fires at now + its intervals (with
// Cron: at the first cron time after now); with it, at that instant.
// After firing at T it fires next at T + the intervals (with Cron: the
// first cron time after T). A rule with neither intervals nor Cron fires
// once and stays listed without a next trigger. Cron takes a standard
// 5-field expression, evaluated in the host's time zone unless it starts
// with CRON_TZ=<zone>, or a descriptor such as "@daily" or "@every 30s".
// "@every d" (whole seconds, at least 1s) is an interval of d: its series
// starts at the first trigger, to the millisecond, not at a whole second.
//
// # Firing
//
// One timer waits for the earliest trigger across all schedules and is
// reset whenever a schedule is added, removed or fires: a trigger fires
// as soon as its time has come, not on a polling tick.
//
// Before a callback runs, its firing is claimed in the store: the
// trigger's stored next time is compared and moved on in one durable
// transaction. Only the claimer runs the callback, so a trigger runs at
// most once even when several schedulers share a store, and never twice
// across a crash and restart. The price is that a crash between the claim
// and the end of the callback loses that one firing.
//
// A trigger whose time passed while nothing ran it (the host was down, or
// the schedule's previous run was still going) fires once, as soon as it
// can, with its planned time; the next trigger is then the first time of
// its series strictly after now. Missed triggers never fire in a burst.
//
// Each firing runs on its own goroutine, so a slow callback delays no
// other schedule. Runs of one schedule never overlap in a scheduler: a
// trigger that comes due while the schedule's previous run is still going
// waits for it to end and then fires once, as above. A callback that
// returns an error or panics is logged with the schedule id; the schedule
// goes on. The callback's context carries its [Firing]; it is cancelled
// only when [Scheduler.Stop] gives up waiting.
//
// # Persistence
//
// Each schedule's rules, next triggers and last runs are in the store
// (see [Store]). Adding a schedule whose rules equal the stored ones keeps
// the stored next triggers and last runs: that is what makes a restart
// resume (and catch up) instead of starting afresh; other rules replace
// them. Schedules in one store are shared: the last AddTask of an id
// defines its rules, and a scheduler that finds the stored rules changed
// by another one adopts them. Callbacks are code and are never stored:
// a schedule fires only in schedulers it was added to since they started.
//
// The package knows the store only through [Store]; it knows nothing
// about tasks, plugins or HTTP.
package scheduler
