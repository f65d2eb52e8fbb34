package host_test

// The fault suite, part 2: the host process is killed with SIGKILL at
// random moments while tasks of four kinds flow, and restarted on the same
// data directory, round after round; a last round runs without a kill
// until every task is finished. TASKHOST_FAULT_ROUNDS and
// TASKHOST_FAULT_TASKS size it (make test-faults: 20 and 200; by default a
// short form); TASKHOST_FAULT_SEED replays a run's random choices.
//
// The host runs in a child process, this test binary re-executed
// (runFaultHost). Each round's child first writes a snapshot of every
// stored task (what the last kill left), then starts the host and creates
// that round's share of the tasks while the earlier ones run, so that
// kills land in creates, recoveries, claims, runs and outcomes alike. What
// is checked is written at checkKillRounds.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

const faultHostEnv = "TASKHOST_FAULT_HOST"

// The task kinds of the kill rounds, each its own task type.
const (
	kindFast    = "fault-fast"    // echo: returns its payload at once
	kindSlow    = "fault-slow"    // sleep 20–500 ms; retryCount 1 (never used)
	kindFailing = "fault-failing" // record, then fail; retryCount 2, every 20 ms
	kindRecord  = "fault-record"  // record, then succeed; retryCount 1 (never used)
)

var faultKinds = []string{kindFast, kindSlow, kindFailing, kindRecord}

// faultHandlers are the child host's handlers: caps and idle timeouts
// differ so that workers are kept, reaped and started all the time.
var faultHandlers = []struct {
	typ, method string
	opts        host.HandlerOptions
}{
	{kindFast, "echo", host.HandlerOptions{MaxWorkerCount: 2, IdleShutdownTimeout: 0}},
	{kindSlow, "sleep", host.HandlerOptions{MaxWorkerCount: 2, IdleShutdownTimeout: host.KeepForever}},
	{kindFailing, "record", host.HandlerOptions{MaxWorkerCount: 2, IdleShutdownTimeout: 100 * time.Millisecond}},
	{kindRecord, "record", host.HandlerOptions{MaxWorkerCount: 1, IdleShutdownTimeout: host.KeepForever}},
}

// faultSpec is one task the kill rounds create: number n (its contextIds
// "n", by which a snapshot tells which task it is).
type faultSpec struct {
	N             int             `json:"n"`
	Kind          string          `json:"kind"`
	Payload       json.RawMessage `json:"payload"`
	RetryCount    int             `json:"retryCount"`
	RetryInterval time.Duration   `json:"retryInterval"`
}

// snapLine is one task of a snapshot file (a store.Record's JSON would
// lose Attempts to the embedded Task's MarshalJSON).
type snapLine struct {
	Task     shared.Task `json:"task"`
	Attempts int         `json:"attempts"`
}

