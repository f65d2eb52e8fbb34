// Command riverpeer runs taskbench's bulk, paced and create-call
// scenarios on River (riverqueue/river with riverpgxv5), so that taskhost's
// PostgreSQL store can be compared with a mature Go job queue on the same
// database in the same run. taskbench builds and runs it (scenario
// "river"); it is a module of its own so that taskhost's module never
// depends on River.
//
//	go run . [-database-url URL] [-runs N] [-slow-runs N] [-bulk-jobs N] …
//
// It migrates River into a fresh schema, which it drops at the end, and
// writes one JSON document on stdout: each figure's key, unit and one
// sample per run (taskbench owns the figures' names and summarizes the
// samples). Progress goes to stderr. The database URL comes from
// -database-url, else $TASKHOST_TEST_DATABASE_URL, else the local test
// server; it is never printed with its password.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// defaultDatabaseURL is the local test server, used when neither the flag
// nor the environment names one.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// config is what the flags choose.
type config struct {
	databaseURL       string
	scenarios         []string
	runs              int // create-call runs
	slowRuns          int // bulk and paced runs
	bulkJobs          int
	bulkBatch         int
	overlapBatch      int
	pacedRate         int
	pacedDur          time.Duration
	createDur         time.Duration
	workers           int
	fetchCooldown     time.Duration
	fetchPollInterval time.Duration
	maxConns          int
}

func scenarioNames() []string { return []string{"bulk", "paced", "create"} }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("riverpeer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (default: $TASKHOST_TEST_DATABASE_URL, else "+defaultDatabaseURL+")")
	scen := fs.String("scenarios", strings.Join(scenarioNames(), ","), "comma-separated scenarios to run")
	fs.IntVar(&cfg.runs, "runs", 3, "runs of the create-call scenario")
	fs.IntVar(&cfg.slowRuns, "slow-runs", 3, "runs of the bulk and paced scenarios")
	fs.IntVar(&cfg.bulkJobs, "bulk-jobs", 20_000, "jobs per bulk variant")
	fs.IntVar(&cfg.bulkBatch, "bulk-batch", 1000, "jobs per InsertMany while the backlog is inserted")
	fs.IntVar(&cfg.overlapBatch, "overlap-batch", 100, "jobs per InsertMany while inserting during processing")
	fs.IntVar(&cfg.pacedRate, "paced-rate", 200, "paced inserts per second")
	fs.DurationVar(&cfg.pacedDur, "paced-duration", 10*time.Second, "how long the paced scenario inserts")
	fs.DurationVar(&cfg.createDur, "create-duration", 3*time.Second, "how long 8 inserters call Insert (1 inserter: half that)")
	fs.IntVar(&cfg.workers, "workers", 8, "MaxWorkers of the default queue")
	fs.DurationVar(&cfg.fetchCooldown, "fetch-cooldown", time.Millisecond, "River's FetchCooldown (its default: 100ms; its minimum: 1ms)")
	fs.DurationVar(&cfg.fetchPollInterval, "fetch-poll-interval", 10*time.Millisecond, "River's FetchPollInterval (its default: 1s)")
	fs.IntVar(&cfg.maxConns, "max-conns", 16, "connections in the pgx pool (pgxpool's default is max(4, CPUs))")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.databaseURL == "" {
		cfg.databaseURL = cmp.Or(os.Getenv("TASKHOST_TEST_DATABASE_URL"), defaultDatabaseURL)
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(scenarioNames(), s) {
			return config{}, fmt.Errorf("unknown scenario %q: want some of %s", s, strings.Join(scenarioNames(), ","))
		}
		cfg.scenarios = append(cfg.scenarios, s)
	}
	if cfg.runs < 1 || cfg.slowRuns < 1 || cfg.bulkJobs < 1 || cfg.bulkBatch < 1 || cfg.overlapBatch < 1 ||
		cfg.pacedRate < 1 || cfg.pacedDur <= 0 || cfg.createDur <= 0 || cfg.workers < 1 || cfg.maxConns < 2 {
		return config{}, errors.New("counts, rates and durations must be positive (and -max-conns at least 2)")
	}
	return cfg, nil
}

// output is the document written on stdout.
type output struct {
	// River is the River module version that ran.
	River   string      `json:"river"`
	Config  outConfig   `json:"config"`
	Figures []outFigure `json:"figures"`
}

