package shared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/taskhost/taskhost/shared/proto"
)

// The Calls stream between a real gRPC client and server on loopback; the
// plugin side is a small Worker whose methods the tests steer.

// streamWorker is the plugin's side: "echo" returns its payload, "big" a
// string of as many bytes as its payload says, "wait" blocks until its
// call is cancelled or released, "broken" fails as a worker.
type streamWorker struct {
	mu        sync.Mutex
	running   map[uint64]context.CancelFunc
	cancelled []uint64
	release   chan struct{}
	started   chan uint64
}

func (w *streamWorker) Describe(context.Context) (PluginInfo, error) { return PluginInfo{}, nil }

func (w *streamWorker) Invoke(ctx context.Context, call Call) (Outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	w.running[call.ID] = cancel
	w.mu.Unlock()
	switch call.Method {
	case "echo":
		return Outcome{Result: call.Payload}, nil
	case "big":
		var n int
		if err := json.Unmarshal(call.Payload, &n); err != nil {
			return Outcome{}, err
		}
		return Outcome{Result: json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)}, nil
	case "wait":
		w.started <- call.ID
		select {
		case <-ctx.Done():
			return Outcome{Error: &TaskError{Name: "Cancelled", Message: "cancelled"}}, nil
		case <-w.release:
			return Outcome{Result: json.RawMessage(`"released"`)}, nil
		}
	case "broken":
		return Outcome{}, errors.New("the worker itself failed")
	case "chatty": // fails with a message of as many é as its payload says
		var n int
		if err := json.Unmarshal(call.Payload, &n); err != nil {
			return Outcome{}, err
		}
		return Outcome{Error: &TaskError{Name: "TooChatty", Message: strings.Repeat("é", n), Permanent: true}}, nil
	}
	return Outcome{}, fmt.Errorf("no method %q", call.Method)
}

func (w *streamWorker) Cancel(_ context.Context, id uint64) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancelled = append(w.cancelled, id)
	if cancel, ok := w.running[id]; ok {
		cancel()
		return true, nil
	}
	return false, nil
}

func (w *streamWorker) WatchProgress(ctx context.Context, _ func(ProgressEvent)) error {
	<-ctx.Done()
	return nil
}

func (w *streamWorker) cancels() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint64(nil), w.cancelled...)
}

// openStream serves w on loopback and returns a client with the Calls
// stream open, receiving answers up to maxMessage bytes, and a function
// that stops the server.
func openStream(t *testing.T, w *streamWorker, maxMessage int) (*GRPCClient, func()) {
	t.Helper()
	w.running = make(map[uint64]context.CancelFunc)
	w.release = make(chan struct{})
	w.started = make(chan uint64, 8)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	proto.RegisterWorkerServer(s, &GRPCServer{Impl: w})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	c := &GRPCClient{client: proto.NewWorkerClient(cc), doneCtx: context.Background(), callsProtocol: true}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, c.OpenCalls(ctx, maxMessage))
	require.NotNil(t, c.calls.Load(), "protocol 2 opens the stream")
	return c, s.Stop
}

func TestOpenCallsOnProtocolOneIsANoOp(t *testing.T) {
	t.Parallel()
	c := &GRPCClient{}
	require.NoError(t, c.OpenCalls(context.Background(), 1<<20))
	require.Nil(t, c.calls.Load())
}

func TestCallsAnswersReachTheirCallsInAnyOrder(t *testing.T) {
	t.Parallel()
	w := &streamWorker{}
	c, _ := openStream(t, w, 1<<20)
	ctx := context.Background()

	waited := make(chan Outcome, 1)
	go func() {
		out, err := c.Invoke(ctx, Call{ID: 1, Method: "wait"})
		require.NoError(t, err)
		waited <- out
	}()
	require.Equal(t, uint64(1), <-w.started)
	// Call 2 finishes while call 1 still runs on the same stream.
	for id := uint64(2); id < 6; id++ {
		out, err := c.Invoke(ctx, Call{ID: id, Method: "echo", Payload: json.RawMessage(fmt.Sprint(id))})
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(id), string(out.Result))
	}
	close(w.release)
	require.Equal(t, `"released"`, string((<-waited).Result))

	out, err := c.Invoke(ctx, Call{ID: 6, Method: "broken"})
	require.NoError(t, err, "a worker's own failure is the call's, not the stream's")
	require.Equal(t, "Error", out.Error.Name)
	require.Contains(t, out.Error.Message, "the worker itself failed")
	out, err = c.Invoke(ctx, Call{ID: 7, Method: "echo", Payload: json.RawMessage(`"after"`)})
	require.NoError(t, err)
	require.Equal(t, `"after"`, string(out.Result))
}

