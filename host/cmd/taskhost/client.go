package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/taskhost/taskhost/host/api"
)

// defaultAddr is where the client commands look for the host when
// neither --addr nor TASKHOST_ADDR says.
const defaultAddr = DefaultListen

// clientFlag is the --addr and --token flags every client command has.
type clientFlag struct {
	cmd   string
	addr  *string
	token *string
	env   *env
	// warned is set once the host answered with a warning (printed on
	// stderr).
	warned bool
}

func addClientFlag(cmd string, fs *flag.FlagSet, e *env) *clientFlag {
	def := e.getenv("TASKHOST_ADDR")
	if def == "" {
		def = defaultAddr
	}
	return &clientFlag{
		cmd:   cmd,
		addr:  fs.String("addr", def, "the host's `address`: host:port or http://host:port (env TASKHOST_ADDR)"),
		token: fs.String("token", "", "the host's API `token`, if it has one (default $TASKHOST_TOKEN)"),
		env:   e,
	}
}

func (f *clientFlag) client() (*api.Client, error) {
	token := *f.token
	if token == "" {
		token = f.env.getenv("TASKHOST_TOKEN") // not a flag default: help would print it
	}
	c, err := api.NewClient(*f.addr, api.WithToken(token), api.WithWarningHandler(func(text string) {
		f.warned = true
		fmt.Fprintf(f.env.stderr, "taskhost: warning: %s\n", text)
	}))
	if err != nil {
		return nil, usagef(f.cmd, "--addr: %v", err)
	}
	return c, nil
}

// wantArgs checks the number of positional arguments.
func wantArgs(cmd string, args []string, min, max int, synopsis string) error {
	if len(args) < min || len(args) > max {
		if len(args) > max {
			return usagef(cmd, "unexpected argument %q: want %s", args[max], synopsis)
		}
		return usagef(cmd, "missing arguments: want %s", synopsis)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
