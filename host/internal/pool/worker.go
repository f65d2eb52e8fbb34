package pool

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/taskhost/taskhost/shared"
)

// killReason records why the pool killed a worker, to name the error of
// the call it was running.
type killReason int

const (
	killNone killReason = iota
	killTimeout
	killCancel
	killClosed
	killUnresponsive
	killMemory
)

// worker is one plugin process.
type worker struct {
	id     int64
	pid    int
	pool   *Pool
	client *plugin.Client
	rpc    *shared.GRPCClient
	cmd    *exec.Cmd
	began  time.Time // when its start began
	tail   *stderrTail
	log    hclog.Logger
	// ctx lives as long as the process; cancelling it ends the progress
	// watch and any RPC in flight.
	ctx      context.Context
	cancel   context.CancelFunc
	progress *shared.ProgressRouter
	calls    atomic.Uint64
	// lastCall numbers the calls on this process: 1, 2, 3… (see
	// nextCallID).
	lastCall atomic.Uint64

	// Guarded by the pool's lock.
	idleGen   uint64
	idleSince time.Time
	// inflight counts the calls handed to it and not yet back; assigned
	// every call handed to it (max tasks per worker counts these).
	inflight int
	assigned uint64
	// draining: it takes no new call and stops once its calls are back
	// (recycle: because of MaxTasksPerWorker); open: it is in Pool.open;
	// dead: it crashed or was killed and is out of the pool.
	draining, recycle, open, dead bool

	mu sync.Mutex
	// live maps each running call to its kill timer (nil when none).
	live     map[uint64]*time.Timer
	watching bool // a memory watch runs
	// reason says why the process was killed, and reasonCall for which
	// call (0 for the whole process: its memory, the pool closing);
	// lostTold is set once a call has counted the loss in the stats.
	reason     killReason
	reasonCall uint64
	lostTold   bool
	rssSeen    int64 // the RSS that broke the memory limit
	// rss is the last RSS read, at rssAt, for Stats.
	rss   int64
	rssAt time.Time
	// tasks maps each running call to its task's id, for Stats.
	tasks map[uint64]string
}

// nextCallID numbers a call on w: the plugin matches a Cancel that
// overtakes its Invoke against ids with none skipped.
func (w *worker) nextCallID() uint64 { return w.lastCall.Add(1) }