// runFaultHost is the child host process. It opens the store and writes
// every task in it to the file TASKHOST_SNAPSHOT (whole or not at all).
// Then it registers the handlers (the plugin at TASKHOST_TESTWORKER) with
// a state-change callback that appends "<id> <status> <retriesRemaining|->"
// to the file TASKHOST_TRANSITIONS and syncs it, starts, prints "started",
// creates the tasks of the spec file TASKHOST_SPEC numbered below
// TASKHOST_UPTO that the store does not hold yet, and prints "created". In
// mode "run" it then waits to be killed; in mode "final" it waits until no
// task is pending or processing, stops, closes the store and prints
// "done".
func runFaultHost() {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	mode := os.Getenv(faultHostEnv)
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr})
	st, err := badgerstore.Open(os.Getenv("TASKHOST_DATA"), badgerstore.Options{Logger: log})
	if err != nil {
		fail(err)
	}
	recs, err := readAll(ctx, st)
	if err != nil {
		fail(err)
	}
	have := map[string]bool{}
	var snap []byte
	for _, rec := range recs {
		have[rec.ContextIDs["n"]] = true
		b, err := json.Marshal(snapLine{Task: rec.Task, Attempts: rec.Attempts})
		if err != nil {
			fail(err)
		}
		snap = append(append(snap, b...), '\n')
	}
	if err := writeFileSynced(os.Getenv("TASKHOST_SNAPSHOT"), snap); err != nil {
		fail(err)
	}

	h, err := host.New(st, host.Options{Logger: log, SystemWorkerCount: 8})
	if err != nil {
		fail(err)
	}
	transitions, err := os.OpenFile(os.Getenv("TASKHOST_TRANSITIONS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err)
	}
	record := func(_ context.Context, t shared.Task) error {
		rr := "-"
		if t.RetriesRemaining != nil {
			rr = strconv.Itoa(*t.RetriesRemaining)
		}
		// One write(2) per line on an O_APPEND file: the handlers'
		// callback goroutines never interleave within a line.
		_, err := fmt.Fprintf(transitions, "%s %s %s\n", t.ID, t.Status, rr)
		return errors.Join(err, transitions.Sync())
	}
	for _, hd := range faultHandlers {
		if err := h.RegisterHandler(ctx, hd.typ, os.Getenv("TASKHOST_TESTWORKER"), hd.method, record, hd.opts); err != nil {
			fail(err)
		}
	}
	if err := h.Start(ctx); err != nil {
		fail(err)
	}
	fmt.Println("started")

	b, err := os.ReadFile(os.Getenv("TASKHOST_SPEC"))
	if err != nil {
		fail(err)
	}
	var specs []faultSpec
	if err := json.Unmarshal(b, &specs); err != nil {
		fail(err)
	}
	upto, err := strconv.Atoi(os.Getenv("TASKHOST_UPTO"))
	if err != nil {
		fail(err)
	}
	var batch []host.NewTask
	for _, sp := range specs[:upto] {
		n := strconv.Itoa(sp.N)
		if have[n] {
			continue
		}
		batch = append(batch, host.NewTask{Type: sp.Kind, Payload: sp.Payload, Options: host.CreateOptions{
			RetryCount: sp.RetryCount, RetryInterval: sp.RetryInterval,
			RetainFor: host.RetainForever, ContextIDs: map[string]string{"n": n},
		}})
	}
	if len(batch) > 0 {
		if _, err := h.CreateMany(ctx, batch); err != nil {
			fail(err)
		}
	}
	fmt.Println("created")
	if mode != "final" {
		select {} // until killed
	}

	for {
		busy := false
		for _, s := range []shared.Status{shared.StatusPending, shared.StatusProcessing} {
			page, err := h.Query(ctx, host.Query{Status: s, Limit: 1})
			if err != nil {
				fail(err)
			}
			busy = busy || len(page.Tasks) > 0
		}
		if !busy {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.Stop(stopCtx); err != nil {
		fail(err)
	}
	if err := st.Close(); err != nil {
		fail(err)
	}
	fmt.Println("done")
	os.Exit(0)
}

// readAll reads every task of the store.
func readAll(ctx context.Context, st store.Store) ([]*store.Record, error) {
	var out []*store.Record
	q := store.Query{Limit: store.MaxLimit}
	for {
		page, err := st.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Tasks...)
		if page.Cursor == "" {
			return out, nil
		}
		q.Cursor = page.Cursor
	}
}

// writeFileSynced writes b to path whole or not at all: a kill leaves
// either no file or the complete one.
func writeFileSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// faultTask is a task of the kill rounds.
type faultTask struct {
	faultSpec
	id    string
	round int // the (effective) round that created it
}

// transition is one line of a round's transition log.
type transition struct {
	status  shared.Status
	retries string // "-" when nil
}

// killRounds is what a run of the rounds left for checkKillRounds. Its
// rounds are the effective ones: a round killed before its child wrote its
// snapshot did nothing (the child had not started the host) and is left
// out. The last round is the one not killed.
type killRounds struct {
	tasks []faultTask
	// before[r] is every task as stored when round r started, and those
	// it created as they were created; after[r] every task when it ended.
	before, after []map[string]*store.Record
	// transitions[r][id] and runs[r][id] (the attempt numbers of the
	// plugin-side record lines) are what round r logged.
	transitions []map[string][]transition
	runs        []map[string][]int
}

func faultSize(t *testing.T) (rounds, tasks int, seed uint64) {
	t.Helper()
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		require.NoError(t, err, name)
		require.Positive(t, n, name)
		return n
	}
	rounds, tasks = num("TASKHOST_FAULT_ROUNDS", 3), num("TASKHOST_FAULT_TASKS", 60)
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("TASKHOST_FAULT_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "TASKHOST_FAULT_SEED")
	}
	return rounds, tasks, seed
}

