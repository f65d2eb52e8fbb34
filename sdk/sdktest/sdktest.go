// Package sdktest runs a plugin's methods in-process, over the same gRPC
// adapters the host uses, so that plugin authors can unit-test them
// without a host or a subprocess.
package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/shared"
)

// Plugin is a set of methods served over a real in-process gRPC
// connection.
type Plugin struct {
	worker   shared.Worker
	progress *shared.ProgressRouter
	nextID   atomic.Uint64
}

// Start serves methods and returns the connected plugin; everything is
// torn down when the test ends.
func Start(t testing.TB, methods sdk.Methods) *Plugin {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		shared.PluginName: &shared.WorkerPlugin{Impl: sdk.NewWorker(methods, nil)},
	})
	raw, err := client.Dispense(shared.PluginName)
	if err != nil {
		t.Fatalf("sdktest: dispense: %v", err)
	}
	p := &Plugin{worker: raw.(shared.Worker), progress: shared.NewProgressRouter()}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.progress.Watch(ctx, p.worker)
	}()
	<-p.progress.Ready()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = client.Close() // also stops the server
	})
	return p
}

// Methods lists the exported method names, sorted.
func (p *Plugin) Methods(ctx context.Context) ([]string, error) {
	return p.worker.Methods(ctx)
}

// Call runs method with payload encoded as JSON (a json.RawMessage is
// passed as it is) and returns its JSON result. A method's failure is a
// *shared.TaskError. onProgress, if not nil, receives progress reports.
func (p *Plugin) Call(ctx context.Context, method string, task sdk.Task, payload any, onProgress func(shared.Progress)) (json.RawMessage, error) {
	raw, ok := payload.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("sdktest: encode payload: %w", err)
		}
		raw = b
	}
	id := p.nextID.Add(1)
	p.progress.Begin(id, onProgress)
	call := shared.Call{ID: id, Method: method, Payload: raw, Task: shared.CallTask(task)}
	if d, ok := ctx.Deadline(); ok {
		call.Timeout = max(time.Until(d), time.Millisecond)
	}
	out, err := p.worker.Invoke(ctx, call)
	p.progress.End(ctx, id, out.ProgressEvents)
	if err != nil {
		return nil, err
	}
	if out.Error != nil {
		return nil, out.Error
	}
	return out.Result, nil
}

// Call runs method on p and decodes its result into R.
func Call[R any](ctx context.Context, p *Plugin, method string, payload any) (R, error) {
	var r R
	raw, err := p.Call(ctx, method, sdk.Task{ID: "sdktest", Type: "sdktest", ThreadID: "main", Attempt: 1}, payload, nil)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("sdktest: decode result of %q into %T: %w", method, r, err)
	}
	return r, nil
}
