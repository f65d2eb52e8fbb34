package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskhost/taskhost/shared/proto"
)

// GRPCClient is the host side of the worker protocol: it translates
// [Worker] calls to gRPC and back.
type GRPCClient struct {
	client  proto.WorkerClient
	doneCtx context.Context
	// callsProtocol: the plugin speaks protocol 2, and OpenCalls opens
	// calls, the stream Invoke then uses.
	callsProtocol bool
	calls         atomic.Pointer[callStream]
}

var _ Worker = (*GRPCClient)(nil)

// Describe implements [Worker].
func (c *GRPCClient) Describe(ctx context.Context) (PluginInfo, error) {
	resp, err := c.client.Methods(ctx, &proto.MethodsRequest{})
	if err != nil {
		return PluginInfo{}, c.translate(err)
	}
	return PluginInfo{Methods: resp.GetNames(), MaxConcurrency: int(resp.GetMaxConcurrency())}, nil
}

// Invoke implements [Worker].
func (c *GRPCClient) Invoke(ctx context.Context, call Call) (Outcome, error) {
	if s := c.calls.Load(); s != nil {
		return s.invoke(ctx, call)
	}
	resp, err := c.client.Invoke(ctx, callToProto(call))
	if err != nil {
		return Outcome{}, c.translate(err)
	}
	return outcomeFromProto(resp), nil
}

// Cancel implements [Worker].
func (c *GRPCClient) Cancel(ctx context.Context, callID uint64) (bool, error) {
	resp, err := c.client.Cancel(ctx, &proto.CancelRequest{CallId: callID})
	if err != nil {
		return false, c.translate(err)
	}
	return resp.GetFound(), nil
}

// WatchProgress implements [Worker].
func (c *GRPCClient) WatchProgress(ctx context.Context, fn func(ProgressEvent)) error {
	stream, err := c.client.WatchProgress(ctx, &proto.WatchProgressRequest{})
	if err != nil {
		return c.translate(err)
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.translate(err)
		}
		fn(ProgressEvent{CallID: ev.GetCallId(), Percent: ev.GetPercent(), Message: ev.GetMessage()})
	}
}

// translate maps a transport failure of a dead plugin to ErrWorkerExited
// and an answer over the receive limit to ErrResultTooLarge.
func (c *GRPCClient) translate(err error) error {
	if c.doneCtx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrWorkerExited, err)
	}
	switch status.Code(err) {
	case codes.Unavailable:
		return fmt.Errorf("%w: %w", ErrWorkerExited, err)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %w", ErrResultTooLarge, err)
	}
	return err
}

func callToProto(call Call) *proto.InvokeRequest {
	t := &proto.TaskInfo{
		Id:         call.Task.ID,
		Type:       call.Task.Type,
		ThreadId:   call.Task.ThreadID,
		Attempt:    int32(call.Task.Attempt),
		ContextIds: call.Task.ContextIDs,
	}
	if call.Task.RetriesRemaining != nil {
		r := int32(*call.Task.RetriesRemaining)
		t.RetriesRemaining = &r
	}
	return &proto.InvokeRequest{
		CallId:    call.ID,
		Method:    call.Method,
		Payload:   call.Payload,
		Task:      t,
		TimeoutMs: call.Timeout.Milliseconds(),
	}
}

func outcomeFromProto(resp *proto.InvokeResponse) Outcome {
	out := Outcome{Result: resp.GetResult(), ProgressEvents: resp.GetProgressEvents()}
	if e := resp.GetError(); e != nil {
		out.Result = nil
		out.Error = &TaskError{Name: e.GetName(), Message: e.GetMessage(), Permanent: e.GetPermanent()}
	}
	return out
}

// Done is closed once the plugin process has exited.
func (c *GRPCClient) Done() <-chan struct{} {
	return c.doneCtx.Done()
}
