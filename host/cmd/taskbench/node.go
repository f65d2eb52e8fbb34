package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
	"github.com/taskhost/taskhost/host/internal/pool"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// Targets from issue 13 for Node plugins (sdk/node).
const (
	targetNodeWarmOfGo   = 2  // × the Go plugin's warm call through the pool
	targetNodeColdOverMs = 20 // ms over node's own bare start (node -e 0)
)

// nodeStart runs the Node scenario cfg.runs times: the SDK's test plugin
// through the pool as coldStartOnce measures the Go plugin, a cold start
// (spawn + handshake + initialise + a call, minus a warm call) with the
// pool's mutual TLS and without, and a warm echo round trip; and node's
// own bare start (node -e 0, spawn to exit), timed right before each cold
// start, so that the two share the machine's load of the moment: the
// figure over the bare start is the median of those pairs' differences.
// The build of the SDK (npm ci, tsc) is not timed.
func (b *bench) nodeStart(ctx context.Context) error {
	t0 := time.Now()
	node, err := testplugin.BuildNode()
	if err != nil {
		return fmt.Errorf("the Node SDK (needs node and npm): %w", err)
	}
	b.logf("   built the Node SDK in %v", time.Since(t0).Round(time.Millisecond))
	for run := range b.cfg.runs {
		for _, mtls := range []bool{false, true} {
			r, err := b.nodeColdStart(ctx, node, mtls)
			if err != nil {
				return fmt.Errorf("run %d (mTLS %v): %w", run+1, mtls, err)
			}
			if mtls {
				b.res.add("node.coldmtls.p50", r.cold)
				b.res.add("node.coldmtls.over", r.over)
				b.res.add("node.warm.p50", r.warm*1000)
				b.res.add("node.go.warm.p50", r.goWarm*1000)
				b.res.add("node.warmfirst.p50", r.warmFirst*1000)
				b.res.add("node.go.warmfirst.p50", r.goWarmFirst*1000)
				continue
			}
			b.res.add("node.bare.p50", r.bare)
			b.res.add("node.cold.p50", r.cold)
			b.res.add("node.cold.over", r.over)
			b.res.add("node.nomtls.warm.p50", r.warm*1000)
			b.res.add("node.nomtls.go.warm.p50", r.goWarm*1000)
		}
	}
	return nil
}

// nodeStartFigures are one run's figures, in ms: the cold start p50 (the
// warm call's p50 subtracted), node's bare start p50, the median of the
// cold starts over the bare start timed before each, and the warm echo
// round trips.
type nodeStartFigures struct {
	cold, bare, over float64
	// Echo round trips, ms: p50 of the first warmCalls calls after the
	// start and p50 at the steady pace, of the Node plugin and of the Go
	// test plugin measured alike right after it.
	warmFirst, warm, goWarmFirst, goWarm float64
}

