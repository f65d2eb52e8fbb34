package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
	"github.com/taskhost/taskhost/host/internal/pool"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
)

// warmCalls is how many calls measure a warm worker's round trip.
const warmCalls = 300

// coldStart runs the pool cold-start scenario cfg.runs times.
// Each run measures with mutual TLS (the default) and without, so that
// its cost shows.
func (b *bench) coldStart(ctx context.Context) error {
	for run := range b.cfg.runs {
		for _, mtls := range []bool{true, false} {
			if err := b.coldStartOnce(ctx, mtls); err != nil {
				return fmt.Errorf("run %d (mTLS %v): %w", run+1, mtls, err)
			}
		}
	}
	return nil
}

// coldStartOnce measures spawn + handshake + initialise through the pool:
// pool.Call on a pool that keeps no idle worker (IdleShutdownTimeout 0),
// so that every call, made once the previous worker has exited, starts a
// worker; minus the p50 of a call on a warm worker of a pool that keeps
// its worker, measured right after.
func (b *bench) coldStartOnce(ctx context.Context, mtls bool) error {
	req := pool.Request{Payload: json.RawMessage(echoPayload), Task: shared.CallTask{
		ID: "0123456789abcdef0123456789abcdef", Type: "bench-cold", ThreadID: "main", Attempt: 1,
	}}
	cold, err := pool.New(ctx, pool.NewSystem(workers), pool.Config{
		Type: "bench-cold", Path: b.plugin, Method: "echo", InitialiseMethod: "initialise",
		MaxWorkerCount: workers, IdleShutdownTimeout: 0, Logger: hclog.NewNullLogger(), DisableMTLS: !mtls,
	})
	if err != nil {
		return err
	}
	var coldLat, rawLat measure.Latencies
	for range b.cfg.spawns {
		// The previous worker stops in the background; let it go, so
		// that its exit does not share the CPU with the next spawn.
		if err := waitNoWorkers(ctx, b.plugin); err != nil {
			_ = cold.Close(ctx)
			return err
		}
		if mtls {
			// The raw start the target compares with, alternated with
			// the pool's: the raw-spawn baseline ran minutes earlier, and
			// this VM's start times drift by a third in minutes.
			raw, err := rawColdStart(ctx, b.plugin, channel{}, 1)
			if err != nil {
				_ = cold.Close(ctx)
				return err
			}
			rawLat = append(rawLat, raw...)
			if err := waitNoWorkers(ctx, b.plugin); err != nil {
				_ = cold.Close(ctx)
				return err
			}
		}
		t0 := time.Now()
		_, err := cold.Call(ctx, req, nil)
		d := time.Since(t0)
		if err != nil {
			_ = cold.Close(ctx)
			return fmt.Errorf("cold call: %w", err)
		}
		coldLat = append(coldLat, d)
	}
	if s := cold.Stats(); s.Spawns != uint64(b.cfg.spawns) {
		_ = cold.Close(ctx)
		return fmt.Errorf("%d calls started %d workers: a call found a worker still up", b.cfg.spawns, s.Spawns)
	}
	if err := cold.Close(ctx); err != nil {
		return err
	}

	warmLat, err := callWarm(ctx, pool.Config{
		Type: "bench-cold", Path: b.plugin, Method: "echo", InitialiseMethod: "initialise",
		MaxWorkerCount: 1, IdleShutdownTimeout: pool.KeepForever, Logger: hclog.NewNullLogger(), DisableMTLS: !mtls,
	}, req, 0, warmCalls)
	if err != nil {
		return err
	}
	warmP50 := warmLat.PMs(50)
	if !mtls {
		b.res.add("cold.nomtls.spawn.p50", coldLat.PMs(50)-warmP50)
		b.res.add("cold.nomtls.warm.p50", warmP50*1000)
		return nil
	}
	b.res.add("cold.spawn.p50", coldLat.PMs(50)-warmP50)
	b.res.add("cold.raw.p50", rawLat.PMs(50))
	b.res.add("cold.spawnvsraw.p50", coldLat.PMs(50)-warmP50)
	b.res.add("cold.spawn.p99", coldLat.PMs(99)-warmP50)
	b.res.add("cold.warm.p50", warmP50*1000)
	return nil
}

// waitNoWorkers waits until no process runs the plugin binary at path.
func waitNoWorkers(ctx context.Context, path string) error {
	return waitFor(ctx, "workers of "+path+" to exit", func() bool { return len(testplugin.Running(path)) == 0 })
}

// waitFor polls cond every millisecond until it holds, for 10 s at most.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("waited 10s for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
