package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

func createCommand() *command {
	return &command{
		name:    "create",
		args:    "TYPE [JSON|@FILE|-]",
		summary: "Creates a task and prints its id.",
		help: `The payload is the JSON argument, the contents of FILE, or standard input
for "-"; without one the task has no payload.

With --wait the command waits for the task to finish, showing its progress
on stderr, prints the final task as JSON instead of the id, and exits with
status 1 if the task failed or was cancelled. A task created without
--retain-for is removed once it finishes; --wait still sees its final state.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("create", fs, e)
			retryCount := fs.Int("retry-count", 0, "retry a failed run up to `N` times")
			retryInterval := fs.Duration("retry-interval", 0, "wait `DUR` before a retry (default: the host's, 5s unless configured)")
			var retainFor retainFlag
			fs.Var(&retainFor, "retain-for", "keep the finished task for `DUR`, or \"forever\" (default: remove it when finished)")
			wait := fs.Bool("wait", false, "wait for the task to finish and print it")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("create", args, 1, 2, "TYPE [JSON|@FILE|-]"); err != nil {
					return err
				}
				if *retryCount < 0 {
					return usagef("create", "--retry-count %d: want 0 or more", *retryCount)
				}
				if *retryInterval < 0 {
					return usagef("create", "--retry-interval %v: want a positive duration", *retryInterval)
				}
				var payload json.RawMessage
				if len(args) == 2 {
					var err error
					if payload, err = readPayload(args[1], e.stdin); err != nil {
						return err
					}
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				opts := host.CreateOptions{RetryCount: *retryCount, RetryInterval: *retryInterval, RetainFor: time.Duration(retainFor)}
				if *wait {
					return createAndWait(ctx, e, c, cf, args[0], payload, opts)
				}
				id, err := c.Create(ctx, args[0], payload, opts)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(e.stdout, id)
				return err
			}
		},
	}
}

// retainFlag is --retain-for: a duration or "forever".
type retainFlag time.Duration

func (f *retainFlag) String() string {
	if time.Duration(*f) == host.RetainForever {
		return "forever"
	}
	return time.Duration(*f).String()
}

func (f *retainFlag) Set(s string) error {
	if s == "forever" {
		*f = retainFlag(host.RetainForever)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return errors.New(`want a duration like "10m" or "forever"`)
	}
	*f = retainFlag(d)
	return nil
}

// readPayload reads the payload argument: JSON, @FILE or - for stdin.
func readPayload(arg string, stdin io.Reader) (json.RawMessage, error) {
	var data []byte
	var from string
	switch {
	case arg == "-":
		var err error
		if data, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("read payload from stdin: %w", err)
		}
		from = "stdin"
	case strings.HasPrefix(arg, "@"):
		var err error
		if data, err = os.ReadFile(arg[1:]); err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		from = arg[1:]
	default:
		if err := checkJSON([]byte(arg)); err != nil {
			return nil, usagef("create", "payload argument is not JSON: %v", err)
		}
		return json.RawMessage(arg), nil
	}
	if err := checkJSON(data); err != nil {
		return nil, fmt.Errorf("payload from %s is not JSON: %v", from, err)
	}
	return json.RawMessage(data), nil
}

func checkJSON(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("%v at byte %d", se, se.Offset)
	}
	return err
}

// createAndWait creates a task and follows it from before it is written
// (so that a task that ends at once is not missed), showing each change
// on stderr; it prints the final task on stdout and fails if it did not
// succeed.
func createAndWait(ctx context.Context, e *env, c *api.Client, cf *clientFlag, typ string, payload json.RawMessage, opts host.CreateOptions) error {
	var last shared.Task
	shown := ""
	id, err := c.CreateWatch(ctx, typ, payload, opts, func(t shared.Task) {
		if last.ID == "" {
			if cf.warned {
				fmt.Fprintf(e.stderr, "taskhost: created %s; waiting for a handler of type %q to register and run it (interrupt to stop waiting; the task stays)\n", t.ID, typ)
			} else {
				fmt.Fprintf(e.stderr, "taskhost: created %s, waiting for it to finish\n", t.ID)
			}
		}
		last = t
		if line := progressLine(t); line != shown {
			fmt.Fprintf(e.stderr, "taskhost: %s %s\n", t.ID, line)
			shown = line
		}
	})
	switch {
	case err != nil && id == "":
		return err
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("stopped waiting for task %s, which is %s; it goes on without you", id, last.Status)
	case err != nil:
		return fmt.Errorf("watch task %s: %w", id, err)
	case id == "":
		return errors.New("the host ended the answer to the create before sending the task")
	}
	if !last.Status.Terminal() {
		// The stream ended early (the host is stopping, say): ask once more.
		t, err := c.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("task %s: the event stream ended while the task was %s: %w", id, last.Status, err)
		}
		if !t.Status.Terminal() {
			return fmt.Errorf("task %s: the event stream ended while the task is %s", id, t.Status)
		}
		last = t
	}
	if err := printJSON(e.stdout, last); err != nil {
		return err
	}
	switch last.Status {
	case shared.StatusFailed:
		if last.Error != nil {
			return fmt.Errorf("task %s failed: %s", id, strings.Join(strings.Fields(last.Error.Error()), " "))
		}
		return fmt.Errorf("task %s failed", id)
	case shared.StatusCancelled:
		return fmt.Errorf("task %s was cancelled", id)
	}
	return nil
}

// progressLine says where a task is: its status, and its progress while
// it has one.
func progressLine(t shared.Task) string {
	line := string(t.Status)
	if t.Progress != nil && t.Status == shared.StatusProcessing {
		line += fmt.Sprintf(" %.0f%%", t.Progress.Percent)
		if t.Progress.Message != "" {
			line += " " + strings.Join(strings.Fields(t.Progress.Message), " ")
		}
	}
	if t.Status == shared.StatusPending && t.Error != nil {
		line += " (retrying after " + t.Error.Name + ")"
	}
	return line
}
