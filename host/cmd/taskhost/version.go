package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "Prints the version, the commit and the Go version it was built from.",
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			return func(_ context.Context, args []string) error {
				if err := wantArgs("version", args, 0, 0, "no arguments"); err != nil {
					return err
				}
				return printVersion(e.stdout)
			}
		},
	}
}

// printVersion prints what the build info says of this binary: the main
// module's version, the VCS commit (and its time, and whether the tree
// had changes), and the Go version and platform.
func printVersion(w io.Writer) error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Errorf("this binary has no build information")
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var commit, when, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			when = " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if commit == "" {
		commit, when = "unknown", " (built without version control information)"
	}
	_, err := fmt.Fprintf(w, "taskhost %s\ncommit   %s%s%s\ngo       %s %s/%s\n",
		version, commit, when, modified, info.GoVersion, runtime.GOOS, runtime.GOARCH)
	return err
}