// outConfig is how River was set up.
type outConfig struct {
	Workers             int     `json:"workers"`
	FetchCooldownMs     float64 `json:"fetchCooldownMs"`
	FetchPollIntervalMs float64 `json:"fetchPollIntervalMs"`
	MaxConns            int     `json:"maxConns"`
}

// outFigure is one figure: its key (taskbench's figure key without the
// "river." prefix), unit, and one sample per run.
type outFigure struct {
	Key     string    `json:"key"`
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
}

// figures gathers samples in the order they are first added.
type figures struct {
	list  []*outFigure
	byKey map[string]*outFigure
}

func (f *figures) add(key, unit string, v float64) {
	if f.byKey == nil {
		f.byKey = map[string]*outFigure{}
	}
	fig, ok := f.byKey[key]
	if !ok {
		fig = &outFigure{Key: key, Unit: unit}
		f.byKey[key] = fig
		f.list = append(f.list, fig)
	}
	fig.Samples = append(fig.Samples, v)
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
		fmt.Fprintln(stderr, "riverpeer:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := runPeer(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "riverpeer:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "riverpeer:", err)
		return 1
	}
	return 0
}

// peer is River on a pool, in its own schema.
type peer struct {
	cfg    config
	pool   *pgxpool.Pool
	schema string
	log    io.Writer
	// slog is River's logger: warnings and errors only, to stderr.
	slog *slog.Logger
	figs figures
}

func (p *peer) logf(format string, args ...any) {
	fmt.Fprintf(p.log, "  river: "+format+"\n", args...)
}

// runPeer sets River up in a fresh schema, runs the scenarios and drops
// the schema.
func runPeer(ctx context.Context, cfg config, log io.Writer) (*output, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.databaseURL)
	if err != nil {
		// The parse error may quote the URL, password and all.
		return nil, errors.New("parse the database URL: not a valid PostgreSQL connection string")
	}
	pcfg.MaxConns = int32(cfg.maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(cfg.databaseURL), err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(cfg.databaseURL), err)
	}
	p := &peer{cfg: cfg, pool: pool, log: log,
		slog: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := p.createSchema(ctx); err != nil {
		return nil, err
	}
	defer p.dropSchema()
	version := riverVersion()
	p.logf("River %s on %s, schema %s: %d workers, FetchCooldown %v, FetchPollInterval %v, pool of %d connections",
		version, redact(cfg.databaseURL), p.schema, cfg.workers, cfg.fetchCooldown, cfg.fetchPollInterval, cfg.maxConns)

	steps := map[string]func(context.Context) error{"bulk": p.bulk, "paced": p.paced, "create": p.createCall}
	for _, s := range cfg.scenarios {
		t0 := time.Now()
		if err := steps[s](ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		p.logf("%s done in %v", s, time.Since(t0).Round(time.Millisecond))
	}
	out := &output{River: version, Config: outConfig{
		Workers: cfg.workers, MaxConns: cfg.maxConns,
		FetchCooldownMs:     float64(cfg.fetchCooldown) / float64(time.Millisecond),
		FetchPollIntervalMs: float64(cfg.fetchPollInterval) / float64(time.Millisecond),
	}}
	for _, f := range p.figs.list {
		out.Figures = append(out.Figures, *f)
	}
	return out, nil
}

// createSchema makes a fresh schema with a random name and migrates River
// into it.
func (p *peer) createSchema(ctx context.Context) error {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	p.schema = "riverpeer_" + hex.EncodeToString(b[:])
	if _, err := p.pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{p.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(p.pool), &rivermigrate.Config{Schema: p.schema, Logger: p.slog})
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		p.dropSchema()
		return fmt.Errorf("migrate River into %s: %w", p.schema, err)
	}
	return nil
}

// dropSchema drops the schema even when the run was interrupted.
func (p *peer) dropSchema() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{p.schema}.Sanitize()+" CASCADE"); err != nil {
		p.logf("drop schema %s: %v", p.schema, err)
	}
}

// truncate empties the job table, so that each run starts as a fresh
// store does.
func (p *peer) truncate(ctx context.Context) error {
	_, err := p.pool.Exec(ctx, "TRUNCATE "+pgx.Identifier{p.schema, "river_job"}.Sanitize())
	return err
}

// redact is the URL without its password; a connection string that is
// not a URL is not shown at all.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the database"
	}
	return u.Redacted()
}

// riverVersion is the River module version this binary was built with.
func riverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "(unknown version)"
}
