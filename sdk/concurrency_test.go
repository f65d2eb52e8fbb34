package sdk_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
	"github.com/taskhost/taskhost/shared"
)

// gate is a method that counts the calls inside it and holds each until
// released.
type gate struct {
	active, most atomic.Int64
	inside       chan struct{}
	release      chan struct{}
}

func newGate() *gate {
	return &gate{inside: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) methods() sdk.Methods {
	return sdk.Methods{"hold": sdk.Func(func(ctx context.Context, _ sdk.Task, _ struct{}) (int64, error) {
		n := g.active.Add(1)
		defer g.active.Add(-1)
		for old := g.most.Load(); n > old && !g.most.CompareAndSwap(old, n); old = g.most.Load() {
		}
		g.inside <- struct{}{}
		select {
		case <-g.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return n, nil
	})}
}

// callMany starts n calls of hold and returns a func that waits for them.
func callMany(p *sdktest.Plugin, n int) func() []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = p.Call(context.Background(), "hold", sdk.Task{}, struct{}{}, nil) })
	}
	return func() []error { wg.Wait(); return errs }
}

func waitInside(t *testing.T, g *gate, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.inside:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d calls got inside the method", n)
		}
	}
}

func TestPluginRunsOneCallAtATimeUnlessItDeclaresMore(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := sdktest.Start(t, g.methods())
	info, err := p.Describe(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, info.MaxConcurrency)

	wait := callMany(p, 3)
	waitInside(t, g, 1)
	select {
	case <-g.inside:
		t.Fatal("a second call ran while the first was inside")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.release)
	for _, err := range wait() {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), g.most.Load())
}

func TestConcurrencyRunsUpToNCallsAtOnce(t *testing.T) {
	t.Parallel()
	g := newGate()
	p := sdktest.Start(t, g.methods(), sdktest.WithServeOptions(sdk.Concurrency(3)))
	info, err := p.Describe(context.Background())
	require.NoError(t, err)
	require.Equal(t, shared.PluginInfo{Methods: []string{"hold"}, MaxConcurrency: 3}, info)

	wait := callMany(p, 5)
	waitInside(t, g, 3)
	require.Equal(t, int64(3), g.active.Load())
	close(g.release)
	for _, err := range wait() {
		require.NoError(t, err)
	}
	require.Equal(t, int64(3), g.most.Load())
}

// Invokes in flight together may arrive in any order, and a Cancel may
// overtake its Invoke: the worker matches them by id.
func TestCancelThatOvertakesItsInvokeOutOfOrder(t *testing.T) {
	t.Parallel()
	g := newGate()
	w := sdk.NewWorker(g.methods(), nil, sdk.Concurrency(4))
	ctx := context.Background()
	invoke := func(id uint64) <-chan shared.Outcome {
		ch := make(chan shared.Outcome, 1)
		go func() {
			out, err := w.Invoke(ctx, shared.Call{ID: id, Method: "hold"})
			require.NoError(t, err)
			ch <- out
		}()
		return ch
	}
	// Call 2 arrives first; 3's cancel comes before 3 itself.
	two := invoke(2)
	waitInside(t, g, 1)
	found, err := w.Cancel(ctx, 3)
	require.NoError(t, err)
	require.True(t, found, "a cancel for a call still to come is kept")
	three := invoke(3)
	require.NotNil(t, (<-three).Error, "call 3 starts cancelled")
	one := invoke(1)
	waitInside(t, g, 1)
	close(g.release)
	require.Nil(t, (<-one).Error)
	require.Nil(t, (<-two).Error)

	for _, id := range []uint64{1, 2, 3} {
		found, err = w.Cancel(ctx, id)
		require.NoError(t, err)
		require.False(t, found, "call %d has finished: its late cancel is not kept", id)
	}
}