func TestFaultKillRounds(t *testing.T) {
	t.Parallel()
	rounds, total, seed := faultSize(t)
	t.Logf("%d kill rounds, %d tasks, TASKHOST_FAULT_SEED=%d", rounds, total, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	began := time.Now()

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	recordFile := filepath.Join(dir, "record")
	// A copy of the plugin of this test's own, to count its processes.
	b, err := os.ReadFile(testworker)
	require.NoError(t, err)
	bin := filepath.Join(dir, "testworker")
	require.NoError(t, testplugin.WriteExecutable(bin, b))
	specs := faultSpecs(rng, total, recordFile)
	b, err = json.Marshal(specs)
	require.NoError(t, err)
	specFile := filepath.Join(dir, "spec.json")
	require.NoError(t, os.WriteFile(specFile, b, 0o644))

	type round struct {
		upto        int
		snapshot    map[string]*store.Record // nil: killed before it wrote one
		transitions map[string][]transition
		runs        map[string][]int
	}
	var all []round
	var startupKills int
	for r := 0; r <= rounds; r++ {
		final := r == rounds
		// The killed rounds create the tasks, in equal shares; the last
		// creates whatever a kill kept an earlier round from creating.
		rd := round{upto: min(total*(r+1)/rounds, total)}
		snapshotFile := filepath.Join(dir, fmt.Sprintf("snapshot.%d", r))
		transitionFile := filepath.Join(dir, fmt.Sprintf("transitions.%d", r))
		child := startFaultHost(t, final, faultHostEnvVars(data, bin, specFile, rd.upto, snapshotFile, transitionFile))
		if final {
			child.wait(t, "done", 5*time.Minute)
			require.NoError(t, child.cmd.Wait(), "the last round ends cleanly")
		} else {
			// Let it run a random short time, then kill it: now and then
			// while it is still starting (opening the store, recovering,
			// probing plugins, creating tasks), mostly while tasks run.
			if rng.IntN(4) != 0 {
				child.wait(t, "created", time.Minute)
			}
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			require.NoError(t, child.cmd.Process.Signal(syscall.SIGKILL))
			_ = child.cmd.Wait()
			if !child.printed(t, "created") {
				startupKills++
			}
		}
		require.False(t, child.raced.Load(), "the race detector reported a data race in the host (see the log)")
		eventually(t, fmt.Sprintf("no testworker process to survive round %d", r), func() bool {
			return len(testplugin.Running(bin)) == 0
		})
		// No plugin process is left to write to it: the next round gets a
		// record file of its own.
		roundRecords := fmt.Sprintf("%s.%d", recordFile, r)
		if err := os.Rename(recordFile, roundRecords); err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
		rd.snapshot = readSnapshot(t, snapshotFile)
		rd.transitions = readTransitions(t, transitionFile)
		rd.runs = readRuns(t, roundRecords)
		all = append(all, rd)
	}
	st := openFaultStore(t, data)
	recs, err := readAll(context.Background(), st)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	final := map[string]*store.Record{}
	for _, rec := range recs {
		final[rec.ID] = rec
	}

	// The effective rounds, and which task each created.
	kr := &killRounds{}
	byN := map[string]*store.Record{}
	for _, rec := range final {
		byN[rec.ContextIDs["n"]] = rec
	}
	require.Len(t, byN, len(final), "one task per spec")
	var nulls int
	for r, rd := range all {
		if rd.snapshot == nil {
			nulls++
			require.Empty(t, rd.transitions, "round %d did nothing before its snapshot", r)
			require.Empty(t, rd.runs, "round %d did nothing before its snapshot", r)
			continue
		}
		kr.before = append(kr.before, rd.snapshot)
		kr.transitions = append(kr.transitions, rd.transitions)
		kr.runs = append(kr.runs, rd.runs)
		if len(kr.before) > 1 {
			kr.after = append(kr.after, rd.snapshot)
		}
	}
	kr.after = append(kr.after, final)
	for _, sp := range specs {
		rec := byN[strconv.Itoa(sp.N)]
		require.NotNil(t, rec, "task %d was never created", sp.N)
		tk := faultTask{faultSpec: sp, id: rec.ID, round: -1}
		for r := range kr.before {
			if kr.before[r][tk.id] == nil && kr.after[r][tk.id] != nil {
				tk.round = r
				// As created: pending, no attempt yet.
				created := &store.Record{Task: shared.Task{ID: tk.id, Type: sp.Kind, Status: shared.StatusPending}}
				if sp.RetryCount > 0 {
					created.RetriesRemaining = &sp.RetryCount
				}
				kr.before[r][tk.id] = created
				break
			}
		}
		require.GreaterOrEqual(t, tk.round, 0, "task %d: created in no round", sp.N)
		kr.tasks = append(kr.tasks, tk)
	}

	stats := checkKillRounds(t, kr)
	t.Logf("%d rounds (%d killed before creating their tasks, %d before their snapshot), %d tasks in %v: "+
		"%d plugin runs interrupted by a kill, %d tasks found processing after a kill, "+
		"%d terminal callbacks lost to a kill",
		rounds, startupKills, nulls, total, time.Since(began).Round(time.Second),
		stats.interrupted, stats.recovered, stats.lostCallbacks)
}

// faultSpecs are the tasks of a run: kinds in turn.
func faultSpecs(rng *rand.Rand, total int, recordFile string) []faultSpec {
	specs := make([]faultSpec, total)
	for n := range specs {
		sp := faultSpec{N: n, Kind: faultKinds[n%len(faultKinds)]}
		switch sp.Kind {
		case kindFast:
			sp.Payload = json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))
		case kindSlow:
			sp.Payload = json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 20+rng.IntN(481)))
			sp.RetryCount = 1
		case kindFailing:
			sp.Payload = json.RawMessage(fmt.Sprintf(`{"file":%q,"fail":"flaky %d"}`, recordFile, n))
			sp.RetryCount, sp.RetryInterval = 2, 20*time.Millisecond
		case kindRecord:
			sp.Payload = json.RawMessage(fmt.Sprintf(`{"file":%q}`, recordFile))
			sp.RetryCount = 1
		}
		specs[n] = sp
	}
	return specs
}

