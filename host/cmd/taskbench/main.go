// Command taskbench measures the host against its issue-5 targets: each
// scenario runs against a real host (Badger store in a fresh directory,
// real plugins/testworker subprocesses, the HTTP API on a loopback port),
// a few times, beside baselines of the raw parts (go-plugin calls, Badger
// group commits, worker spawns) measured in the same run. It prints one
// Markdown table: min/median/max per figure, the target, the ratio to its
// baseline and whether the median meets the target. Progress and details
// go to stderr.
//
//	go run ./host/cmd/taskbench [-short] [-runs N] [-scenarios bulk,paced] [-json FILE] [-cpuprofile DIR] [-database-url URL]
//
// (`make bench`, `make bench-short`.) The host runs inside this process,
// so the scale scenario's RSS is this process's: scale runs last, after
// the memory of the others has been given back. Run it on an otherwise
// idle machine: it prints the load average at the start of each scenario
// and warns when the machine is busy.
//
// The river scenario runs the bulk, paced and create-call scenarios on
// River against PostgreSQL ($TASKHOST_TEST_DATABASE_URL or -database-url,
// else the local test server), through the riverpeer program beside this
// one, a module of its own so that taskhost's module never depends on
// River; without a database that answers it is skipped with a line saying
// why. The pg-bulk, pg-paced and pg-create scenarios run the same
// scenarios on a host whose store is pgstore, in a fresh schema of that
// database per host, set up as a `taskhost serve` cluster node, and
// compare them with River's figures; pg-nodes runs the bulk scenario
// created while processing on three such nodes in this process sharing
// one schema; pg-scale loads the scale scenario's tasks into pgstore and
// times the same query pages; skipped likewise.
//
// The bulk-conc scenario runs the bulk scenario with 8 tasks per worker
// (concurrency 8, 8 workers), against issue 12's 20,000 tasks/s and 1.2×
// the River peer's rate when the river scenario ran in the same run;
// io-conc runs tasks that sleep 10 ms with 32 tasks per worker against
// one.
//
// TASKBENCH_SMOKE=1 go test ./host/cmd/taskbench runs every scenario at a
// toy size.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// config is what the flags choose: which scenarios and how big.
type config struct {
	short      bool
	runs       int // runs of the quick scenarios and the baselines
	slowRuns   int // runs of bulk and paced
	plugin     string
	scenarios  []string
	jsonPath   string
	profileDir string
	// databaseURL is the PostgreSQL the River peer and the pgstore
	// scenarios run on.
	databaseURL string

	echoDur   time.Duration
	badgerDur time.Duration
	spawns    int
	// After steadyAfter calls, a worker runs at its steady pace: V8 has
	// optimised the Node SDK's hot functions (by about the 2,000th call
	// here; the p50 of calls 1–300 is over twice the steady one), and the
	// Go plugin runs as many for a like comparison. steadyCalls are then
	// measured.
	steadyAfter, steadyCalls int
	bulkTasks                int
	ioTasks                  int
	bulkBatch                int
	overlapBatch             int
	pacedRate                int
	pacedDur                 time.Duration
	createDur                time.Duration
	scaleTasks               int
	scalePending             int
	scaleBatch               int
	scaleLoaders             int
	queryReps                int
}

// scenarioNames lists the scenarios in the order they run. The raw
// baselines come first; each scenario pulls in the baselines it is
// compared with.
func scenarioNames() []string {
	return []string{"raw-echo", "raw-badger", "raw-spawn", "bulk", "bulk-conc", "io-conc", "paced", "coldstart", "node", "create", "river", "pg-bulk", "pg-paced", "pg-create", "pg-nodes", "scale", "pg-scale"}
}