// spawn starts a plugin process, completes the handshake and, when
// initialise is set, runs the handler's initialise method on it.
func (p *Pool) spawn(ctx context.Context, id int64, initialise bool) (*worker, error) {
	began := time.Now()
	// Checked at every start, not only at registration: the binary or
	// script may have been replaced since.
	if err := p.checkProgram(); err != nil {
		return nil, err
	}
	if p.cfg.Script != "" && p.cfg.SHA256 != "" {
		// go-plugin's SecureConfig would pin the interpreter.
		got, err := fileSHA256(p.cfg.Script)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %v", p.cfg.Script, err)
		}
		if got != p.cfg.SHA256 {
			return nil, fmt.Errorf("plugin %s: its sha256 checksum no longer matches the pinned %s", p.cfg.Script, p.cfg.SHA256)
		}
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Dir = p.cfg.Dir
	cmd.Env = p.env()
	var tlsConfig *tls.Config
	if !p.cfg.DisableMTLS {
		ch, err := p.sys.pluginTLS()
		if err != nil {
			return nil, fmt.Errorf("plugin %s: transport security: %w", p.cfg.program(), err)
		}
		cmd.Env = append(cmd.Env, ch.Env...)
		tlsConfig = ch.Config
	}
	// Own process group, so that stopping a worker stops whatever it
	// started; and SIGKILL when the host dies, so no worker outlives it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	pid := new(atomic.Int64)
	log := &pidLogger{Logger: p.log.With("worker", id), pid: pid}
	tail := &stderrTail{}
	name := p.cfg.programName()
	var secure *plugin.SecureConfig
	if p.cfg.SHA256 != "" && p.cfg.Script == "" {
		sum, _ := hex.DecodeString(p.cfg.SHA256) // checked in probe
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake(),
		VersionedPlugins: p.cfg.protocols(),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           &clientLogger{Logger: log, stderrName: filepath.Base(cmd.Path)},
		Stderr:           stderrLogger(log.Named(name), tail),
		SyncStdout:       stdioLogger(log, "stdout", nil),
		SyncStderr:       stdioLogger(log, "stderr", tail),
		StartTimeout:     p.cfg.StartTimeout,
		SkipHostEnv:      true,
		TLSConfig:        tlsConfig,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			// A result a little over the limit is still read, so that the
			// error can say by how much; gRPC refuses anything bigger.
			grpc.MaxCallRecvMsgSize(p.cfg.MaxResultSize + resultSlack),
		)},
	})
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("plugin %s: its sha256 checksum no longer matches the pinned %s", p.cfg.program(), p.cfg.SHA256)
		}
		return nil, fmt.Errorf("plugin %s did not complete the taskhost handshake: %v%s", p.cfg.program(), err, tail.suffix())
	}
	pid.Store(int64(cmd.Process.Pid))
	raw, err := rpcClient.Dispense(shared.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: dispense %q: %v", p.cfg.program(), shared.PluginName, err)
	}
	w := &worker{
		id: id, pid: cmd.Process.Pid, pool: p, client: client, cmd: cmd, tail: tail, began: began,
		rpc:      raw.(*shared.GRPCClient),
		log:      p.log.With("worker", id, "pid", cmd.Process.Pid),
		progress: shared.NewProgressRouter(),
		live:     make(map[uint64]*time.Timer),
		tasks:    make(map[uint64]string),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	// The watch is the first RPC, so a channel that cannot be set up (a
	// plugin that does not speak the host's TLS, or presents another
	// certificate) ends it before it is in place.
	watchEnded := make(chan error, 1)
	go func() {
		err := w.progress.Watch(w.ctx, w.rpc)
		if err != nil && w.ctx.Err() == nil {
			w.log.Debug("progress watch ended", "error", err)
		}
		watchEnded <- err
	}()
	select {
	case <-w.progress.Ready():
	case <-w.rpc.Done():
		return nil, w.exitedDuringStart()
	case err := <-watchEnded:
		return nil, w.noChannel(err, tlsConfig != nil)
	case <-ctx.Done():
		w.kill()
		w.wait()
		return nil, fmt.Errorf("plugin %s: start: %w", p.cfg.program(), ctx.Err())
	}
	// A plugin of protocol 2 takes its calls on one stream, opened now.
	if err := w.rpc.OpenCalls(w.ctx, p.cfg.MaxResultSize+resultSlack); err != nil {
		w.kill()
		w.wait()
		return nil, fmt.Errorf("plugin %s: open the calls stream: %w%s", p.cfg.program(), err, tail.suffix())
	}

	if initialise && p.cfg.InitialiseMethod != "" {
		if err := w.callMethod(ctx, p.cfg.InitialiseMethod, p.cfg.InitConfig); err != nil {
			w.kill()
			w.wait()
			return nil, &shared.TaskError{
				Name:    shared.ErrorNameInitialise,
				Message: fmt.Sprintf("initialise method %q of plugin %s failed: %v", p.cfg.InitialiseMethod, filepath.Base(p.cfg.program()), err),
			}
		}
	}
	return w, nil
}

func (w *worker) exitedDuringStart() error {
	w.kill()
	w.wait()
	return fmt.Errorf("plugin %s exited during start: %s", w.pool.cfg.program(), w.describeExit())
}

