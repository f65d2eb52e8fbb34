package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// Defaults of the daemon's configuration that the host does not already
// define.
const (
	DefaultListen        = "127.0.0.1:7474"
	DefaultDataDir       = "data"
	DefaultDrainTimeout  = 30 * time.Second
	DefaultMaxResultSize = 16 << 20
	minHostMemoryLimit   = 32 << 20
)

// Config is the daemon's configuration: defaults, then the config file,
// then flags. Paths are absolute once loaded.
type Config struct {
	// File is the config file read, "" when there was none.
	File string
	// DataDir holds the task store. Default ./data.
	DataDir string
	// Listen is the API's host:port. Default 127.0.0.1:7474.
	Listen string
	// MaxSystemWorkerCount caps worker processes across all handlers.
	// Default: the number of CPUs.
	MaxSystemWorkerCount int
	// RetryInterval applies to tasks created without one. Default 5s.
	RetryInterval time.Duration
	// CleanupInterval is how often expired retained tasks are swept.
	// Default 2m, at least 1s.
	CleanupInterval time.Duration
	// Handlers in file order.
	Handlers []HandlerConfig
	// Schedules in file order.
	Schedules []ScheduleConfig
	// APIToken, when set, is required from every API client (but for
	// GET /healthz). TASKHOST_TOKEN sets it too.
	APIToken string
	// DrainTimeout is how long running tasks get to finish on SIGTERM
	// before their contexts are cancelled. Default 30s.
	DrainTimeout time.Duration
	// MaxResultSize bounds a task's result in bytes. Default 16 MiB.
	MaxResultSize int
	// HostMemoryLimit is the soft limit on the host process's memory
	// given to the Go runtime, in bytes; 0 is none. GOMEMLIMIT in the
	// environment wins. Default host.DefaultProcessMemoryLimit.
	HostMemoryLimit int64
	// AllowedHosts are Host header names the API answers besides the
	// loopback names and the listen address ("name" or "name:port"). Off
	// loopback with a token, none means any.
	AllowedHosts []string
	// AllowedOrigins are the browser origins ("https://ops.example") whose
	// pages may call the API besides the host's own.
	AllowedOrigins []string
	// StrictTypes refuses creates of task types without a handler (422),
	// and schedules of such types at load.
	StrictTypes bool
	// NodeID names this node: tasks it creates carry it as threadId, the
	// tasks it runs as their lease owner. Default "main" on Badger, the
	// host name and pid with a store block.
	NodeID string
	// Lease is how long a node that stops renewing keeps the tasks it
	// runs (renewed every third of it). Default 30s.
	Lease time.Duration
	// Store, when set, keeps tasks in PostgreSQL (cluster mode) instead
	// of Badger in DataDir.
	Store *StoreConfig
	// UI serves the web dashboard at /ui/. Default true.
	UI bool
	// UIReadOnly shows the dashboard without actions, and refuses them
	// from it. Default false.
	UIReadOnly bool
}

// HandlerConfig is one handler block. Its workers run in the config
// file's directory (Options.WorkDir).
type HandlerConfig struct {
	Type string
	// Plugin is the plugin binary's absolute path, or the interpreter's
	// of a command (Options.Args).
	Plugin  string
	Method  string
	Options host.HandlerOptions
	// DefRange is where the block is, for messages about it.
	DefRange hcl.Range
}

// ScheduleConfig is one schedule block: a schedule whose every firing
// creates a task.
type ScheduleConfig struct {
	ID   string
	Time shared.ScheduledTaskTime
	// Task is what each firing creates.
	Task host.NewTask
	// DefRange is where the block is, for messages about it.
	DefRange hcl.Range
}