func baselinesOf(s string) []string {
	switch s {
	case "bulk", "bulk-conc":
		return []string{"raw-echo", "raw-badger"}
	case "paced", "create":
		return []string{"raw-badger"}
	case "coldstart":
		return []string{"raw-spawn", "raw-echo"}
	case "node":
		// The Go plugin's cold start and warm call, beside the Node one's.
		return []string{"raw-spawn", "raw-echo", "coldstart"}
	case "pg-bulk", "pg-paced", "pg-create", "pg-nodes":
		return []string{"river"}
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("taskbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "a quick look (~1 min, ~3 with a database): smaller counts, one run of the slow scenarios")
	runs := fs.Int("runs", 3, "runs of each scenario (bulk, paced and scale: 1 with -short; scale loads its tasks once)")
	plugin := fs.String("plugin", "", "testworker binary to use (default: build plugins/testworker)")
	scen := fs.String("scenarios", strings.Join(scenarioNames(), ","), "comma-separated scenarios to run; each adds the baselines it is compared with")
	noBase := fs.Bool("no-baselines", false, "run only the scenarios named, without the baselines they compare with")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	profile := fs.String("cpuprofile", "", "write a CPU profile of each scenario into this directory (<scenario>.pprof), and the heap after the scale load and after its queries (scale-heap.pprof, scale-heap-queries.pprof)")
	scaleTasks := fs.Int("scale-tasks", 0, "tasks the scale scenario stores (default 1,000,000; 100,000 with -short)")
	scalePending := fs.Int("scale-pending", 0, "of which pending of the dispatched type (default 100,000; 10,000 with -short)")
	scaleBatch := fs.Int("scale-batch", 1000, "tasks per create while loading the scale data set (the Badger store takes about 5,240 small tasks per transaction)")
	scaleLoaders := fs.Int("scale-loaders", 4, "goroutines creating batches while loading the scale data set")
	// No default value shown: the environment's URL may hold a password.
	dbURL := fs.String("database-url", "", "PostgreSQL for the river and pg-* scenarios (default: $TASKHOST_TEST_DATABASE_URL, else "+defaultDatabaseURL+"); skipped when none answers")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: taskbench [flags]\nscenarios: %s\n", strings.Join(scenarioNames(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *runs < 1 {
		return config{}, fmt.Errorf("-runs %d: want 1 or more", *runs)
	}
	cfg := config{
		short: *short, runs: *runs, slowRuns: *runs, plugin: *plugin, jsonPath: *jsonPath, profileDir: *profile,
		databaseURL: cmp.Or(*dbURL, os.Getenv("TASKHOST_TEST_DATABASE_URL"), defaultDatabaseURL),
		echoDur:     2 * time.Second, badgerDur: 1500 * time.Millisecond, spawns: 30,
		steadyAfter: 5000, steadyCalls: 2000,
		bulkTasks: 20_000, bulkBatch: 1000, overlapBatch: 100, ioTasks: 4000,
		pacedRate: 200, pacedDur: 10 * time.Second, createDur: 3 * time.Second,
		scaleTasks: 1_000_000, scalePending: 100_000, scaleBatch: *scaleBatch, scaleLoaders: *scaleLoaders, queryReps: 7,
	}
	if cfg.short {
		cfg.slowRuns = 1
		cfg.echoDur, cfg.badgerDur, cfg.spawns = 500*time.Millisecond, 500*time.Millisecond, 15
		cfg.bulkTasks, cfg.ioTasks = 10_000, 2000
		cfg.pacedDur, cfg.createDur = 3*time.Second, time.Second
		cfg.scaleTasks, cfg.scalePending, cfg.queryReps = 100_000, 10_000, 5
	}
	if *scaleTasks > 0 {
		cfg.scaleTasks = *scaleTasks
	}
	if *scalePending > 0 {
		cfg.scalePending = *scalePending
	}
	if cfg.scalePending >= cfg.scaleTasks || cfg.scaleBatch < 1 || cfg.scaleLoaders < 1 {
		return config{}, fmt.Errorf("scale: %d tasks, %d pending, batches of %d from %d loaders: want fewer pending than tasks and positive sizes",
			cfg.scaleTasks, cfg.scalePending, cfg.scaleBatch, cfg.scaleLoaders)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(scenarioNames(), s) {
			return config{}, fmt.Errorf("unknown scenario %q: want some of %s", s, strings.Join(scenarioNames(), ","))
		}
		want[s] = true
		if !*noBase {
			for _, b := range baselinesOf(s) {
				want[b] = true
			}
		}
	}
	for _, s := range scenarioNames() {
		if want[s] {
			cfg.scenarios = append(cfg.scenarios, s)
		}
	}
	if len(cfg.scenarios) == 0 {
		return config{}, errors.New("no scenario to run")
	}
	return cfg, nil
}

// bench is one bench run.
type bench struct {
	cfg    config
	root   string // temp directory, removed at the end
	plugin string
	res    *results
	// host is the identity of the raw baselines' host, made once as a
	// pool's is.
	host *shared.Identity

	logMu sync.Mutex
	log   io.Writer
}

// mtls is the pool's default channel security, for the raw baselines.
func (b *bench) mtls() channel { return channel{host: b.host} }

func (b *bench) logf(format string, args ...any) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	fmt.Fprintf(b.log, format+"\n", args...)
}

