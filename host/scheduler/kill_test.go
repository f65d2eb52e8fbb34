package scheduler_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

const helperEnv = "TASKHOST_SCHEDULER_TEST_HELPER"

// runHelper is a host process for TestKilledHostCatchesUpOnce: a
// scheduler on the store in $TASKHOST_DATA with a schedule "@every 1s"
// from $TASKHOST_FIRST (unix ms; the same in every run, so that a restart
// adds the same rules) whose callback appends its trigger time (unix ms)
// to $TASKHOST_FIRINGS and prints "fired <ms>". It prints "start <ms>"
// first and runs until it is killed.
func runHelper() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Printf("start %d\n", time.Now().UnixMilli())
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr})
	st, err := badgerstore.Open(os.Getenv("TASKHOST_DATA"), badgerstore.Options{Logger: log})
	if err != nil {
		fail(err)
	}
	s, err := scheduler.New(st, scheduler.Options{Logger: log})
	if err != nil {
		fail(err)
	}
	out, err := os.OpenFile(os.Getenv("TASKHOST_FIRINGS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err)
	}
	firstMS, err := strconv.ParseInt(os.Getenv("TASKHOST_FIRST"), 10, 64)
	if err != nil {
		fail(err)
	}
	first := time.UnixMilli(firstMS)
	var mu sync.Mutex
	record := func(ctx context.Context) error {
		f, _ := scheduler.FiringFrom(ctx)
		ms := f.TriggerTime.UnixMilli()
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(out, "%d\n", ms); err != nil {
			return err
		}
		if err := out.Sync(); err != nil {
			return err
		}
		fmt.Printf("fired %d\n", ms)
		return nil
	}
	ctx := context.Background()
	if err := s.AddTask(ctx, "tick", []shared.ScheduledTaskTime{{NextTriggerTime: &first, Cron: "@every 1s"}}, record); err != nil {
		fail(err)
	}
	if err := s.Start(ctx); err != nil {
		fail(err)
	}
	select {} // until killed
}

type helperProc struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

func startHelper(t *testing.T, data, firings string, first time.Time) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "TASKHOST_DATA="+data, "TASKHOST_FIRINGS="+firings,
		"TASKHOST_FIRST="+strconv.FormatInt(first.UnixMilli(), 10))
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return &helperProc{cmd: cmd, lines: bufio.NewScanner(out)}
}

// next reads the helper's next line, which starts with word, and returns
// the time it carries.
func (p *helperProc) next(t *testing.T, word string) time.Time {
	t.Helper()
	require.True(t, p.lines.Scan(), "helper ended early: %v", p.lines.Err())
	f := strings.Fields(p.lines.Text())
	require.Len(t, f, 2, p.lines.Text())
	require.Equal(t, word, f[0], p.lines.Text())
	ms, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return time.UnixMilli(ms).UTC()
}

func (p *helperProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
}

func readFirings(t *testing.T, path string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []time.Time
	for _, line := range strings.Fields(string(b)) {
		ms, err := strconv.ParseInt(line, 10, 64)
		require.NoError(t, err, "line %q", line)
		out = append(out, time.UnixMilli(ms).UTC())
	}
	return out
}

// TestKilledHostCatchesUpOnce kills a host process running an "@every
// 1s" schedule, lets triggers pass, and starts it again: no trigger runs
// twice, and the missed ones run exactly once together (catch-up), with
// the time of the first one missed; then the schedule goes on from now.
func TestKilledHostCatchesUpOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, firings := filepath.Join(dir, "data"), filepath.Join(dir, "firings")

	start := time.Now().Add(200 * time.Millisecond)
	first := startHelper(t, data, firings, start)
	first.next(t, "start")
	first.next(t, "fired")
	first.next(t, "fired")
	first.kill(t)
	before := readFirings(t, firings)
	require.GreaterOrEqual(t, len(before), 2)
	last := before[len(before)-1]
	require.Equal(t, msTime(start), before[0])
	for i := 1; i < len(before); i++ {
		require.Equal(t, before[i-1].Add(time.Second), before[i], "consecutive seconds: %v", before)
	}
	// Let at least two triggers pass with no host running.
	eventually(t, "triggers to pass while the host is down", func() bool { return time.Now().After(last.Add(3 * time.Second)) })

	second := startHelper(t, data, firings, start)
	restart := second.next(t, "start")
	catchUp := second.next(t, "fired")
	second.next(t, "fired")
	second.kill(t)

	all := readFirings(t, firings)
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, time.Time.Compare)
	require.Equal(t, len(sorted), len(slices.Compact(sorted)), "a trigger ran twice: %v", all)

	after := all[len(before):]
	var missed []time.Time
	for _, at := range after {
		if at.Before(restart) {
			missed = append(missed, at)
		}
	}
	require.Equal(t, []time.Time{catchUp}, missed, "exactly one catch-up firing, first after the restart")
	require.Len(t, after, 2)
	require.Equal(t, time.Duration(0), after[1].Sub(msTime(start))%time.Second, "then on the series again: %v", after)
	require.True(t, catchUp.After(last), "catch-up %v after the last run %v", catchUp, last)
	require.True(t, catchUp.Before(last.Add(3*time.Second)), "the catch-up is the first trigger missed (or the one claimed as the host died): %v after %v", catchUp, last)
}