// DefaultConfig is the configuration without file or flags.
func DefaultConfig() *Config {
	return &Config{
		DataDir:              DefaultDataDir,
		Listen:               DefaultListen,
		MaxSystemWorkerCount: runtime.NumCPU(),
		RetryInterval:        host.DefaultRetryInterval,
		CleanupInterval:      host.DefaultCleanupInterval,
		DrainTimeout:         DefaultDrainTimeout,
		MaxResultSize:        DefaultMaxResultSize,
		HostMemoryLimit:      host.DefaultProcessMemoryLimit,
		Lease:                DefaultLease,
		UI:                   true,
	}
}

// ConfigError is what is wrong with a config file: one problem a line,
// each with file:line,column.
type ConfigError struct {
	Diagnostics hcl.Diagnostics
}

func (e *ConfigError) Error() string {
	var lines []string
	for _, d := range e.Diagnostics {
		if d.Severity != hcl.DiagError {
			continue
		}
		where := ""
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d,%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		line := where + d.Summary
		if d.Detail != "" {
			line += ": " + strings.Join(strings.Fields(d.Detail), " ")
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// fileConfig is the config file's schema. Attributes are pointers so that
// absent ones keep their defaults; the *Range fields locate values for
// messages about their meaning.
//
// To add a block kind, add a field tagged `hcl:"<kind>,block"` here and
// convert it in apply.
type fileConfig struct {
	DataDir                   *string        `hcl:"data_dir,optional"`
	DataDirRange              hcl.Range      `hcl:"data_dir,attr_value_range"`
	Listen                    *string        `hcl:"listen,optional"`
	ListenRange               hcl.Range      `hcl:"listen,attr_value_range"`
	MaxSystemWorkerCount      *int           `hcl:"max_system_worker_count,optional"`
	MaxSystemWorkerCountRange hcl.Range      `hcl:"max_system_worker_count,attr_value_range"`
	RetryInterval             *string        `hcl:"retry_interval,optional"`
	RetryIntervalRange        hcl.Range      `hcl:"retry_interval,attr_value_range"`
	CleanupInterval           *string        `hcl:"cleanup_interval,optional"`
	CleanupIntervalRange      hcl.Range      `hcl:"cleanup_interval,attr_value_range"`
	APIToken                  *string        `hcl:"api_token,optional"`
	APITokenRange             hcl.Range      `hcl:"api_token,attr_value_range"`
	DrainTimeout              *string        `hcl:"drain_timeout,optional"`
	DrainTimeoutRange         hcl.Range      `hcl:"drain_timeout,attr_value_range"`
	MaxResultSize             *string        `hcl:"max_result_size,optional"`
	MaxResultSizeRange        hcl.Range      `hcl:"max_result_size,attr_value_range"`
	HostMemoryLimit           *string        `hcl:"host_memory_limit,optional"`
	HostMemoryLimitRange      hcl.Range      `hcl:"host_memory_limit,attr_value_range"`
	AllowedHosts              *[]string      `hcl:"allowed_hosts,optional"`
	AllowedHostsRange         hcl.Range      `hcl:"allowed_hosts,attr_value_range"`
	AllowedOrigins            *[]string      `hcl:"allowed_origins,optional"`
	AllowedOriginsRange       hcl.Range      `hcl:"allowed_origins,attr_value_range"`
	StrictTypes               *bool          `hcl:"strict_types,optional"`
	NodeID                    *string        `hcl:"node_id,optional"`
	NodeIDRange               hcl.Range      `hcl:"node_id,attr_value_range"`
	Lease                     *string        `hcl:"lease,optional"`
	LeaseRange                hcl.Range      `hcl:"lease,attr_value_range"`
	UI                        *bool          `hcl:"ui,optional"`
	UIReadOnly                *bool          `hcl:"ui_read_only,optional"`
	Stores                    []storeFile    `hcl:"store,block"`
	Handlers                  []handlerFile  `hcl:"handler,block"`
	Schedules                 []scheduleFile `hcl:"schedule,block"`
}

type handlerFile struct {
	Type                     string             `hcl:"type,label"`
	TypeRange                hcl.Range          `hcl:"type,label_range"`
	DefRange                 hcl.Range          `hcl:",def_range"`
	Plugin                   *string            `hcl:"plugin,optional"`
	PluginRange              hcl.Range          `hcl:"plugin,attr_value_range"`
	Args                     *[]string          `hcl:"args,optional"`
	ArgsRange                hcl.Range          `hcl:"args,attr_value_range"`
	Runtime                  *string            `hcl:"runtime,optional"`
	RuntimeRange             hcl.Range          `hcl:"runtime,attr_value_range"`
	Module                   *string            `hcl:"module,optional"`
	ModuleRange              hcl.Range          `hcl:"module,attr_value_range"`
	Method                   string             `hcl:"method"`
	MethodRange              hcl.Range          `hcl:"method,attr_value_range"`
	MaxWorkerCount           *int               `hcl:"max_worker_count,optional"`
	MaxWorkerCountRange      hcl.Range          `hcl:"max_worker_count,attr_value_range"`
	MinWorkers               *int               `hcl:"min_workers,optional"`
	Concurrency              *int               `hcl:"concurrency,optional"`
	ConcurrencyRange         hcl.Range          `hcl:"concurrency,attr_value_range"`
	MinWorkersRange          hcl.Range          `hcl:"min_workers,attr_value_range"`
	IdleShutdownTimeout      *string            `hcl:"idle_shutdown_timeout,optional"`
	IdleShutdownTimeoutRange hcl.Range          `hcl:"idle_shutdown_timeout,attr_value_range"`
	InitialiseMethod         *string            `hcl:"initialise_method,optional"`
	ShutdownMethod           *string            `hcl:"shutdown_method,optional"`
	ExecutionTimeout         *string            `hcl:"execution_timeout,optional"`
	ExecutionTimeoutRange    hcl.Range          `hcl:"execution_timeout,attr_value_range"`
	SHA256                   *string            `hcl:"sha256,optional"`
	SHA256Range              hcl.Range          `hcl:"sha256,attr_value_range"`
	Config                   hcl.Expression     `hcl:"config,optional"`
	MaxTasksPerWorker        *int               `hcl:"max_tasks_per_worker,optional"`
	MaxTasksPerWorkerRange   hcl.Range          `hcl:"max_tasks_per_worker,attr_value_range"`
	MemoryLimit              *string            `hcl:"memory_limit,optional"`
	MemoryLimitRange         hcl.Range          `hcl:"memory_limit,attr_value_range"`
	Env                      *map[string]string `hcl:"env,optional"`
	EnvRange                 hcl.Range          `hcl:"env,attr_value_range"`
}

// LoadConfig reads the HCL config file at path (JSON syntax when the name
// ends in .json) over the defaults. Relative paths in it are relative to
// its directory. Errors are a *ConfigError when the file is readable.
func LoadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	parser := hclparse.NewParser()
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.EqualFold(filepath.Ext(path), ".json") {
		file, diags = parser.ParseJSON(src, path)
	} else {
		file, diags = parser.ParseHCL(src, path)
	}
	if !diags.HasErrors() {
		diags = append(diags, checkNumbers(src, path)...)
	}
	if diags.HasErrors() {
		return nil, &ConfigError{Diagnostics: diags}
	}
	var fc fileConfig
	if diags := gohcl.DecodeBody(file.Body, nil, &fc); diags.HasErrors() {
		return nil, &ConfigError{Diagnostics: diags}
	}
	cfg := DefaultConfig()
	cfg.File = abs
	if diags := fc.apply(cfg, filepath.Dir(abs)); diags.HasErrors() {
		return nil, &ConfigError{Diagnostics: diags}
	}
	return cfg, nil
}

// apply puts the file's values over cfg's, resolving relative paths
// against dir.
func (fc *fileConfig) apply(cfg *Config, dir string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	bad := func(rng hcl.Range, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf(format, args...),
			Subject:  rng.Ptr(),
		})
	}
	if fc.DataDir != nil {
		if *fc.DataDir == "" {
			bad(fc.DataDirRange, "Invalid data_dir", "it is empty: want a directory")
		}
		cfg.DataDir = resolve(dir, *fc.DataDir)
	}
	if fc.Listen != nil {
		if err := checkListen(*fc.Listen); err != nil {
			bad(fc.ListenRange, "Invalid listen", "%v", err)
		}
		cfg.Listen = *fc.Listen
	}
	if fc.MaxSystemWorkerCount != nil {
		if n := *fc.MaxSystemWorkerCount; n < 1 {
			bad(fc.MaxSystemWorkerCountRange, "Invalid max_system_worker_count", "%d: want at least 1 (default: the number of CPUs)", n)
		}
		cfg.MaxSystemWorkerCount = *fc.MaxSystemWorkerCount
	}
	if fc.RetryInterval != nil {
		d, err := parsePositiveDuration(*fc.RetryInterval)
		if err != nil {
			bad(fc.RetryIntervalRange, "Invalid retry_interval", "%q: %v", *fc.RetryInterval, err)
		}
		cfg.RetryInterval = d
	}
	if fc.CleanupInterval != nil {
		d, err := parseDuration(*fc.CleanupInterval)
		if err == nil && d < host.MinCleanupInterval {
			err = fmt.Errorf("want at least %v", host.MinCleanupInterval)
		}
		if err != nil {
			bad(fc.CleanupIntervalRange, "Invalid cleanup_interval", "%q: %v", *fc.CleanupInterval, err)
		}
		cfg.CleanupInterval = d
	}

	if fc.APIToken != nil {
		switch tok := *fc.APIToken; {
		case strings.TrimSpace(tok) == "":
			bad(fc.APITokenRange, "Invalid api_token", "it is empty: leave it out for no token, or give a secret")
		// Clients send it in a header, which cannot hold control
		// characters and reaches the server without surrounding blanks:
		// such a token would lock every client out.
		case strings.Trim(tok, " \t") != tok || strings.ContainsFunc(tok, unicode.IsControl):
			bad(fc.APITokenRange, "Invalid api_token", "it has control characters or blanks around it: no client could send it")
		}
		cfg.APIToken = *fc.APIToken
	}
	if fc.DrainTimeout != nil {
		d, err := parseDuration(*fc.DrainTimeout)
		if err == nil && d < 0 {
			err = errors.New("want 0s (cancel at once) or a positive duration")
		}
		if err != nil {
			bad(fc.DrainTimeoutRange, "Invalid drain_timeout", "%q: %v", *fc.DrainTimeout, err)
		}
		cfg.DrainTimeout = d
	}
	if fc.MaxResultSize != nil {
		n, err := parseSize(*fc.MaxResultSize)
		if err == nil && n <= 0 {
			err = errors.New("want a positive size")
		}
		if err != nil {
			bad(fc.MaxResultSizeRange, "Invalid max_result_size", "%q: %v", *fc.MaxResultSize, err)
		}
		cfg.MaxResultSize = int(n)
	}
	if fc.HostMemoryLimit != nil {
		n, err := parseSize(*fc.HostMemoryLimit)
		if err == nil && n > 0 && n < minHostMemoryLimit {
			err = errors.New(`want "0" (no limit) or at least 32MiB: the store alone holds more`)
		}
		if err != nil {
			bad(fc.HostMemoryLimitRange, "Invalid host_memory_limit", "%q: %v", *fc.HostMemoryLimit, err)
		}
		cfg.HostMemoryLimit = n
	}

	if fc.AllowedHosts != nil {
		for _, h := range *fc.AllowedHosts {
			if err := checkAllowedHost(h); err != nil {
				bad(fc.AllowedHostsRange, "Invalid allowed_hosts", "%q: %v", h, err)
			}
		}
		cfg.AllowedHosts = *fc.AllowedHosts
	}
	if fc.AllowedOrigins != nil {
		for _, o := range *fc.AllowedOrigins {
			if err := checkOrigin(o); err != nil {
				bad(fc.AllowedOriginsRange, "Invalid allowed_origins", "%q: %v", o, err)
			}
		}
		cfg.AllowedOrigins = *fc.AllowedOrigins
	}
	if fc.StrictTypes != nil {
		cfg.StrictTypes = *fc.StrictTypes
	}
	if fc.UI != nil {
		cfg.UI = *fc.UI
	}
	if fc.UIReadOnly != nil {
		cfg.UIReadOnly = *fc.UIReadOnly
	}
	if fc.NodeID != nil {
		if err := host.ValidateNodeID(*fc.NodeID); err != nil {
			bad(fc.NodeIDRange, "Invalid node_id", "%v", err)
		}
		cfg.NodeID = *fc.NodeID
	}
	if fc.Lease != nil {
		d, err := parseDuration(*fc.Lease)
		if err == nil && d < MinLease {
			err = fmt.Errorf("want at least %v", MinLease)
		}
		if err != nil {
			bad(fc.LeaseRange, "Invalid lease", "%q: %v", *fc.Lease, err)
		}
		cfg.Lease = d
	}
	for i, sf := range fc.Stores {
		if i > 0 {
			bad(sf.DefRange, "Duplicate store", "the store is already defined at %s:%d", fc.Stores[0].DefRange.Filename, fc.Stores[0].DefRange.Start.Line)
			continue
		}
		cfg.Store = sf.toStore(bad)
	}

	seen := map[string]hcl.Range{}
	for _, hf := range fc.Handlers {
		if first, dup := seen[hf.Type]; dup {
			bad(hf.TypeRange, "Duplicate handler", "handler %q is already defined at %s:%d", hf.Type, first.Filename, first.Start.Line)
			continue
		}
		seen[hf.Type] = hf.DefRange
		hc, hdiags := hf.toHandler(dir)
		diags = append(diags, hdiags...)
		cfg.Handlers = append(cfg.Handlers, hc)
	}

	seen = map[string]hcl.Range{}
	for _, sf := range fc.Schedules {
		if first, dup := seen[sf.ID]; dup {
			bad(sf.IDRange, "Duplicate schedule", "schedule %q is already defined at %s:%d", sf.ID, first.Filename, first.Start.Line)
			continue
		}
		seen[sf.ID] = sf.DefRange
		sc, sdiags := sf.toSchedule()
		diags = append(diags, sdiags...)
		cfg.Schedules = append(cfg.Schedules, sc)
		if _, ok := cfg.handler(sc.Task.Type); !ok && cfg.StrictTypes && !sdiags.HasErrors() {
			bad(sf.DefRange, "Schedule of a type without a handler",
				"schedule %q creates tasks of type %q, which no handler block declares, and strict_types is on: want one of %s",
				sf.ID, sc.Task.Type, strings.Join(cfg.handlerTypes(), ", "))
		}
	}
	return diags
}