func (b *bench) tempDir(prefix string) (string, error) {
	return os.MkdirTemp(b.root, prefix)
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
		fmt.Fprintln(stderr, "taskbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newBench(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "taskbench:", err)
		return 1
	}
	defer os.RemoveAll(b.root)
	failed := b.runAll(ctx)
	if err := b.report(stdout); err != nil {
		fmt.Fprintln(stderr, "taskbench:", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

func newBench(cfg config, log io.Writer) (*bench, error) {
	root, err := os.MkdirTemp("", "taskbench-")
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, root: root, log: log,
		res: newResults(figureSpecs(cfg.bulkTasks, cfg.scaleTasks, cfg.scalePending))}
	if b.host, err = shared.NewIdentity(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	b.plugin = cfg.plugin
	if b.plugin == "" {
		t0 := time.Now()
		if b.plugin, err = testplugin.Build(root, "testworker"); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		b.logf("built testworker in %v", time.Since(t0).Round(time.Millisecond))
	} else if b.plugin, err = filepath.Abs(b.plugin); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return b, nil
}

// runAll runs the chosen scenarios in order, timing each, and reports
// whether any failed.
func (b *bench) runAll(ctx context.Context) bool {
	steps := map[string]func(context.Context) error{
		"raw-echo": b.rawEchoBaseline, "raw-badger": b.rawBadgerBaseline, "raw-spawn": b.rawSpawnBaseline,
		"bulk":      func(ctx context.Context) error { return b.bulk(ctx, b.badger()) },
		"bulk-conc": b.bulkConc,
		"io-conc":   b.ioBound,
		"paced":     func(ctx context.Context) error { return b.paced(ctx, b.badger()) },
		"coldstart": b.coldStart,
		"node":      b.nodeStart,
		"create":    func(ctx context.Context) error { return b.createCall(ctx, b.badger()) },
		"river":     b.river,
		"pg-bulk":   b.onPostgres("pg-bulk", b.bulk),
		"pg-paced":  b.onPostgres("pg-paced", b.paced),
		"pg-create": b.onPostgres("pg-create", b.createCall),
		"pg-nodes":  b.onPostgres("pg-nodes", b.bulkNodes),
		"scale":     b.scale,
		"pg-scale":  b.onPostgres("pg-scale", b.pgScale),
	}
	mode := "full"
	if b.cfg.short {
		mode = "short"
	}
	// The host runs in this process, under the limit taskhost serve sets.
	memLimit := "none"
	if limit := host.SetProcessMemoryLimit(host.DefaultProcessMemoryLimit, os.Getenv); limit != math.MaxInt64 {
		memLimit = fmt.Sprintf("%d MiB", limit>>20)
	}
	b.logf("taskbench (%s): %s; runs %d (bulk, paced: %d); %d CPUs, GOMAXPROCS %d, soft memory limit %s, %s",
		mode, strings.Join(b.cfg.scenarios, ", "), b.cfg.runs, b.cfg.slowRuns, runtime.NumCPU(), runtime.GOMAXPROCS(0), memLimit, runtime.Version())
	start := time.Now()
	b.res.details["elapsed_s"] = map[string]float64{}
	b.res.details["loadavg_at_start"] = map[string]float64{}
	failed := false
	for _, name := range b.cfg.scenarios {
		if ctx.Err() != nil {
			failed = true
			break
		}
		load := loadAverage()
		b.res.details["loadavg_at_start"].(map[string]float64)[name] = load
		b.logf("== %s (load average %.2f)", name, load)
		if load > float64(runtime.NumCPU()) {
			b.logf("   the machine is busy (load average %.2f on %d CPUs): this scenario's figures will be off", load, runtime.NumCPU())
		}
		t0 := time.Now()
		stopProfile := b.startProfile(name)
		err := steps[name](ctx)
		stopProfile()
		elapsed := time.Since(t0)
		b.res.details["elapsed_s"].(map[string]float64)[name] = elapsed.Seconds()
		if err != nil {
			failed = true
			b.logf("!! %s failed after %v: %v", name, elapsed.Round(time.Millisecond), err)
			continue
		}
		b.logf("   %s done in %v (total %v)", name, elapsed.Round(time.Millisecond), time.Since(start).Round(time.Second))
	}
	b.res.details["elapsed_s"].(map[string]float64)["total"] = time.Since(start).Seconds()
	b.logf("all done in %v", time.Since(start).Round(time.Second))
	return failed
}

// loadAverage is the 1-minute load average, NaN if unknown.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func (b *bench) startProfile(name string) func() {
	if b.cfg.profileDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
		b.logf("cpu profile: %v", err)
		return func() {}
	}
	f, err := os.Create(filepath.Join(b.cfg.profileDir, name+".pprof"))
	if err != nil {
		b.logf("cpu profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.logf("cpu profile: %v", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// writeHeapProfile writes the live heap to <cpuprofile dir>/<name>.pprof
// when profiles are asked for.
func (b *bench) writeHeapProfile(name string) {
	if b.cfg.profileDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(b.cfg.profileDir, name+".pprof"))
	if err != nil {
		b.logf("heap profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.logf("heap profile: %v", err)
	}
}

// report prints the table, and writes the JSON file when asked.
func (b *bench) report(w io.Writer) error {
	mode := fmt.Sprintf("%d runs", b.cfg.runs)
	if b.cfg.short {
		mode = "-short"
	}
	fmt.Fprintf(w, "\ntaskbench (%s) on %d CPUs, %s %s/%s; min/median/max over runs, targets checked on the median; vs baseline = our median ÷ the baseline's median\n\n",
		mode, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if err := writeTable(w, b.res.rows()); err != nil {
		return err
	}
	var loads []string
	for _, name := range b.cfg.scenarios {
		if l, ok := b.res.details["loadavg_at_start"].(map[string]float64)[name]; ok {
			loads = append(loads, fmt.Sprintf("%s %.2f", name, l))
		}
	}
	fmt.Fprintf(w, "\nload average at the start of each scenario: %s\n", strings.Join(loads, ", "))
	for _, line := range []string{b.res.riverLine(), b.res.pgLine()} {
		if line != "" {
			fmt.Fprintln(w, line)
		}
	}
	if b.cfg.jsonPath == "" {
		return nil
	}
	return b.res.writeJSON(b.cfg.jsonPath, map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339), "short": b.cfg.short, "runs": b.cfg.runs,
		"cpus": runtime.NumCPU(), "go": runtime.Version(), "scenarios": b.cfg.scenarios,
	})
}

// The baselines, each cfg.runs times.

func (b *bench) rawEchoBaseline(ctx context.Context) error {
	for range b.cfg.runs {
		rate, lat, err := rawEcho(ctx, b.plugin, channel{}, workers, workers, b.cfg.echoDur, 0)
		if err != nil {
			return err
		}
		b.res.add("raw.echo8.rate", rate)
		b.res.add("raw.echo8.p50", lat.PUs(50))
		_, lat1, err := rawEcho(ctx, b.plugin, channel{}, 1, 1, b.cfg.echoDur/2, 0)
		if err != nil {
			return err
		}
		b.res.add("raw.echo1.p50", lat1.PUs(50))
		// The paced scenario's calls find their worker idle: a round trip
		// that starts with both processes asleep, as the pool runs it.
		_, latIdle, err := rawEcho(ctx, b.plugin, b.mtls(), 1, 1, b.cfg.echoDur, time.Second/time.Duration(b.cfg.pacedRate))
		if err != nil {
			return err
		}
		b.res.add("raw.echo1idle.p50", latIdle.PUs(50))
		// The pool turns mutual TLS on by default: what that alone costs,
		// and the baseline bulk is held to (the same transport).
		rate, _, err = rawEcho(ctx, b.plugin, b.mtls(), workers, workers, b.cfg.echoDur, 0)
		if err != nil {
			return err
		}
		b.res.add("raw.echo8mtls.rate", rate)
		// And with the calls on one stream per worker, the pool's way.
		calls := b.mtls()
		calls.calls = true
		rate, _, err = rawEcho(ctx, b.plugin, calls, workers, workers, b.cfg.echoDur, 0)
		if err != nil {
			return err
		}
		b.res.add("raw.echo8calls.rate", rate)
	}
	return nil
}

func (b *bench) rawBadgerBaseline(ctx context.Context) error {
	for range b.cfg.runs {
		for _, writers := range []int{64, 8, 1} {
			if err := ctx.Err(); err != nil {
				return err
			}
			dir, err := b.tempDir("rawbadger-")
			if err != nil {
				return err
			}
			rate, lat, err := rawBadger(dir, writers, b.cfg.badgerDur)
			if err != nil {
				return err
			}
			b.res.add(fmt.Sprintf("raw.badger%d.rate", writers), rate)
			if writers != 64 {
				b.res.add(fmt.Sprintf("raw.badger%d.p50", writers), lat.PMs(50))
			}
		}
	}
	return nil
}

func (b *bench) rawSpawnBaseline(ctx context.Context) error {
	for range b.cfg.runs {
		lat, err := rawColdStart(ctx, b.plugin, channel{}, b.cfg.spawns)
		if err != nil {
			return err
		}
		b.res.add("raw.spawn.p50", lat.PMs(50))
		b.res.add("raw.spawn.p99", lat.PMs(99))
		lat, err = rawColdStart(ctx, b.plugin, b.mtls(), b.cfg.spawns)
		if err != nil {
			return err
		}
		b.res.add("raw.spawntls.p50", lat.PMs(50))
		lat, err = rawColdStart(ctx, b.plugin, channel{autoMTLS: true}, b.cfg.spawns)
		if err != nil {
			return err
		}
		b.res.add("raw.spawnmtls.p50", lat.PMs(50))
	}
	return nil
}
