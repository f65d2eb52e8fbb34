package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/taskhost/taskhost/host/api"
)

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand of taskhost.
type command struct {
	name string
	// args is the synopsis after the name, flags excluded.
	args    string
	summary string
	// help is the longer description --help prints.
	help string
	// ownSignals: the command handles SIGINT and SIGTERM itself; others
	// get a context that they cancel.
	ownSignals bool
	// setup defines the command's flags on fs and returns the function
	// that runs the command with the positional arguments once the flags
	// are parsed.
	setup func(fs *flag.FlagSet, e *env) (run func(ctx context.Context, args []string) error)
}

func commands() []*command {
	return []*command{
		serveCommand(),
		createCommand(),
		getCommand(),
		listCommand(),
		taskActionCommand("cancel", "Cancels a pending or processing task.", (*api.Client).Cancel),
		taskActionCommand("retry", "Makes a pending task due now, or re-queues a failed one.", (*api.Client).Retry),
		taskActionCommand("remove", "Removes a task, cancelling it first if it runs.", (*api.Client).Remove),
		handlersCommand(),
		schedulesCommand(),
		nodesCommand(),
		migrateCommand(),
		versionCommand(),
	}
}

// usageError is a mistake in how taskhost was called: exit status 2.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return fmt.Sprintf("%v (run 'taskhost help')", e.err)
	}
	return fmt.Sprintf("%s: %v (run 'taskhost %s --help')", e.cmd, e.err, e.cmd)
}

func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// run runs taskhost with args (without the program name) and returns the
// exit status: 0, 1 for errors, 2 for usage errors.
func run(args []string, e *env) int {
	args = moveAddrFlag(args)
	if len(args) == 0 {
		printUsage(e.stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			printUsage(e.stdout)
			return 0
		}
		name, rest = rest[0], []string{"--help"}
	case "-version", "--version":
		name = "version"
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		return report(e, usagef("", "unknown command %q", name))
	}
	ctx := context.Background()
	if !cmd.ownSignals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return report(e, cmd.run(ctx, e, rest))
}

// moveAddrFlag moves an --addr flag given before the command name after
// it, so that "taskhost --addr H list" works like "taskhost list --addr H".
func moveAddrFlag(args []string) []string {
	var addr []string
	for len(args) > 0 {
		switch a := args[0]; {
		case (a == "--addr" || a == "-addr") && len(args) > 1:
			addr, args = append(addr, args[:2]...), args[2:]
		case strings.HasPrefix(a, "--addr=") || strings.HasPrefix(a, "-addr="):
			addr, args = append(addr, a), args[1:]
		default:
			return append(append([]string{args[0]}, addr...), args[1:]...)
		}
	}
	return args // no command
}

// run parses the command's flags, which may stand before, between or
// after the positional arguments, and runs it.
func (c *command) run(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	runFn := c.setup(fs, e)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(e.stdout, fs)
		return nil
	}
	if err != nil {
		return &usageError{cmd: c.name, err: err}
	}
	return runFn(ctx, pos)
}

// parseInterspersed parses args into fs and returns the positional
// arguments; unlike fs.Parse it goes on after a positional argument. "--"
// ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// report prints err, one line per line of it, and returns the exit
// status.
func report(e *env, err error) int {
	if err == nil {
		return 0
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(e.stderr, "taskhost: %s\n", line)
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		return 2
	}
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `taskhost runs background tasks in handler plugins, and talks to a running host.

usage: taskhost COMMAND [ARGS] [FLAGS]

commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help       Prints this, or with a command its flags.

Flags may stand before or after arguments. The client commands talk to the
host at --addr, default $TASKHOST_ADDR or `+defaultAddr+`.
Run 'taskhost COMMAND --help' for a command's flags.
`)
}

func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: taskhost %s", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, " [FLAGS]\n\n%s\n", c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	fmt.Fprint(w, "\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n        %s", usage)
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			if !strings.Contains(usage, "(default") {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}