// noChannel ends a worker whose first RPC failed before the channel was
// up, and says why: its exit if it is exiting anyway (given a moment, as
// its stdout may close before it is reaped), else the channel's error.
func (w *worker) noChannel(err error, mtls bool) error {
	path := w.pool.cfg.program()
	select {
	case <-w.rpc.Done():
		return w.exitedDuringStart()
	case <-time.After(time.Second):
	}
	w.kill()
	w.wait()
	if err == nil {
		err = errors.New("it ended the progress stream at once")
	}
	// The gRPC status's own message, without "worker exited".
	if se, ok := errors.AsType[interface {
		error
		GRPCStatus() *status.Status
	}](err); ok {
		err = errors.New(se.GRPCStatus().Message())
	}
	if !mtls {
		return fmt.Errorf("plugin %s: no gRPC channel to it: %v%s", path, err, w.tail.suffix())
	}
	return fmt.Errorf("plugin %s: no mutual TLS channel to it (%v): a plugin must serve TLS 1.3 with the certificate "+
		"and key the host passes in %s and %s, and accept only the client certificate in %s; a plugin built with "+
		"an SDK older than that answers with a certificate of its own: rebuild it, or turn mTLS off for its handler%s",
		path, err, shared.EnvPluginCert, shared.EnvPluginKey, shared.EnvHostCert, w.tail.suffix())
}

