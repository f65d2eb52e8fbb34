package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

const helperEnv = "TASKHOST_HOST_TEST_HOST"

// runHelperHost is a host process for TestHostKilledMidTaskResumes. In
// mode "create" it creates a slow task and waits to be killed once it is
// processing; in mode "resume" it starts on the same data and prints the
// task once it has finished. Every transition is appended to a file.
func runHelperHost() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	dir, mode := os.Getenv("TASKHOST_DATA"), os.Getenv(helperEnv)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr})
	st, err := badgerstore.Open(dir, badgerstore.Options{Logger: log})
	if err != nil {
		fail(err)
	}
	h, err := host.New(st, host.Options{Logger: log})
	if err != nil {
		fail(err)
	}
	transitions, err := os.OpenFile(os.Getenv("TASKHOST_TRANSITIONS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err)
	}
	processing := make(chan struct{}, 1)
	record := func(_ context.Context, t shared.Task) error {
		fmt.Fprintf(transitions, "%s %s\n", t.ID, t.Status)
		if t.Status == shared.StatusProcessing {
			processing <- struct{}{}
		}
		return transitions.Sync()
	}
	ctx := context.Background()
	if err := h.RegisterHandler(ctx, "slow", os.Getenv("TASKHOST_TESTWORKER"), "slowfirst", record, host.HandlerOptions{}); err != nil {
		fail(err)
	}
	if err := h.Start(ctx); err != nil {
		fail(err)
	}
	switch mode {
	case "create":
		id, err := h.Create(ctx, "slow", json.RawMessage(`{"ms":600000}`), host.CreateOptions{RetryCount: 1, RetainFor: host.RetainForever})
		if err != nil {
			fail(err)
		}
		fmt.Println(id)
		<-processing
		fmt.Println("processing")
		select {} // until killed
	case "resume":
		watch, err := h.Watch(ctx, os.Getenv("TASKHOST_TASK"))
		if err != nil {
			fail(err)
		}
		var last shared.Task
		for t := range watch {
			last = t
		}
		b, _ := json.Marshal(last)
		fmt.Println(string(b))
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := h.Stop(stopCtx); err != nil {
			fail(err)
		}
		if err := st.Close(); err != nil {
			fail(err)
		}
	}
	os.Exit(0)
}

func helperHost(t *testing.T, mode, dir, bin, transitions, id string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "TASKHOST_DATA="+dir, "TASKHOST_TESTWORKER="+bin,
		"TASKHOST_TRANSITIONS="+transitions, "TASKHOST_TASK="+id)
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// A test that fails early must not leave its host behind.
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

func nextLine(t *testing.T, sc *bufio.Scanner) string {
	t.Helper()
	require.True(t, sc.Scan(), "helper host ended early: %v", sc.Err())
	line := sc.Text()
	require.False(t, strings.HasPrefix(line, "error:"), line)
	return line
}

func TestHostKilledMidTaskResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	transitions := filepath.Join(dir, "transitions")
	// A copy of the plugin of this test's own, to count its processes.
	b, err := os.ReadFile(testworker)
	require.NoError(t, err)
	bin := filepath.Join(dir, "testworker")
	require.NoError(t, testplugin.WriteExecutable(bin, b))

	first, out := helperHost(t, "create", data, bin, transitions, "")
	id := nextLine(t, out)
	require.Equal(t, "processing", nextLine(t, out))
	eventually(t, "the task to run in a plugin process", func() bool { return len(testplugin.Running(bin)) == 1 })

	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	eventually(t, "the orphaned plugin to die", func() bool { return len(testplugin.Running(bin)) == 0 })

	second, out := helperHost(t, "resume", data, bin, transitions, id)
	var final shared.Task
	require.NoError(t, json.Unmarshal([]byte(nextLine(t, out)), &final))
	require.NoError(t, second.Wait())

	require.Equal(t, shared.StatusSuccess, final.Status)
	require.JSONEq(t, `2`, string(final.Result), "the second attempt finished the task")
	require.Nil(t, final.RetriesRemaining)

	b, err = os.ReadFile(transitions)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%[1]s processing\n%[1]s processing\n%[1]s success\n", id), string(b),
		"one run per host, one terminal transition")
}
