package main

import (
	"context"
	"flag"

	"github.com/taskhost/taskhost/host/api"
)

func getCommand() *command {
	return &command{
		name:    "get",
		args:    "ID",
		summary: "Prints a task as JSON.",
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("get", fs, e)
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("get", args, 1, 1, "ID"); err != nil {
					return err
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				t, err := c.Get(ctx, args[0])
				if err != nil {
					return err
				}
				return printJSON(e.stdout, t)
			}
		},
	}
}

// taskActionCommand is a command that does one thing to one task and
// prints nothing when it worked.
func taskActionCommand(name, summary string, action func(*api.Client, context.Context, string) error) *command {
	return &command{
		name:    name,
		args:    "ID",
		summary: summary,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag(name, fs, e)
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(name, args, 1, 1, "ID"); err != nil {
					return err
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				return action(c, ctx, args[0])
			}
		},
	}
}