// probe checks a handler before its pool is made: the binary, its
// checksum, the handshake and the exported methods.
func (p *Pool) probe(ctx context.Context) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: handler %q: "+format, append([]any{shared.ErrInvalidArgument, p.cfg.Type}, args...)...)
	}
	if err := p.checkProgram(); err != nil {
		return fail("%v", err)
	}
	if p.cfg.SHA256 != "" {
		want, err := hex.DecodeString(p.cfg.SHA256)
		if err != nil || len(want) != sha256.Size {
			return fail("sha256 %q: want 64 hex digits", p.cfg.SHA256)
		}
		got, err := fileSHA256(p.cfg.program())
		if err != nil {
			return fail("plugin %s: %v", p.cfg.program(), err)
		}
		if got != p.cfg.SHA256 {
			return fail("plugin %s has sha256 %s, but the handler pins %s", p.cfg.program(), got, p.cfg.SHA256)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	// Worker 0 is the check's own: it serves no call, and its start and
	// exit are not logged as a worker's.
	w, err := p.spawn(ctx, 0, false)
	if err != nil {
		return fail("%v", err)
	}
	defer w.close()
	info, err := w.rpc.Describe(ctx)
	if err != nil {
		return fail("plugin %s: list methods: %v", p.cfg.program(), err)
	}
	names := info.Methods
	for _, m := range []struct{ role, name string }{
		{"method", p.cfg.Method},
		{"initialise method", p.cfg.InitialiseMethod},
		{"shutdown method", p.cfg.ShutdownMethod},
	} {
		if m.name != "" && !slices.Contains(names, m.name) {
			return fail("plugin %s exports no %s %q (it exports: %s)", p.cfg.program(), m.role, m.name, strings.Join(names, ", "))
		}
	}
	if declared := max(info.MaxConcurrency, 1); p.conc > declared {
		if declared == 1 {
			return fail("concurrency %d: plugin %s runs one call at a time: it does not declare that its methods may run "+
				"concurrently (a Go plugin passes sdk.Concurrency(n) to sdk.Serve, a Node plugin { concurrency: n } to serve)", p.conc, p.cfg.program())
		}
		return fail("concurrency %d: plugin %s declares at most %d calls at once", p.conc, p.cfg.program(), declared)
	}
	p.log.Info("plugin checked", "plugin", p.cfg.program(), "methods", names, "max_concurrency", max(info.MaxConcurrency, 1),
		"took", time.Since(w.began).Round(time.Millisecond))
	return nil
}

// resultSlack is what gRPC may receive beyond MaxResultSize: the rest of
// the response message around the result.
const resultSlack = 64 << 10

// program is the file that is the plugin for the user: the script an
// interpreter runs, else the binary.
func (c Config) program() string {
	if c.Script != "" {
		return c.Script
	}
	return c.Path
}

// programName names the plugin's own log lines: the binary's name, or the
// script's without its extension.
func (c Config) programName() string {
	if c.Script == "" {
		return filepath.Base(c.Path)
	}
	base := filepath.Base(c.Script)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// checkProgram checks the binary (or interpreter) and the script.
func (p *Pool) checkProgram() error {
	if err := checkFile(p.cfg.Path, "plugin binary", true); err != nil {
		return err
	}
	if p.cfg.Script != "" {
		return checkFile(p.cfg.Script, "plugin script", false)
	}
	return nil
}

// checkFile refuses a plugin binary or script that is missing, not a
// regular file (executable, for a binary), or writable by anyone but its
// owner (anyone who can write it can run code as the host's plugins).
func checkFile(path, kind string, executable bool) error {
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %v", kind, err)
	case !info.Mode().IsRegular():
		return fmt.Errorf("%s %s is not a regular file", kind, path)
	case executable && info.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s %s is not executable (mode %v)", kind, path, info.Mode().Perm())
	case info.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s %s is writable by its group or others (mode %v): refusing to run it", kind, path, info.Mode().Perm())
	}
	return nil
}

// env is the plugin's environment: exactly Config.Env, plus two Go
// runtime settings unless Env sets them. GOMAXPROCS=1: a worker runs one
// call at a time and the host runs up to a worker per CPU, so a Go
// runtime per worker spinning on every CPU only burns the time the calls
// need (make bench: bulk throughput rises about 15% on 2 CPUs with 8
// workers). GOMEMLIMIT a little below the memory limit, so that a Go
// plugin's GC works harder before the watchdog kills it.
func (p *Pool) env() []string {
	env := make([]string, 0, len(p.cfg.Env)+2)
	for k, v := range p.cfg.Env {
		env = append(env, k+"="+v)
	}
	if _, set := p.cfg.Env["GOMAXPROCS"]; !set {
		env = append(env, "GOMAXPROCS=1")
	}
	if _, set := p.cfg.Env["GOMEMLIMIT"]; !set && p.cfg.MemoryLimit > 0 {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", p.cfg.MemoryLimit*9/10))
	}
	slices.Sort(env)
	return env
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// callMethod runs an initialise or shutdown method, bounded by ctx.
func (w *worker) callMethod(ctx context.Context, method string, payload json.RawMessage) error {
	call := shared.Call{ID: w.nextCallID(), Method: method, Payload: payload, Task: shared.CallTask{Type: w.pool.cfg.Type}}
	if d, ok := ctx.Deadline(); ok {
		call.Timeout = time.Until(d)
	}
	out, err := w.rpc.Invoke(ctx, call)
	if err != nil {
		if errors.Is(err, shared.ErrWorkerExited) {
			w.wait()
			return errors.New(w.describeExit())
		}
		return err
	}
	if out.Error != nil {
		return out.Error
	}
	return nil
}

// run executes one call on w. healthy is false when w must not be used
// again (it crashed or was killed).
func (p *Pool) run(ctx context.Context, w *worker, req Request, onProgress func(shared.Progress)) (result json.RawMessage, err error, healthy bool) {
	callID := w.nextCallID()
	w.beginCall(callID, req.Task.ID, p.cfg.MemoryLimit)
	w.progress.Begin(callID, onProgress)
	call := shared.Call{
		ID: callID, Method: p.cfg.Method, Payload: req.Payload, Task: req.Task,
		Timeout: p.cfg.ExecutionTimeout,
	}
	// Cancelling ctx (or a Close that ran out of time) asks the method to
	// stop; a method that has not returned after the grace period loses
	// its worker.
	interrupt := func(reason killReason) func() {
		return func() {
			cctx, cancel := context.WithTimeout(w.ctx, time.Second)
			_, _ = w.rpc.Cancel(cctx, callID)
			cancel()
			w.armKill(callID, reason, p.cfg.CancelGrace)
		}
	}
	stopCancel := context.AfterFunc(ctx, interrupt(killCancel))
	stopAbort := context.AfterFunc(p.aborted, interrupt(killClosed))
	if p.cfg.ExecutionTimeout > 0 {
		w.armKill(callID, killTimeout, p.cfg.ExecutionTimeout+p.cfg.CancelGrace)
	}
	start := time.Now()
	out, err := w.rpc.Invoke(w.ctx, call)
	elapsed := time.Since(start)
	stopCancel()
	stopAbort()
	reason, forCall := w.endCall(callID)
	// Reports sent before the method returned are delivered before the
	// call is over; the bound only matters if the watch broke.
	if out.ProgressEvents > 0 {
		pctx, cancel := context.WithTimeout(w.ctx, time.Second)
		w.progress.End(pctx, callID, out.ProgressEvents)
		cancel()
	} else {
		w.progress.End(w.ctx, callID, 0)
	}
	w.calls.Add(1)
	p.count(func(c *counters) { c.calls++ })

	if errors.Is(err, shared.ErrResultTooLarge) && reason == killNone {
		// The answer was refused (or, on the calls stream, not sent); the
		// worker itself is fine.
		size := -1
		if tl, ok := errors.AsType[*shared.ResultTooLargeError](err); ok {
			size = tl.Size
		}
		return nil, p.resultTooLarge(size), true
	}
	if err != nil {
		return nil, p.lostWorker(w, callID, reason, forCall, err), false
	}
	healthy = reason == killNone
	if out.Error == nil {
		if len(out.Result) > p.cfg.MaxResultSize {
			return nil, p.resultTooLarge(len(out.Result)), healthy
		}
		return out.Result, nil, healthy
	}
	te := out.Error
	switch {
	case ctx.Err() != nil:
		te = &shared.TaskError{Name: shared.ErrorNameCancelled, Message: fmt.Sprintf("method %q cancelled: %s", p.cfg.Method, te.Message)}
	case p.aborted.Err() != nil:
		te = &shared.TaskError{Name: shared.ErrorNameCancelled, Message: fmt.Sprintf(
			"method %q cancelled: the pool closed before it finished: %s", p.cfg.Method, te.Message)}
	case p.cfg.ExecutionTimeout > 0 && elapsed >= p.cfg.ExecutionTimeout:
		p.count(func(c *counters) { c.timeouts++ })
		te = &shared.TaskError{
			Name:    shared.ErrorNameExecutionTimeout,
			Message: fmt.Sprintf("method %q exceeded its execution timeout of %v: %s", p.cfg.Method, p.cfg.ExecutionTimeout, te.Message),
		}
	}
	return nil, te, healthy
}

func (p *Pool) resultTooLarge(size int) error {
	got := "more"
	if size >= 0 {
		got = fmt.Sprintf("%d", size)
	}
	return &shared.TaskError{Name: shared.ErrorNameResultTooLarge, Message: fmt.Sprintf(
		"method %q returned %s bytes: the result limit is %d bytes", p.cfg.Method, got, p.cfg.MaxResultSize)}
}

// watchMemory kills the worker if its resident memory goes above limit
// while it runs calls; it returns when none runs (beginCall starts it
// again).
func (w *worker) watchMemory(limit int64) {
	t := time.NewTicker(MemorySampleInterval)
	defer t.Stop()
	for {
		rss, err := residentBytes(w.pid)
		w.mu.Lock()
		if err == nil {
			w.rss, w.rssAt = rss, time.Now()
		}
		if len(w.live) == 0 {
			w.watching = false
			w.mu.Unlock()
			return
		}
		over := err == nil && rss > limit
		if over && w.reason == killNone {
			w.reason, w.rssSeen = killMemory, rss
		}
		w.mu.Unlock()
		if over {
			// Debug: the calls' errors say it, and the engine logs them.
			w.log.Debug("killing worker over its memory limit", "rss", rss, "limit", limit)
			w.kill()
			return // watching stays set: the process is gone
		}
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resident is the worker's RSS read at most maxAge ago (0 if it could
// not be read).
func (w *worker) resident(maxAge time.Duration) int64 {
	w.mu.Lock()
	rss, at := w.rss, w.rssAt
	w.mu.Unlock()
	if !at.IsZero() && time.Since(at) < maxAge {
		return rss
	}
	rss, err := residentBytes(w.pid)
	if err != nil {
		return 0
	}
	w.mu.Lock()
	w.rss, w.rssAt = rss, time.Now()
	w.mu.Unlock()
	return rss
}

// residentBytes reads a process's resident set size from /proc.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0, fmt.Errorf("statm of %d: %q", pid, b)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// lostWorker names the failure of call id, whose worker stopped
// answering. The process was killed for reason (killNone: it exited or
// hung by itself) because of call forCall (0: of the whole process).
func (p *Pool) lostWorker(w *worker, id uint64, reason killReason, forCall uint64, rpcErr error) error {
	if reason == killNone {
		// The process may still be on its way out: give it a moment to
		// exit by itself so that its exit status tells what happened.
		select {
		case <-w.rpc.Done():
		case <-time.After(2 * time.Second):
			w.setKillReason(killUnresponsive)
		}
		// Another call's timer may have killed it meanwhile.
		reason, forCall = w.killReason()
	}
	w.kill()
	w.wait()
	method := p.cfg.Method
	if forCall != 0 && forCall != id && (reason == killTimeout || reason == killCancel) {
		// Another call on the same process did not return in time; that
		// call counts the loss.
		why := "did not return within its execution timeout"
		if reason == killCancel {
			why = "was cancelled and did not return"
		}
		return &shared.TaskError{Name: shared.ErrorNameWorkerCrashed, Message: fmt.Sprintf(
			"worker pid %d was killed during method %q: another call on it %s (plus %v grace)", w.pid, method, why, p.cfg.CancelGrace)}
	}
	// The stats count the worker once, however many calls it took along.
	first := w.tellLost()
	count := func(f func(*counters)) {
		if first {
			p.count(f)
		}
	}
	switch reason {
	case killTimeout:
		count(func(c *counters) { c.timeouts++ })
		return &shared.TaskError{Name: shared.ErrorNameExecutionTimeout, Message: fmt.Sprintf(
			"method %q did not return within its execution timeout of %v (plus %v grace); worker pid %d killed",
			method, p.cfg.ExecutionTimeout, p.cfg.CancelGrace, w.pid)}
	case killCancel:
		count(func(c *counters) { c.kills++ })
		return &shared.TaskError{Name: shared.ErrorNameCancelled, Message: fmt.Sprintf(
			"method %q was cancelled and did not return within %v; worker pid %d killed", method, p.cfg.CancelGrace, w.pid)}
	case killClosed:
		count(func(c *counters) { c.kills++ })
		return &shared.TaskError{Name: shared.ErrorNameCancelled, Message: fmt.Sprintf(
			"method %q was still running when the pool closed; worker pid %d killed", method, w.pid)}
	case killMemory:
		count(func(c *counters) { c.memoryKills++ })
		w.mu.Lock()
		rss := w.rssSeen
		w.mu.Unlock()
		return &shared.TaskError{Name: shared.ErrorNameMemoryLimit, Message: fmt.Sprintf(
			"worker pid %d used %d MiB of memory during method %q, over its limit of %d MiB; killed",
			w.pid, rss>>20, method, p.cfg.MemoryLimit>>20)}
	case killUnresponsive:
		count(func(c *counters) { c.crashes++ })
		return &shared.TaskError{Name: shared.ErrorNameWorkerCrashed, Message: fmt.Sprintf(
			"worker pid %d stopped answering during method %q (%v); killed%s", w.pid, method, rpcErr, w.tail.suffix())}
	default:
		count(func(c *counters) { c.crashes++ })
		return &shared.TaskError{Name: shared.ErrorNameWorkerCrashed, Message: fmt.Sprintf(
			"worker pid %d exited during method %q: %s", w.pid, method, w.describeExit())}
	}
}

// tellLost reports whether this is the first call to report w's loss.
func (w *worker) tellLost() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := !w.lostTold
	w.lostTold = true
	return first
}

func (p *Pool) count(f func(*counters)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// describeExit says how the process ended and what it last wrote to stderr.
// Call it after wait.
func (w *worker) describeExit() string {
	return w.exitStatus() + w.tail.suffix()
}

// exitStatus is "exit status 2", "signal: killed" and the like, once the
// process has exited.
func (w *worker) exitStatus() string {
	if ps := w.cmd.ProcessState; ps != nil {
		return ps.String()
	}
	return "still running"
}

// beginCall registers call id, of task taskID, as running, and starts
// the memory watch if the pool has a limit and none runs yet.
func (w *worker) beginCall(id uint64, taskID string, memoryLimit int64) {
	w.mu.Lock()
	w.live[id] = nil
	w.tasks[id] = taskID
	watch := memoryLimit > 0 && !w.watching
	w.watching = w.watching || watch
	w.mu.Unlock()
	if watch {
		go w.watchMemory(memoryLimit)
	}
}

// endCall disarms call id's kill timer and returns why the worker was
// killed, if it was, and for which call.
func (w *worker) endCall(id uint64) (killReason, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t := w.live[id]; t != nil {
		t.Stop()
	}
	delete(w.live, id)
	delete(w.tasks, id)
	return w.reason, w.reasonCall
}

// runningTasks lists the ids of the tasks w runs.
func (w *worker) runningTasks() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for _, id := range w.tasks {
		ids = append(ids, id)
	}
	return ids
}

func (w *worker) killReason() (killReason, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reason, w.reasonCall
}

// armKill kills the worker after d unless call id has ended by then. An
// earlier kill timer is replaced only by a sooner one.
func (w *worker) armKill(id uint64, reason killReason, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, live := w.live[id]
	if !live {
		return
	}
	if t != nil && reason == killTimeout {
		return
	}
	if t != nil {
		t.Stop()
	}
	w.live[id] = time.AfterFunc(d, func() {
		w.mu.Lock()
		_, live := w.live[id]
		if live && w.reason == killNone {
			w.reason, w.reasonCall = reason, id
			if reason == killClosed {
				w.reasonCall = 0 // every call still running is the pool's closing
			}
		}
		w.mu.Unlock()
		if live {
			// Debug: the call's error says it, and the engine logs that.
			w.log.Debug("killing worker", "reason", reason.String(), "after", d, "call", id)
			w.kill()
		}
	})
}

func (r killReason) String() string {
	return [...]string{"none", "execution timeout", "cancel grace expired", "pool closed", "unresponsive", "memory limit"}[r]
}

func (w *worker) setKillReason(r killReason) {
	w.mu.Lock()
	if w.reason == killNone {
		w.reason = r
	}
	w.mu.Unlock()
}

// kill ends the process group at once.
func (w *worker) kill() {
	w.cancel()
	_ = syscall.Kill(-w.pid, syscall.SIGKILL)
}

// exited reports whether the process has already exited.
func (w *worker) exited() bool {
	select {
	case <-w.rpc.Done():
		return true
	default:
		return false
	}
}

// wait returns once the process has exited and go-plugin has let go of it.
func (w *worker) wait() {
	<-w.rpc.Done()
	w.client.Kill()
}

// close stops the process gracefully (go-plugin asks it to exit, and kills
// it after two seconds), then makes sure nothing of its group is left.
func (w *worker) close() {
	w.client.Kill()
	w.cancel()
	_ = syscall.Kill(-w.pid, syscall.SIGKILL)
	w.log.Debug("worker stopped", "calls", w.calls.Load())
}