func faultHostEnvVars(data, bin, spec string, upto int, snapshot, transitions string) []string {
	return []string{
		"TASKHOST_DATA=" + data, "TASKHOST_TESTWORKER=" + bin, "TASKHOST_SPEC=" + spec,
		"TASKHOST_UPTO=" + strconv.Itoa(upto), "TASKHOST_SNAPSHOT=" + snapshot, "TASKHOST_TRANSITIONS=" + transitions,
	}
}

func openFaultStore(t *testing.T, dir string) *badgerstore.Store {
	t.Helper()
	st, err := badgerstore.Open(dir, badgerstore.Options{
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}}),
	})
	require.NoError(t, err)
	return st
}

// readSnapshot reads a child's snapshot file; nil if it wrote none.
func readSnapshot(t *testing.T, path string) map[string]*store.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	out := map[string]*store.Record{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var sl snapLine
		require.NoError(t, json.Unmarshal([]byte(line), &sl), line)
		rec := &store.Record{Task: sl.Task}
		rec.Attempts = sl.Attempts
		out[sl.Task.ID] = rec
	}
	return out
}

// faultHost is a running child host.
type faultHost struct {
	cmd   *exec.Cmd
	lines chan string // its stdout, closed at its end
	seen  map[string]bool
	raced atomic.Bool
}

