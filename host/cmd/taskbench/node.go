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

// nodeStart runs the Node scenario cfg.runs times: node's own bare start
// (node -e 0, spawn to exit), then the SDK's test plugin through the
// pool as coldStartOnce measures the Go plugin: a cold start (spawn +
// handshake + initialise + a call, minus a warm call) with the pool's
// mutual TLS and without, and a warm echo round trip. The build of the
// SDK (npm ci, tsc) is not timed.
func (b *bench) nodeStart(ctx context.Context) error {
	t0 := time.Now()
	node, err := testplugin.BuildNode()
	if err != nil {
		return fmt.Errorf("the Node SDK (needs node and npm): %w", err)
	}
	b.logf("   built the Node SDK in %v", time.Since(t0).Round(time.Millisecond))
	for run := range b.cfg.runs {
		var bare measure.Latencies
		for range b.cfg.spawns {
			t0 := time.Now()
			if out, err := exec.CommandContext(ctx, node.Bin, "-e", "0").CombinedOutput(); err != nil {
				return fmt.Errorf("node -e 0: %v: %s", err, out)
			}
			bare = append(bare, time.Since(t0))
		}
		bareP50 := bare.PMs(50)
		b.res.add("node.bare.p50", bareP50)
		for _, mtls := range []bool{false, true} {
			cold, warm, err := b.nodeColdStart(ctx, node, mtls)
			if err != nil {
				return fmt.Errorf("run %d (mTLS %v): %w", run+1, mtls, err)
			}
			if mtls {
				b.res.add("node.coldmtls.p50", cold)
				b.res.add("node.coldmtls.over", cold-bareP50)
				b.res.add("node.warm.p50", warm*1000)
				continue
			}
			b.res.add("node.cold.p50", cold)
			b.res.add("node.cold.over", cold-bareP50)
			b.res.add("node.nomtls.warm.p50", warm*1000)
		}
	}
	return nil
}

// nodeColdStart returns the cold start p50 (ms, the warm call's p50
// subtracted) and the warm echo round trip p50 (ms) of the Node test
// plugin through the pool.
func (b *bench) nodeColdStart(ctx context.Context, node testplugin.Node, mtls bool) (cold, warm float64, err error) {
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
		return 0, 0, err
	}
	var coldLat measure.Latencies
	pid := 0
	for range b.cfg.spawns {
		// The previous worker stops in the background; let it go, so that
		// its exit does not share the CPU with the next spawn. (Its pid,
		// not its binary: node runs other programs on this machine too.)
		if err := waitExited(ctx, pid); err != nil {
			_ = p.Close(ctx)
			return 0, 0, err
		}
		t0 := time.Now()
		out, err := p.Call(ctx, req, nil)
		d := time.Since(t0)
		if err == nil {
			err = json.Unmarshal(out, &pid)
		}
		if err != nil {
			_ = p.Close(ctx)
			return 0, 0, fmt.Errorf("cold call: %w", err)
		}
		coldLat = append(coldLat, d)
	}
	if s := p.Stats(); s.Spawns != uint64(b.cfg.spawns) {
		_ = p.Close(ctx)
		return 0, 0, fmt.Errorf("%d calls started %d workers: a call found a worker still up", b.cfg.spawns, s.Spawns)
	}
	if err := p.Close(ctx); err != nil {
		return 0, 0, err
	}

	cfg.IdleShutdownTimeout = pool.KeepForever
	for _, method := range []string{"pid", "echo"} {
		cfg.Method = method
		p, err := pool.New(ctx, pool.NewSystem(workers), cfg)
		if err != nil {
			return 0, 0, err
		}
		var lat measure.Latencies
		for i := range warmCalls + 1 {
			t0 := time.Now()
			if _, err := p.Call(ctx, req, nil); err != nil {
				_ = p.Close(ctx)
				return 0, 0, fmt.Errorf("warm call: %w", err)
			}
			if i > 0 { // the first starts the worker
				lat = append(lat, time.Since(t0))
			}
		}
		if err := p.Close(ctx); err != nil {
			return 0, 0, err
		}
		if method == "pid" {
			cold = coldLat.PMs(50) - lat.PMs(50)
		} else {
			warm = lat.PMs(50)
		}
	}
	return cold, warm, nil
}

// waitExited waits until process pid (0: none) has exited.
func waitExited(ctx context.Context, pid int) error {
	return waitFor(ctx, fmt.Sprintf("worker pid %d to exit", pid), func() bool { return pid == 0 || !testplugin.Alive(pid) })
}