// handler returns the handler of task type typ.
func (c *Config) handler(typ string) (HandlerConfig, bool) {
	for _, hc := range c.Handlers {
		if hc.Type == typ {
			return hc, true
		}
	}
	return HandlerConfig{}, false
}

// handlerTypes lists the handlers' task types, in file order; "none" when
// there is none.
func (c *Config) handlerTypes() []string {
	if len(c.Handlers) == 0 {
		return []string{"none"}
	}
	types := make([]string, len(c.Handlers))
	for i, hc := range c.Handlers {
		types[i] = hc.Type
	}
	return types
}

// checkAllowedHost checks an allowed_hosts entry: "*", a host name or IP
// address, optionally with a port.
func checkAllowedHost(h string) error {
	if h == "*" {
		return nil
	}
	name, port := h, ""
	if n, p, err := net.SplitHostPort(h); err == nil {
		name, port = n, p
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("the port is not a number from 1 to 65535")
		}
	}
	if net.ParseIP(strings.Trim(name, "[]")) != nil {
		return nil
	}
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '-' || r == '.' || r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) {
		return errors.New(`want "*", a host name or an IP address, optionally with ":port"`)
	}
	return nil
}

// checkOrigin checks an allowed_origins entry: scheme://host[:port], as
// browsers send it in the Origin header.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New(`want an origin as browsers send it: http:// or https://, a host and an optional port, no path (like "https://ops.example:8443")`)
	}
	return nil
}