func startFaultHost(t *testing.T, final bool, env []string) *faultHost {
	t.Helper()
	mode := "run"
	if final {
		mode = "final"
	}
	fh := &faultHost{lines: make(chan string, 16), seen: map[string]bool{}}
	fh.cmd = exec.Command(os.Args[0], "-test.run=^$")
	fh.cmd.Env = append(append(os.Environ(), faultHostEnv+"="+mode), env...)
	fh.cmd.Stderr = raceWatch{w: testWriter{t}, raced: &fh.raced}
	// A pipe of our own rather than StdoutPipe: what the child printed
	// before a kill can still be read after Wait.
	out, w, err := os.Pipe()
	require.NoError(t, err)
	fh.cmd.Stdout = w
	err = fh.cmd.Start()
	w.Close()
	require.NoError(t, err)
	// A test that fails early must not leave its host behind (Kill after
	// a clean exit is harmless).
	t.Cleanup(func() { _ = fh.cmd.Process.Kill() })
	go func() {
		defer close(fh.lines)
		defer out.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fh.lines <- sc.Text()
		}
	}()
	return fh
}

// wait waits for the child to print want.
func (fh *faultHost) wait(t *testing.T, want string, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case line, ok := <-fh.lines:
			require.True(t, ok, "the host ended before printing %q", want)
			require.False(t, strings.HasPrefix(line, "error:"), line)
			fh.seen[line] = true
			if line == want {
				return
			}
		case <-deadline:
			_ = fh.cmd.Process.Kill()
			t.Fatalf("timed out waiting for the host to print %q", want)
		}
	}
}

// printed reports, once the child is gone, whether it printed line.
func (fh *faultHost) printed(t *testing.T, line string) bool {
	t.Helper()
	for l := range fh.lines {
		require.False(t, strings.HasPrefix(l, "error:"), l)
		fh.seen[l] = true
	}
	return fh.seen[line]
}

// raceWatch passes the child's stderr on and notes a race report (which
// the race detector prints at once, even in a process killed later).
type raceWatch struct {
	w     testWriter
	raced *atomic.Bool
}

func (r raceWatch) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "WARNING: DATA RACE") {
		r.raced.Store(true)
	}
	return r.w.Write(b)
}

var (
	transitionLine = regexp.MustCompile(`^([0-9a-f]{32}) ([a-z]+) (-|\d+)$`)
	recordLine     = regexp.MustCompile(`^([0-9a-f]{32}) (\d+)$`)
)

func readTransitions(t *testing.T, path string) map[string][]transition {
	t.Helper()
	out := map[string][]transition{}
	for _, line := range readLines(t, path) {
		m := transitionLine.FindStringSubmatch(line)
		require.NotNil(t, m, "transition line %q", line)
		out[m[1]] = append(out[m[1]], transition{status: shared.Status(m[2]), retries: m[3]})
	}
	return out
}

func readRuns(t *testing.T, path string) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for _, line := range readLines(t, path) {
		m := recordLine.FindStringSubmatch(line)
		require.NotNil(t, m, "record line %q", line)
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		out[m[1]] = append(out[m[1]], n)
	}
	return out
}

// readLines returns a file's lines; none if it does not exist (no
// transition or run happened in that round).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// killStats are the figures of a run of the kill rounds.
type killStats struct {
	interrupted   int // plugin runs whose outcome a kill prevented
	recovered     int // tasks found processing after a kill
	lostCallbacks int // terminal transitions made durable whose callback a kill prevented
}

// The transitions a round may log for one task: claims and retries in
// turn, and at most one terminal state, last. A kill may cut the log short
// anywhere (the callback runs after the store write, on a queue).
var roundPattern = regexp.MustCompile(`^(P R )*(P (T )?)?$`)

