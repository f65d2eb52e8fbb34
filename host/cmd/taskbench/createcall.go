package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
)

// createClients is how many clients call POST /v1/tasks at once.
const createClients = 8

// createCall runs the create-call scenario cfg.runs times on the
// backend.
func (b *bench) createCall(ctx context.Context, be *backend) error {
	return repeat(ctx, b.cfg.runs, be, b.createCallOnce)
}

// createCallOnce measures durable POST /v1/tasks for a type without a
// handler, so that nothing but the API and the store is at work: with
// createClients clients in a loop for cfg.createDur (latency and
// throughput), then with one client for half that (latency).
func (b *bench) createCallOnce(ctx context.Context, be *backend) error {
	bh, err := b.newHost(ctx, hostConfig{Backend: be})
	if err != nil {
		return err
	}
	defer bh.close()
	// One call first: the connection and the store's first write.
	if _, err := bh.client.Create(ctx, "bench-nohandler", json.RawMessage(echoPayload), host.CreateOptions{}); err != nil {
		return err
	}
	rate, lat, err := createLoop(ctx, bh, createClients, b.cfg.createDur)
	if err != nil {
		return err
	}
	b.res.add(be.key("create.c8.p50"), lat.PMs(50))
	b.res.add(be.key("create.c8.p99"), lat.PMs(99))
	b.res.add(be.key("create.c8.rate"), rate)
	_, lat1, err := createLoop(ctx, bh, 1, b.cfg.createDur/2)
	if err != nil {
		return err
	}
	b.res.add(be.key("create.c1.p50"), lat1.PMs(50))
	b.res.add(be.key("create.c1.p99"), lat1.PMs(99))
	return nil
}

// createLoop runs clients goroutines creating tasks one call at a time
// for d, and returns creates per second and every call's latency.
func createLoop(ctx context.Context, bh *benchHost, clients int, d time.Duration) (float64, measure.Latencies, error) {
	return measure.ClosedLoop(clients, d, 0, func(int, int) error {
		if _, err := bh.client.Create(ctx, "bench-nohandler", json.RawMessage(echoPayload), host.CreateOptions{}); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return nil
	})
}
