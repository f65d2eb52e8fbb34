package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
	"github.com/taskhost/taskhost/shared"
)

// The baselines: what the parts the host is built of do on their own,
// measured in the same run as the host so that ratios compare like with
// like on the same machine state.

// rawWorker is a testworker process driven directly through go-plugin,
// the way the pool does it but with nothing around it.
type rawWorker struct {
	client *plugin.Client
	rpc    *shared.GRPCClient
}

// channel is how the host talks to a raw worker. It is secured with plain
// gRPC (the zero value), go-plugin's AutoMTLS (a P-521 key and certificate
// made on each side at every start: the pool's default before issue 12),
// or the pool's mutual TLS, with host as the host's identity. With calls,
// the worker's calls travel on its Calls stream (protocol 2), as the pool
// sends them, rather than as a unary Invoke each, go-plugin's plain call.
type channel struct {
	autoMTLS bool
	host     *shared.Identity
	calls    bool
}

// spawnRaw starts the plugin, completes the handshake and dispenses the
// worker. The process attributes are the pool's.
func spawnRaw(path string, ch channel) (*rawWorker, error) {
	cmd := exec.Command(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var tlsConfig *tls.Config
	if ch.host != nil {
		pt, err := ch.host.NewPluginTLS()
		if err != nil {
			return nil, fmt.Errorf("raw worker: %w", err)
		}
		cmd.Env, tlsConfig = pt.Env, pt.Config
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake(),
		VersionedPlugins: shared.VersionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         ch.autoMTLS,
		TLSConfig:        tlsConfig,
		Logger:           hclog.NewNullLogger(),
	})
	rc, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("raw worker: handshake: %w", err)
	}
	raw, err := rc.Dispense(shared.PluginName)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("raw worker: dispense: %w", err)
	}
	w := &rawWorker{client: c, rpc: raw.(*shared.GRPCClient)}
	if ch.calls {
		if err := w.rpc.OpenCalls(context.Background(), 64<<20); err != nil {
			c.Kill()
			return nil, fmt.Errorf("raw worker: open the calls stream: %w", err)
		}
	}
	return w, nil
}

func (w *rawWorker) invoke(ctx context.Context, id uint64, method string, payload []byte) error {
	out, err := w.rpc.Invoke(ctx, shared.Call{
		ID: id, Method: method, Payload: payload,
		Task: shared.CallTask{ID: "0123456789abcdef0123456789abcdef", Type: echoType, ThreadID: "main", Attempt: 1},
	})
	if err != nil {
		return err
	}
	if out.Error != nil {
		return out.Error
	}
	return nil
}

// echoPayload is every echo task's payload.
const echoPayload = `{"n":1}`

// rawEcho runs callers goroutines for d, caller i calling echo on process
// i % procs in a loop, one call every `every` (back to back when 0), and
// returns calls per second and every round trip.
func rawEcho(ctx context.Context, path string, ch channel, procs, callers int, d, every time.Duration) (float64, measure.Latencies, error) {
	ws := make([]*rawWorker, 0, procs)
	defer func() {
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Go(w.client.Kill)
		}
		wg.Wait()
	}()
	for range procs {
		w, err := spawnRaw(path, ch)
		if err != nil {
			return 0, nil, err
		}
		if err := w.invoke(ctx, 1, "echo", []byte(echoPayload)); err != nil {
			return 0, nil, fmt.Errorf("raw echo: %w", err)
		}
		ws = append(ws, w)
	}
	return measure.ClosedLoop(callers, d, every, func(c, i int) error {
		if err := ws[c%procs].invoke(ctx, uint64(i)+2, "echo", []byte(echoPayload)); err != nil {
			return fmt.Errorf("raw echo: %w", err)
		}
		return nil
	})
}

// rawColdStart spawns n workers one after the other and returns, for
// each, the time from plugin.NewClient to the first successful call of
// initialise. Each is killed (untimed) before the next starts.
func rawColdStart(ctx context.Context, path string, ch channel, n int) (measure.Latencies, error) {
	out := make(measure.Latencies, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		w, err := spawnRaw(path, ch)
		if err != nil {
			return nil, err
		}
		err = w.invoke(ctx, 1, "initialise", []byte(`{}`))
		d := time.Since(t0)
		w.client.Kill()
		if err != nil {
			return nil, fmt.Errorf("raw cold start: initialise: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// groupCommit is the minimal application-level group commit the issue
// describes: Badger commits without syncing, a writer then waits for a
// db.Sync that started after its commit, and one goroutine syncs while
// anyone waits, so one sync covers every writer that arrived during the
// previous one.
type groupCommit struct {
	sync func() error

	mu      sync.Mutex
	wake    sync.Cond // the syncer waits here for waiters
	synced  sync.Cond // waiters wait here for their sync
	next    uint64    // generation of the next sync to start
	done    uint64    // every generation up to this one is on disk
	waiting int       // waiters the next sync will cover
	err     error
	stopped bool
	exited  chan struct{}
}

func newGroupCommit(sync func() error) *groupCommit {
	g := &groupCommit{sync: sync, next: 1, exited: make(chan struct{})}
	g.wake.L = &g.mu
	g.synced.L = &g.mu
	go g.loop()
	return g
}

// wait returns once a sync that started after the call has finished.
func (g *groupCommit) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	gen := g.next
	g.waiting++
	g.wake.Signal()
	for g.done < gen && g.err == nil {
		g.synced.Wait()
	}
	return g.err
}

func (g *groupCommit) loop() {
	defer close(g.exited)
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for g.waiting == 0 && !g.stopped {
			g.wake.Wait()
		}
		if g.stopped {
			return
		}
		gen := g.next
		g.next++
		g.waiting = 0
		g.mu.Unlock()
		err := g.sync()
		g.mu.Lock()
		g.done = gen
		if err != nil && g.err == nil {
			g.err = err
		}
		g.synced.Broadcast()
	}
}

func (g *groupCommit) stop() {
	g.mu.Lock()
	g.stopped = true
	g.wake.Signal()
	g.mu.Unlock()
	<-g.exited
}

// rawBadger opens Badger in a fresh directory with SyncWrites=false and
// runs writers goroutines for d, each committing one ~200-byte key per
// transaction and waiting for the group commit to cover it. It returns
// durable commits per second and every commit's latency (transaction
// start to sync acknowledged).
func rawBadger(dir string, writers int, d time.Duration) (float64, measure.Latencies, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(false).WithLogger(nil).WithMetricsEnabled(false))
	if err != nil {
		return 0, nil, fmt.Errorf("raw badger: %w", err)
	}
	defer os.RemoveAll(dir)
	defer db.Close()
	g := newGroupCommit(db.Sync)
	defer g.stop()

	value := make([]byte, 200)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	return measure.ClosedLoop(writers, d, 0, func(w, seq int) error {
		key := make([]byte, 16)
		binary.BigEndian.PutUint64(key, uint64(w))
		binary.BigEndian.PutUint64(key[8:], uint64(seq))
		txn := db.NewTransaction(true)
		err := txn.Set(key, value)
		if err == nil {
			err = txn.Commit()
		}
		txn.Discard()
		if err == nil {
			err = g.wait()
		}
		if err != nil {
			return fmt.Errorf("raw badger: %w", err)
		}
		return nil
	})
}