// nodeColdStart measures the Node test plugin through the pool.
func (b *bench) nodeColdStart(ctx context.Context, node testplugin.Node, mtls bool) (r nodeStartFigures, err error) {
	cfg := pool.Config{
		// Run as a handler with runtime = "node" runs it (taskhost serve
		// adds --use-openssl-ca; its config_command.go says why).
		Type: "bench-node", Path: node.Bin, Args: []string{"--use-openssl-ca", node.TestWorker}, Method: "pid", InitialiseMethod: "initialise",
		MaxWorkerCount: 1, IdleShutdownTimeout: 0, Logger: hclog.NewNullLogger(), DisableMTLS: !mtls,
	}
	req := pool.Request{Payload: json.RawMessage(echoPayload), Task: shared.CallTask{
		ID: "0123456789abcdef0123456789abcdef", Type: "bench-node", ThreadID: "main", Attempt: 1,
	}}
	p, err := pool.New(ctx, pool.NewSystem(workers), cfg)
	if err != nil {
		return r, err
	}
	var coldLat, bareLat measure.Latencies
	pid := 0
	for range b.cfg.spawns {
		// The previous worker stops in the background; let it go, so that
		// its exit does not share the CPU with the next spawn. (Its pid,
		// not its binary: node runs other programs on this machine too.)
		if err := waitExited(ctx, pid); err != nil {
			_ = p.Close(ctx)
			return r, err
		}
		t0 := time.Now()
		if out, err := exec.CommandContext(ctx, node.Bin, "-e", "0").CombinedOutput(); err != nil {
			_ = p.Close(ctx)
			return r, fmt.Errorf("node -e 0: %v: %s", err, out)
		}
		bareLat = append(bareLat, time.Since(t0))
		t0 = time.Now()
		out, err := p.Call(ctx, req, nil)
		d := time.Since(t0)
		if err == nil {
			err = json.Unmarshal(out, &pid)
		}
		if err != nil {
			_ = p.Close(ctx)
			return r, fmt.Errorf("cold call: %w", err)
		}
		coldLat = append(coldLat, d)
	}
	if s := p.Stats(); s.Spawns != uint64(b.cfg.spawns) {
		_ = p.Close(ctx)
		return r, fmt.Errorf("%d calls started %d workers: a call found a worker still up", b.cfg.spawns, s.Spawns)
	}
	if err := p.Close(ctx); err != nil {
		return r, err
	}

	cfg.IdleShutdownTimeout = pool.KeepForever
	cfg.Method = "pid"
	pidLat, err := callWarm(ctx, cfg, req, 0, warmCalls)
	if err != nil {
		return r, err
	}
	warmPid := pidLat.PMs(50)
	r.cold = coldLat.PMs(50) - warmPid
	r.bare = bareLat.PMs(50)
	over := make([]float64, len(coldLat))
	for i := range coldLat {
		over[i] = float64(coldLat[i]-bareLat[i])/float64(time.Millisecond) - warmPid
	}
	r.over = measure.Percentile(over, 50)

	// The warm round trips, the Node plugin's and the Go plugin's, each on
	// a worker of its own, measured the same way one after the other.
	cfg.Method = "echo"
	goCfg := cfg
	goCfg.Type, goCfg.Path, goCfg.Args = "bench-go", b.plugin, nil
	for _, w := range []struct {
		cfg           pool.Config
		first, steady *float64
	}{{cfg, &r.warmFirst, &r.warm}, {goCfg, &r.goWarmFirst, &r.goWarm}} {
		lat, err := callWarm(ctx, w.cfg, req, b.cfg.steadyAfter, b.cfg.steadyCalls)
		if err != nil {
			return r, err
		}
		*w.first = lat[:min(warmCalls, b.cfg.steadyAfter)].PMs(50)
		*w.steady = lat[b.cfg.steadyAfter:].PMs(50)
	}
	return r, nil
}

// callWarm starts one worker of cfg (a pool that keeps it) and returns
// the latencies of skip+n calls of req after the one that started it.
func callWarm(ctx context.Context, cfg pool.Config, req pool.Request, skip, n int) (measure.Latencies, error) {
	p, err := pool.New(ctx, pool.NewSystem(workers), cfg)
	if err != nil {
		return nil, err
	}
	defer p.Close(context.Background())
	lat := make(measure.Latencies, 0, skip+n)
	for i := range skip + n + 1 {
		t0 := time.Now()
		if _, err := p.Call(ctx, req, nil); err != nil {
			return nil, fmt.Errorf("warm call to %s: %w", cfg.Type, err)
		}
		if i > 0 { // the first starts the worker
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, p.Close(ctx)
}

// waitExited waits until process pid (0: none) has exited.
func waitExited(ctx context.Context, pid int) error {
	return waitFor(ctx, fmt.Sprintf("worker pid %d to exit", pid), func() bool { return pid == 0 || !testplugin.Alive(pid) })
}