func (hf *handlerFile) toHandler(dir string) (HandlerConfig, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(rng hcl.Range, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("handler %q: ", hf.Type) + fmt.Sprintf(format, args...),
			Subject:  rng.Ptr(),
		})
	}
	hc := HandlerConfig{
		Type:     hf.Type,
		Method:   hf.Method,
		DefRange: hf.DefRange,
		// Workers run in the file's directory, so that relative paths in
		// config mean what they do in the file.
		Options: host.HandlerOptions{MaxWorkerCount: 1, WorkDir: dir},
	}
	// Refuse here what RegisterHandler would refuse at serve time, so that
	// the message points at the label.
	if err := host.ValidateTaskType(hf.Type); err != nil {
		bad(hf.TypeRange, "Invalid handler type", "%s", detail(err))
	}
	hf.command(dir, &hc, bad)
	if hf.Method == "" {
		bad(hf.MethodRange, "Invalid method", "it is empty: want the name of the method the plugin exports")
	}
	if hf.MaxWorkerCount != nil {
		n := *hf.MaxWorkerCount
		if n == 0 || n < -1 {
			bad(hf.MaxWorkerCountRange, "Invalid max_worker_count", "%d: want -1 (up to the system cap) or at least 1", n)
		}
		hc.Options.MaxWorkerCount = n
	}
	if hf.Concurrency != nil {
		if n := *hf.Concurrency; n < 1 {
			bad(hf.ConcurrencyRange, "Invalid concurrency", "%d: want 1 (one task per worker at a time) or more", n)
		}
		hc.Options.Concurrency = *hf.Concurrency
	}
	if hf.MinWorkers != nil {
		n := *hf.MinWorkers
		switch max := hc.Options.MaxWorkerCount; {
		case n < 0:
			bad(hf.MinWorkersRange, "Invalid min_workers", "%d: want 0 (start workers for tasks only) or more", n)
		case max != -1 && n > max:
			bad(hf.MinWorkersRange, "Invalid min_workers", "%d is more than max_worker_count %d: a handler cannot keep more workers started than it may run", n, max)
		}
		hc.Options.MinWorkers = n
	}
	if hf.IdleShutdownTimeout != nil {
		if *hf.IdleShutdownTimeout == "forever" {
			hc.Options.IdleShutdownTimeout = host.KeepForever
		} else {
			d, err := parseDuration(*hf.IdleShutdownTimeout)
			if err == nil && d < 0 {
				err = errors.New("want 0s (stop when idle), a positive duration or \"forever\"")
			}
			if err != nil {
				bad(hf.IdleShutdownTimeoutRange, "Invalid idle_shutdown_timeout", "%q: %v", *hf.IdleShutdownTimeout, err)
			}
			hc.Options.IdleShutdownTimeout = d
		}
	}
	if hf.InitialiseMethod != nil {
		hc.Options.InitialiseMethod = *hf.InitialiseMethod
	}
	if hf.ShutdownMethod != nil {
		hc.Options.ShutdownMethod = *hf.ShutdownMethod
	}
	if hf.ExecutionTimeout != nil {
		d, err := parseDuration(*hf.ExecutionTimeout)
		if err == nil && d < 0 {
			err = errors.New("want 0s (no limit) or a positive duration")
		}
		if err != nil {
			bad(hf.ExecutionTimeoutRange, "Invalid execution_timeout", "%q: %v", *hf.ExecutionTimeout, err)
		}
		hc.Options.ExecutionTimeout = d
	}
	if hf.SHA256 != nil {
		sum := strings.ToLower(*hf.SHA256)
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			bad(hf.SHA256Range, "Invalid sha256", "%q: want 64 hexadecimal digits", *hf.SHA256)
		}
		hc.Options.SHA256 = sum
	}
	if hf.MaxTasksPerWorker != nil {
		if n := *hf.MaxTasksPerWorker; n < 0 {
			bad(hf.MaxTasksPerWorkerRange, "Invalid max_tasks_per_worker", "%d: want 0 (no limit) or more", n)
		}
		hc.Options.MaxTasksPerWorker = *hf.MaxTasksPerWorker
	}
	if hf.MemoryLimit != nil {
		n, err := parseSize(*hf.MemoryLimit)
		if err == nil && n < 16<<20 {
			err = errors.New("want at least 16MiB: a Go plugin needs that much to start")
		}
		if err != nil {
			bad(hf.MemoryLimitRange, "Invalid memory_limit", "%q: %v", *hf.MemoryLimit, err)
		}
		hc.Options.MemoryLimit = n
	}
	if hf.Env != nil {
		for k, v := range *hf.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				bad(hf.EnvRange, "Invalid env", "variable name %q: want a name without '=' or NUL", k)
			}
			// exec refuses it, so every worker start would fail.
			if strings.Contains(v, "\x00") {
				bad(hf.EnvRange, "Invalid env", "variable %q: its value has a NUL, which no environment can hold", k)
			}
		}
		hc.Options.Env = *hf.Env
	}
	if hf.Config != nil {
		val, vdiags := hf.Config.Value(nil)
		diags = append(diags, vdiags...)
		switch {
		case vdiags.HasErrors() || val.IsNull():
		case !val.Type().IsObjectType() && !val.Type().IsMapType():
			bad(hf.Config.Range(), "Invalid config", "it is a %s: want an object, like { key = \"value\" }", val.Type().FriendlyName())
		default:
			data, err := ctyjson.Marshal(val, val.Type())
			if err != nil {
				bad(hf.Config.Range(), "Invalid config", "%v", err)
			}
			hc.Options.Config = data
		}
	}
	hf.twinEnv(&hc)
	return hc, diags
}

