// Command tasksoak runs a host under a steady mixed load for a long time
// and checks that it does not grow: an in-process host on a Badger store in
// a fresh directory, real plugins/testworker subprocesses, tasks created at
// a steady rate: echoes, sleeps, progress reports, failures with retries,
// worker crashes (os.Exit and panics) and execution timeouts (a method that
// honours its deadline, and one that hangs and loses its worker).
//
//	go run ./host/cmd/tasksoak [-duration 10m] [-rate 10] [-report 30s] [-log FILE]
//
// Every -report it prints the host process's resident memory (VmRSS), its
// live Go heap after a collection, goroutines, open file descriptors,
// tasks created and done, the backlog and the workers' spawns, crashes,
// timeouts and kills; and once more at the end. Then it judges (see
// judge.go) and exits non-zero if something grew, a task ended otherwise
// than its kind must, or a plugin process outlived the host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/host/internal/testplugin"
)

type config struct {
	duration time.Duration
	rate     float64
	report   time.Duration
	sample   time.Duration
	warmup   time.Duration
	rssSlack float64
	workers  int
	plugin   string
	dir      string
	log      string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("tasksoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to create tasks")
	fs.Float64Var(&c.rate, "rate", 10, "tasks created per second")
	fs.DurationVar(&c.report, "report", 30*time.Second, "how often to print the figures")
	fs.DurationVar(&c.sample, "sample", 5*time.Second, "how often to sample them for the verdict")
	fs.DurationVar(&c.warmup, "warmup", 0, "samples left out of the verdict at the start (default: a sixth of -duration, at most 1m)")
	fs.Float64Var(&c.rssSlack, "rss-slack", 96, "MiB the RSS may grow beyond 25% between the first and last thirds (Badger's memtable filling; see judge.go)")
	fs.IntVar(&c.workers, "workers", 16, "the host's system worker cap (the handlers' caps add up to 13)")
	fs.StringVar(&c.log, "log", "", "write the host's warnings and errors to this file (default: discard them)")
	fs.StringVar(&c.plugin, "plugin", "", "testworker binary to use (default: build plugins/testworker)")
	fs.StringVar(&c.dir, "dir", "", "directory for the store and the plugin (default: a fresh one, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.duration <= 0 || c.rate <= 0 || c.report <= 0 || c.sample <= 0 || c.workers < 1:
		return c, errors.New("-duration, -rate, -report, -sample and -workers must be positive")
	case c.warmup < 0 || c.rssSlack < 0:
		return c, errors.New("-warmup and -rss-slack must not be negative")
	}
	if c.warmup == 0 {
		c.warmup = min(c.duration/6, time.Minute)
	}
	return c, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tasksoak:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir := cfg.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tasksoak-"); err != nil {
			fmt.Fprintln(stderr, "tasksoak:", err)
			return 1
		}
		defer os.RemoveAll(dir)
	}
	if cfg.plugin == "" {
		fmt.Fprintln(stderr, "tasksoak: building plugins/testworker")
		if cfg.plugin, err = testplugin.Build(dir, "testworker"); err != nil {
			fmt.Fprintln(stderr, "tasksoak:", err)
			return 1
		}
	}
	verdict, err := soak(ctx, cfg, dir, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "tasksoak:", err)
		return 1
	}
	for _, v := range verdict {
		fmt.Fprintln(stdout, v)
	}
	if failed(verdict) {
		fmt.Fprintln(stdout, "FAIL")
		return 1
	}
	fmt.Fprintln(stdout, "PASS")
	return 0
}