// checkKillRounds checks the outcome of the rounds. Durable means written
// by the store (which syncs every write but a claim before returning).
//
//   - None lost: every task created is in the store after every round, and
//     at the end there is no other; every task is terminal at the end, with
//     the outcome of its kind: fast and slow tasks succeeded with their
//     payload as result, record tasks with the attempt number of their last
//     run, failing tasks failed with their own error and retriesRemaining 0.
//   - None completed twice: a task terminal before a round is unchanged by
//     it (status, dates, attempts, result), logs no transition and runs no
//     plugin method in it. Per round, a task logs claims (P) and retries (R)
//     in turn and at most one terminal transition (T), last. A terminal
//     transition is logged only after it is durable, so it may never
//     repeat: at most one per task over all rounds, logged in the round
//     where the store first shows the task terminal, with that status. A
//     task may have none only if it became terminal in a killed round (its
//     callback was still queued when the kill came); in the last round,
//     which ends with a clean stop, the log holds every transition.
//   - Retries not over-consumed: retriesRemaining never grows; slow and
//     record tasks (retryCount 1, never failing) keep it at 1 until they
//     succeed, whatever kill interrupted them, so a recovered processing
//     task uses no retry. For failing tasks, per round, the durable
//     outcomes (retries used, plus 1 if it failed for good) are at most the
//     plugin runs the round recorded and at least those runs minus one if
//     the round was killed (the run the kill interrupted), exactly equal in
//     the last round: every retry used is a run that failed, and over all
//     rounds a failing task ran 3 times plus at most once per kill that
//     interrupted it. The logged retries show the count going down one at a
//     time.
//   - Plugin side effects: record and failing tasks' runs are their lines
//     in the record file, "<id> <attempt>", synced by the plugin before it
//     returns. A record task ran at least once and at most once plus once
//     per kill that interrupted it (the same per-round bound as failing
//     tasks, with outcome 1 when it succeeded in the round). Each run has
//     its own attempt number, increasing, within the attempts the store
//     counted in that round. (A claim is not synced, but under SIGKILL what
//     Badger committed is in the page cache and survives: only a power
//     loss could lose a claim and hand its attempt number out again.)
//     Fast and slow tasks record nothing.
//   - Claims: a round logs at most as many claims of a task as the store
//     counted attempts in it, exactly as many in the last round.
func checkKillRounds(t *testing.T, kr *killRounds) killStats {
	t.Helper()
	var stats killStats
	rounds := len(kr.before) - 1
	last := kr.after[rounds]
	require.Len(t, last, len(kr.tasks), "the store holds exactly the tasks created")
	for _, tk := range kr.tasks {
		what := fmt.Sprintf("%s task %d (%s)", tk.Kind, tk.N, tk.id)
		terminalLogged := 0
		lastRun := 0 // the attempt number of its last plugin-side run
		for r := tk.round; r <= rounds; r++ {
			killed := r < rounds
			in := fmt.Sprintf("%s in round %d", what, r)
			before, after := kr.before[r][tk.id], kr.after[r][tk.id]
			require.NotNil(t, before, "%s: lost before the round", in)
			require.NotNil(t, after, "%s: lost in the round", in)
			trans, runs := kr.transitions[r][tk.id], kr.runs[r][tk.id]
			if before.Status.Terminal() {
				require.Empty(t, trans, "%s: a finished task changed", in)
				require.Empty(t, runs, "%s: a finished task ran", in)
				require.Equal(t, before.Status, after.Status, in)
				require.Equal(t, before.DateModified.UnixMilli(), after.DateModified.UnixMilli(), in)
				require.Equal(t, before.Attempts, after.Attempts, in)
				require.Equal(t, string(before.Result), string(after.Result), in)
				continue
			}
			if killed && after.Status == shared.StatusProcessing {
				stats.recovered++
			}

			// The shape of the round's log and its terminal transition.
			var shape strings.Builder
			claims, retries := 0, 0
			var terminal *transition
			for i, tr := range trans {
				switch {
				case tr.status == shared.StatusProcessing:
					shape.WriteString("P ")
					claims++
				case tr.status == shared.StatusPending:
					shape.WriteString("R ")
					retries++
				case tr.status.Terminal():
					shape.WriteString("T ")
					terminal = &trans[i]
				default:
					t.Fatalf("%s: unexpected transition %+v", in, tr)
				}
			}
			require.Regexp(t, roundPattern, shape.String(), "%s: transitions %v", in, trans)
			becameTerminal := after.Status.Terminal()
			switch {
			case terminal != nil:
				terminalLogged++
				require.True(t, becameTerminal, "%s: logged %s but stored %s", in, terminal.status, after.Status)
				require.Equal(t, after.Status, terminal.status, in)
			case becameTerminal && killed:
				stats.lostCallbacks++
			case becameTerminal:
				t.Fatalf("%s: became %s in the last round without a transition", in, after.Status)
			}
			require.LessOrEqual(t, terminalLogged, 1, "%s: completed twice", in)

			// Claims and retries.
			require.GreaterOrEqual(t, after.Attempts, before.Attempts, in)
			require.LessOrEqual(t, claims, after.Attempts-before.Attempts, "%s: more claims logged than attempts stored", in)
			if !killed {
				require.Equal(t, after.Attempts-before.Attempts, claims, "%s: claims logged", in)
			}
			used := 0
			switch tk.Kind {
			case kindFast:
				require.Nil(t, after.RetriesRemaining, in)
			case kindSlow, kindRecord:
				if after.Status == shared.StatusSuccess {
					require.Nil(t, after.RetriesRemaining, in)
				} else {
					require.NotNil(t, after.RetriesRemaining, in)
					require.Equal(t, 1, *after.RetriesRemaining, "%s: a retry was used by a task that never fails", in)
				}
				require.Zero(t, retries, "%s: a task that never fails was retried", in)
			case kindFailing:
				require.NotNil(t, before.RetriesRemaining, in)
				require.NotNil(t, after.RetriesRemaining, in)
				used = *before.RetriesRemaining - *after.RetriesRemaining
				require.GreaterOrEqual(t, used, 0, "%s: retries grew", in)
				require.LessOrEqual(t, retries, used, "%s: more retries logged than stored", in)
				if !killed {
					require.Equal(t, used, retries, in)
				}
				// A claim (a recovered one too) shows the count as it was,
				// a retry one less, the failure as the last retry left it.
				left := *before.RetriesRemaining
				for _, tr := range trans {
					if tr.status == shared.StatusPending {
						left--
					}
					require.Equal(t, strconv.Itoa(left), tr.retries, "%s: retries logged one at a time: %v", in, trans)
				}
			}

			// Plugin-side runs.
			switch tk.Kind {
			case kindFast, kindSlow:
				require.Empty(t, runs, in)
			case kindFailing, kindRecord:
				outcomes := used
				if becameTerminal {
					outcomes++
				}
				interrupted := 0
				if killed {
					interrupted = 1
				}
				require.GreaterOrEqual(t, len(runs), outcomes, "%s: an outcome without a run (runs %v)", in, runs)
				require.LessOrEqual(t, len(runs), outcomes+interrupted, "%s: ran more often than its outcomes and the kill explain (runs %v)", in, runs)
				stats.interrupted += len(runs) - outcomes
				for _, a := range runs {
					require.Greater(t, a, lastRun, "%s: attempt %d ran twice or out of order (runs %v)", in, a, runs)
					require.Greater(t, a, before.Attempts, "%s: runs %v", in, runs)
					require.LessOrEqual(t, a, after.Attempts, "%s: runs %v", in, runs)
					lastRun = a
				}
			}
		}

		final := last[tk.id]
		require.True(t, final.Status.Terminal(), "%s is %s at the end", what, final.Status)
		require.NotNil(t, final.DateCompleted, what)
		switch tk.Kind {
		case kindFast, kindSlow:
			require.Equal(t, shared.StatusSuccess, final.Status, what)
			require.JSONEq(t, string(tk.Payload), string(final.Result), what)
		case kindRecord:
			require.Equal(t, shared.StatusSuccess, final.Status, what)
			require.JSONEq(t, strconv.Itoa(lastRun), string(final.Result), "%s: the result is its last run's", what)
		case kindFailing:
			require.Equal(t, shared.StatusFailed, final.Status, what)
			require.Equal(t, &shared.TaskError{Name: shared.ErrorNameDefault, Message: fmt.Sprintf("flaky %d", tk.N)}, final.Error, what)
			require.Equal(t, 0, *final.RetriesRemaining, what)
		}
		if tk.Kind == kindFailing || tk.Kind == kindRecord {
			require.NotZero(t, lastRun, "%s never ran", what)
		}
	}
	ids := make([]string, 0, len(kr.tasks))
	for _, tk := range kr.tasks {
		ids = append(ids, tk.id)
	}
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(ids))), len(ids), "ids are unique")
	return stats
}