func TestCallsGivenUpAsksThePluginToCancel(t *testing.T) {
	t.Parallel()
	w := &streamWorker{}
	c, _ := openStream(t, w, 1<<20)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx, Call{ID: 1, Method: "wait"})
		done <- err
	}()
	require.Equal(t, uint64(1), <-w.started)
	cancel()
	err := <-done
	require.ErrorContains(t, err, "context canceled")
	require.NotErrorIs(t, err, ErrWorkerExited)
	require.Eventually(t, func() bool { return len(w.cancels()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []uint64{1}, w.cancels())

	// The cancelled call's late answer is dropped; the stream goes on.
	out, err := c.Invoke(context.Background(), Call{ID: 2, Method: "echo", Payload: json.RawMessage(`2`)})
	require.NoError(t, err)
	require.Equal(t, "2", string(out.Result))
}

func TestCallsResultOverTheLimitIsSentAsItsSize(t *testing.T) {
	t.Parallel()
	w := &streamWorker{}
	c, _ := openStream(t, w, 4096)

	_, err := c.Invoke(context.Background(), Call{ID: 1, Method: "big", Payload: json.RawMessage(`100000`)})
	require.ErrorIs(t, err, ErrResultTooLarge)
	tl, ok := errors.AsType[*ResultTooLargeError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 100000, tl.Size)

	// A result that fits with its message, and one that does not by a
	// little: the check is on the whole response.
	out, err := c.Invoke(context.Background(), Call{ID: 2, Method: "big", Payload: json.RawMessage(`4000`)})
	require.NoError(t, err)
	require.Len(t, out.Result, 4000)
	_, err = c.Invoke(context.Background(), Call{ID: 3, Method: "big", Payload: json.RawMessage(`4094`)})
	require.ErrorIs(t, err, ErrResultTooLarge)
}

func TestCallsErrorOverTheLimitIsCutKeepingItsName(t *testing.T) {
	t.Parallel()
	w := &streamWorker{}
	c, _ := openStream(t, w, 1024)

	out, err := c.Invoke(context.Background(), Call{ID: 1, Method: "chatty", Payload: json.RawMessage(`3000`)})
	require.NoError(t, err)
	require.NotNil(t, out.Error, "a failure stays a failure")
	require.Equal(t, "TooChatty", out.Error.Name)
	require.True(t, out.Error.Permanent)
	require.True(t, utf8.ValidString(out.Error.Message), "cut between characters")
	require.True(t, strings.HasPrefix(out.Error.Message, "éé"), out.Error.Message)
	require.True(t, strings.HasSuffix(out.Error.Message, " … (6000 bytes cut: the host takes answers of up to 1024 bytes)"), out.Error.Message)
	require.Greater(t, len(out.Error.Message), 800, "as much of the message as fits")

	out, err = c.Invoke(context.Background(), Call{ID: 2, Method: "chatty", Payload: json.RawMessage(`10`)})
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("é", 10), out.Error.Message, "a message that fits is whole")
}

func TestCallsRefuseAnIDAlreadyInFlight(t *testing.T) {
	t.Parallel()
	w := &streamWorker{}
	c, _ := openStream(t, w, 1<<20)

	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), Call{ID: 9, Method: "wait"})
		done <- err
	}()
	require.Equal(t, uint64(9), <-w.started)
	_, err := c.Invoke(context.Background(), Call{ID: 9, Method: "echo"})
	require.ErrorContains(t, err, "call id 9 is already in flight")
	close(w.release)
	require.NoError(t, <-done, "the first call with the id still gets its answer")
}

func TestCallsInFlightFailWhenTheStreamEnds(t *testing.T) {
	t.Parallel()
	w := &streamWorker{}
	c, stop := openStream(t, w, 1<<20)

	errs := make(chan error, 2)
	for id := uint64(1); id <= 2; id++ {
		go func() {
			_, err := c.Invoke(context.Background(), Call{ID: id, Method: "wait"})
			errs <- err
		}()
		<-w.started
	}
	stop()
	for range 2 {
		err := <-errs
		require.Error(t, err)
		require.ErrorIs(t, err, ErrWorkerExited, "the connection is gone: %v", err)
	}
	_, err := c.Invoke(context.Background(), Call{ID: 3, Method: "echo"})
	require.ErrorIs(t, err, ErrWorkerExited, "a call after the end fails at once")
}
