package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/metrics"
	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/host/store/pgstore"
	"github.com/taskhost/taskhost/host/ui"
	"github.com/taskhost/taskhost/shared"
)

// Bounds of a graceful stop.
const (
	httpShutdownTimeout  = 10 * time.Second
	schedulerStopTimeout = 10 * time.Second
	hostStopTimeout      = 30 * time.Second
	// storeOpenTimeout bounds connecting to PostgreSQL and migrating.
	storeOpenTimeout = time.Minute
	// clusterTaskInterval is how often a node's dispatchers look at a
	// shared store unprompted: tasks another node created, and the tasks
	// of a node whose leases lapsed, are found this way.
	clusterTaskInterval = time.Second
)

func serveCommand() *command {
	return &command{
		name:       "serve",
		summary:    "Runs the host: the task engine and its HTTP API.",
		ownSignals: true,
		help: `Settings come from the defaults, then the config file, then the flags.
Relative paths in the config file are relative to the file's directory.

SIGINT or SIGTERM stops the host gracefully: the API refuses new tasks,
schedules stop firing, no more tasks are claimed, and every task already
claimed gets drain_timeout (default 30s) to start and finish; then what
still runs is interrupted and runs again at the next start, and the store
is closed.
A second signal exits at once.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			configFile := fs.String("config", "", "read settings from this HCL (or .json) `file`")
			dataDir := fs.String("data", "", "keep the task store in this `directory` (default ./data)")
			listen := fs.String("listen", "", "serve the API on this `host:port` (default "+DefaultListen+")")
			logLevel := fs.String("log-level", "info", "log at this `level`: trace, debug, info, warn or error")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("serve", args, 0, 0, "flags only"); err != nil {
					return err
				}
				level := hclog.LevelFromString(*logLevel)
				if level == hclog.NoLevel {
					return usagef("serve", "--log-level %q: want trace, debug, info, warn or error", *logLevel)
				}
				cfg := DefaultConfig()
				if *configFile != "" {
					var err error
					if cfg, err = LoadConfig(*configFile); err != nil {
						return err
					}
				}
				if *dataDir != "" {
					cfg.DataDir = *dataDir
				}
				if *listen != "" {
					cfg.Listen = *listen
				}
				if cfg.APIToken == "" {
					cfg.APIToken = e.getenv("TASKHOST_TOKEN")
				}
				if err := cfg.resolveStore(e.getenv); err != nil {
					return err
				}
				if cfg.NodeID == "" {
					cfg.NodeID = host.DefaultNodeID
					if cfg.Store != nil {
						cfg.NodeID = defaultNodeID()
					}
				}
				if err := cfg.Validate(); err != nil {
					return err
				}
				log := hclog.New(&hclog.LoggerOptions{Name: "taskhost", Level: level, Output: e.stderr})
				if limit := host.SetProcessMemoryLimit(cfg.HostMemoryLimit, e.getenv); limit != math.MaxInt64 {
					log.Debug("soft memory limit", "bytes", limit, "from_GOMEMLIMIT", e.getenv("GOMEMLIMIT") != "")
				}
				if cfg.Store == nil && e.getenv(DatabaseURLEnv) != "" {
					log.Warn(DatabaseURLEnv + " is set, but the config has no store block: tasks stay in Badger on this node; add store {} to use the database")
				}
				return serve(cfg, log)
			}
		},
	}
}

// serve runs the host until SIGINT or SIGTERM.
func serve(cfg *Config, log hclog.Logger) (err error) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// Listening comes first: a port in use fails the start before the
	// store is touched, and the host knows the address it tells other
	// nodes. Requests wait in the backlog until the API serves.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // also closed by the HTTP server's shutdown: harmless

	m := metrics.New(metrics.Options{Logger: log})
	st, where, err := openStore(cfg, log.Named("store"), m)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
		if err == nil {
			log.Info("stopped")
		}
	}()

	h, err := host.New(st, host.Options{
		NodeID:            cfg.NodeID,
		Lease:             cfg.Lease,
		TaskInterval:      taskInterval(cfg),
		Address:           advertised(ln.Addr()),
		SystemWorkerCount: cfg.MaxSystemWorkerCount,
		RetryInterval:     cfg.RetryInterval,
		CleanupInterval:   cfg.CleanupInterval,
		MaxResultSize:     cfg.MaxResultSize,
		StrictTypes:       cfg.StrictTypes,
		Logger:            log,
		Observer:          m,
	})
	if err != nil {
		return fmt.Errorf("create host: %w", err)
	}
	if err := m.Track(h, st); err != nil {
		return err // nothing runs yet
	}
	// stopHost drains: running tasks get DrainTimeout to finish, then
	// their contexts are cancelled, then their workers killed; what did
	// not finish runs again at the next start.
	stopHost := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
		defer cancel()
		err := h.Stop(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn("tasks still running after the drain timeout were interrupted; they run again at the next start",
				"drain_timeout", cfg.DrainTimeout)
			return nil
		}
		if err != nil {
			return fmt.Errorf("stop host: %w", err)
		}
		return nil
	}

	ctx := context.Background()
	for _, hc := range cfg.Handlers {
		if err := h.RegisterHandler(ctx, hc.Type, hc.Plugin, hc.Method, nil, hc.Options); err != nil {
			return errors.Join(fmt.Errorf("%s:%d: handler %q: %w", hc.DefRange.Filename, hc.DefRange.Start.Line, hc.Type, err), stopHost())
		}
	}

	// The scheduler shares the store, so schedules are as durable as
	// tasks.
	sched, err := scheduler.New(st, scheduler.Options{Logger: log})
	if err != nil {
		return errors.Join(fmt.Errorf("create scheduler: %w", err), stopHost())
	}
	// stop stops both: the scheduler first, so no firing meets a stopped
	// host.
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), schedulerStopTimeout)
		defer cancel()
		var err error
		if serr := sched.Stop(ctx); serr != nil {
			err = fmt.Errorf("stop scheduler within %v: %w", schedulerStopTimeout, serr)
		}
		return errors.Join(err, stopHost())
	}
	for _, sc := range cfg.Schedules {
		if !h.HasHandler(sc.Task.Type) {
			log.Warn("schedule creates tasks of a type without a handler: they wait until one registers",
				"schedule", sc.ID, "task_type", sc.Task.Type, "at", fmt.Sprintf("%s:%d", sc.DefRange.Filename, sc.DefRange.Start.Line))
		}
		cb := h.TaskCallback(sc.Task.Type, sc.Task.Payload, sc.Task.Options)
		if err := sched.AddTask(ctx, sc.ID, []shared.ScheduledTaskTime{sc.Time}, cb, scheduler.Idempotent()); err != nil {
			return errors.Join(fmt.Errorf("%s:%d: schedule %q: %w", sc.DefRange.Filename, sc.DefRange.Start.Line, sc.ID, err), stop())
		}
	}

	if err := h.Start(ctx); err != nil {
		return errors.Join(fmt.Errorf("start host: %w", err), stop())
	}
	if err := sched.Start(ctx); err != nil {
		return errors.Join(fmt.Errorf("start scheduler: %w", err), stop())
	}

	allowedHosts := cfg.AllowedHosts
	if len(allowedHosts) == 0 && cfg.APIToken != "" && !loopback(cfg.Listen) {
		// Reached by other machines under names of theirs, and guarded by
		// the token: any Host will do.
		allowedHosts = []string{"*"}
	}
	dashboard, err := dashboardHandler(cfg)
	if err != nil {
		return errors.Join(err, stop())
	}
	apiServer := api.NewServer(h, api.ServerOptions{
		Schedules: sched, Logger: log.Named("api"), Metrics: m.Handler(), Token: cfg.APIToken,
		MaxPayloadSize: host.DefaultMaxPayloadSize,
		AllowedHosts:   allowedHosts, AllowedOrigins: cfg.AllowedOrigins,
		Counts: st, UI: dashboard, UIReadOnly: cfg.UIReadOnly,
	})
	httpServer := &http.Server{
		Handler:           apiServer.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	httpServer.RegisterOnShutdown(apiServer.Close)
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	log.Info("serving the API", "addr", "http://"+ln.Addr().String(), "store", where, "node", cfg.NodeID,
		"handlers", len(cfg.Handlers), "schedules", len(cfg.Schedules))
	if dashboard != nil {
		log.Info("serving the dashboard", "url", "http://"+ln.Addr().String()+ui.Prefix, "read_only", cfg.UIReadOnly)
	}

	var runErr error
	select {
	case sig := <-sigs:
		log.Info("stopping", "signal", sig.String())
	case err := <-served:
		runErr = fmt.Errorf("serve the API: %w", err)
	}
	go func() {
		sig := <-sigs
		log.Error("second signal: exiting without stopping", "signal", sig.String())
		os.Exit(1)
	}()

	// New tasks are refused (503) while the running ones drain; reads,
	// cancels and event streams keep working until the host has stopped.
	apiServer.Drain()
	stopErr := stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("API requests still open; closing them", "error", err)
		_ = httpServer.Close()
	}
	return errors.Join(runErr, stopErr)
}

// dashboardHandler is the web dashboard's handler, nil when the config
// turns it off.
func dashboardHandler(cfg *Config) (http.Handler, error) {
	if !cfg.UI {
		return nil, nil
	}
	h, err := ui.NewHandler(ui.Options{ReadOnly: cfg.UIReadOnly, TokenRequired: cfg.APIToken != "", Cluster: cfg.Store != nil, NodeID: cfg.NodeID})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return h, nil
}

// taskStore is what serve needs of a store: the engine's view of it, the
// scheduler's and the metrics' queue count.
type taskStore interface {
	store.Store
	scheduler.Store
	metrics.QueueCounter
}

// openStore opens the configured store and says where it is, for the log:
// Badger in the data directory, or the database of the store block.
func openStore(cfg *Config, log hclog.Logger, m *metrics.Metrics) (taskStore, string, error) {
	if sc := cfg.Store; sc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeOpenTimeout)
		defer cancel()
		st, err := pgstore.Open(ctx, sc.Postgres, pgstore.Options{Schema: sc.Schema, Logger: log, OnCommit: m.StoreCommitted})
		if err != nil {
			return nil, "", fmt.Errorf("open the PostgreSQL store: %w", err)
		}
		return st, pgstore.RedactURL(sc.Postgres) + " schema " + sc.Schema, nil
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	st, err := badgerstore.Open(dataDir, badgerstore.Options{Logger: log, OnSync: m.StoreSynced, OnCommit: m.StoreCommitted})
	if err != nil {
		return nil, "", fmt.Errorf("open store in %s: %w", dataDir, err)
	}
	return st, "badger:" + dataDir, nil
}

// advertised is the API address other nodes are shown: the listen
// address, or the host name with its port when it listens on every
// interface.
func advertised(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			return "http://" + net.JoinHostPort(name, strconv.Itoa(tcp.Port))
		}
	}
	return "http://" + addr.String()
}

// taskInterval is the engine's poll backstop: the host's default alone,
// a short one on a shared store.
func taskInterval(cfg *Config) time.Duration {
	if cfg.Store != nil {
		return clusterTaskInterval
	}
	return 0
}
