package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/taskhost/taskhost/host"
)

func handlersCommand() *command {
	return &command{
		name:    "handlers",
		summary: "Lists the registered handlers and their workers.",
		help: `WORKERS is live workers / the handler's cap; PIDS are the live workers'
process ids; CALLS counts finished calls and CRASHES workers lost to crashes.`,
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
	fmt.Fprintln(tw, "TYPE\tPLUGIN\tMETHOD\tWORKERS\tBUSY\tIDLE\tPIDS\tCALLS\tCRASHES")
	for _, h := range hs {
		pids := make([]string, len(h.Pool.Workers))
		for i, w := range h.Pool.Workers {
			pids[i] = strconv.Itoa(w.PID)
		}
		pidList := strings.Join(pids, ",")
		if pidList == "" {
			pidList = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%s\t%d\t%d\n", h.Type, h.Plugin, h.Method,
			h.Pool.Alive, h.Pool.Max, h.Pool.Busy, h.Pool.Idle, pidList, h.Pool.Calls, h.Pool.Crashes)
	}
	return tw.Flush()
}

func schedulesCommand() *command {
	return &command{
		name:    "schedules",
		summary: "Prints the scheduled tasks and their trigger rules as JSON.",
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("schedules", fs, e)
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
				return printJSON(e.stdout, s)
			}
		},
	}
}
