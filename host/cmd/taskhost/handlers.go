package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

func handlersCommand() *command {
	return &command{
		name:    "handlers",
		summary: "Lists the registered handlers and their workers.",
		help: `WORKERS is live workers / the handler's cap; MIN the workers it keeps started
(min_workers); CONC the tasks one worker runs at once (concurrency); RUNNING the
tasks in flight; PIDS are the live workers' process ids; CALLS counts finished
calls and CRASHES workers lost to crashes.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("handlers", fs, e)
			asJSON := fs.Bool("json", false, "print the handlers as JSON")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("handlers", args, 0, 0, "no arguments"); err != nil {
					return err
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				hs, err := c.Handlers(ctx)
				if err != nil {
					return err
				}
				if *asJSON {
					if hs == nil {
						hs = []host.HandlerInfo{}
					}
					return printJSON(e.stdout, hs)
				}
				return printHandlers(e, hs)
			}
		},
	}
}

func printHandlers(e *env, hs []host.HandlerInfo) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tPLUGIN\tMETHOD\tWORKERS\tMIN\tCONC\tBUSY\tIDLE\tRUNNING\tPIDS\tCALLS\tCRASHES")
	for _, h := range hs {
		pids := make([]string, len(h.Pool.Workers))
		for i, w := range h.Pool.Workers {
			pids[i] = strconv.Itoa(w.PID)
		}
		pidList := strings.Join(pids, ",")
		if pidList == "" {
			pidList = "-"
		}
		plugin := h.Plugin
		if h.Script != "" {
			plugin = filepath.Base(h.Plugin) + " " + h.Script // node /…/worker.mjs
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n", h.Type, plugin, h.Method,
			h.Pool.Alive, h.Pool.Max, h.MinWorkers, max(h.Concurrency, 1), h.Pool.Busy, h.Pool.Idle, h.Pool.Running, pidList, h.Pool.Calls, h.Pool.Crashes)
	}
	return tw.Flush()
}

func schedulesCommand() *command {
	return &command{
		name:    "schedules",
		summary: "Lists the schedules: rule, next trigger, last run; JSON with --json.",
		help: `One line per trigger rule. RULE is "every <interval>", the cron expression,
or "once"; NEXT is "-" when the rule will not fire again, LAST RUN "-" before
its first run. Times are in UTC.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("schedules", fs, e)
			asJSON := fs.Bool("json", false, "print the schedules as JSON, as GET /v1/schedules gives them: {\"tasks\": {\"<id>\": [rules]}}")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("schedules", args, 0, 0, "no arguments"); err != nil {
					return err
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				s, err := c.Schedules(ctx)
				if err != nil {
					return err
				}
				if *asJSON {
					if s == nil {
						s = map[string][]shared.ScheduledTaskTimeInfo{}
					}
					return printJSON(e.stdout, api.SchedulesResponse{Tasks: s})
				}
				return printSchedules(e, s)
			}
		},
	}
}

// printSchedules prints one aligned row per rule, by schedule id.
func printSchedules(e *env, schedules map[string][]shared.ScheduledTaskTimeInfo) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRULE\tNEXT\tLAST RUN")
	for _, id := range slices.Sorted(maps.Keys(schedules)) {
		for _, t := range schedules[id] {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, ruleText(t.ScheduledTaskTime), optTableTime(t.NextTriggerTime), optTableTime(t.LastRunTime))
		}
	}
	return tw.Flush()
}

// ruleText says how a rule repeats: "every 1d2h30m", the cron
// expression, or "once".
func ruleText(t shared.ScheduledTaskTime) string {
	if t.Cron != "" {
		return t.Cron
	}
	var b strings.Builder
	for _, part := range []struct {
		n    int
		unit string
	}{{t.IntervalDays, "d"}, {t.IntervalHours, "h"}, {t.IntervalMinutes, "m"}} {
		if part.n != 0 {
			fmt.Fprintf(&b, "%d%s", part.n, part.unit)
		}
	}
	if b.Len() == 0 {
		return "once"
	}
	return "every " + b.String()
}

func optTableTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return tableTime(*t)
}