// Validate checks what flags may have changed after the file was read.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("no data directory: give data_dir in the config file or --data")
	}
	if err := checkListen(c.Listen); err != nil {
		return fmt.Errorf("listen address: %w", err)
	}
	if c.APIToken == "" && !loopback(c.Listen) {
		return fmt.Errorf("refusing to listen on %s without an API token: set api_token in the config or TASKHOST_TOKEN", c.Listen)
	}
	return nil
}

// loopback reports whether a host:port listens on loopback only.
func loopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// parseSize reads a size like "256MiB", "64MB", "512KiB" or "1048576".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New(`not a size: want a whole number with a unit, like "256MiB", "64MB" or "512KiB"`)
	}
	return n * mult, nil
}

// checkListen checks a host:port to listen on.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, like %s", addr, DefaultListen)
	}
	if port == "" {
		return nil // any free port
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q: want a number up to 65535", addr, port)
	}
	return nil
}

// parseDuration is time.ParseDuration with a message that says what a
// duration looks like.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`not a duration: want a number with a unit, like "500ms", "5s" or "2m"`)
	}
	return d, nil
}

// parsePositiveDuration is parseDuration for durations that must be
// above zero.
func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err == nil && d <= 0 {
		err = errors.New("want a positive duration")
	}
	return d, err
}

// resolve makes a path from the config file absolute: relative paths are
// relative to the file's directory.
func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
