package shared

import (
	"context"
	"time"

	"github.com/taskhost/taskhost/shared/proto"
)

// GRPCServer is the plugin side of the worker protocol: it translates gRPC
// requests to calls on a [Worker] implementation.
type GRPCServer struct {
	proto.UnimplementedWorkerServer
	Impl Worker
}

var _ proto.WorkerServer = (*GRPCServer)(nil)

// Methods implements proto.WorkerServer.
func (s *GRPCServer) Methods(ctx context.Context, _ *proto.MethodsRequest) (*proto.MethodsResponse, error) {
	info, err := s.Impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	return &proto.MethodsResponse{Names: info.Methods, MaxConcurrency: uint32(max(info.MaxConcurrency, 0))}, nil
}

// Invoke implements proto.WorkerServer.
func (s *GRPCServer) Invoke(ctx context.Context, req *proto.InvokeRequest) (*proto.InvokeResponse, error) {
	out, err := s.Impl.Invoke(ctx, callFromProto(req))
	if err != nil {
		return nil, err
	}
	return outcomeToProto(out), nil
}

// Cancel implements proto.WorkerServer.
func (s *GRPCServer) Cancel(ctx context.Context, req *proto.CancelRequest) (*proto.CancelResponse, error) {
	found, err := s.Impl.Cancel(ctx, req.GetCallId())
	if err != nil {
		return nil, err
	}
	return &proto.CancelResponse{Found: found}, nil
}

// WatchProgress implements proto.WorkerServer.
func (s *GRPCServer) WatchProgress(_ *proto.WatchProgressRequest, stream proto.Worker_WatchProgressServer) error {
	return s.Impl.WatchProgress(stream.Context(), func(ev ProgressEvent) {
		// A failed send means the host went away; the stream's context
		// ends the watch.
		_ = stream.Send(&proto.ProgressEvent{CallId: ev.CallID, Percent: ev.Percent, Message: ev.Message})
	})
}

func callFromProto(req *proto.InvokeRequest) Call {
	t := req.GetTask()
	call := Call{
		ID:      req.GetCallId(),
		Method:  req.GetMethod(),
		Payload: req.GetPayload(),
		Task: CallTask{
			ID:         t.GetId(),
			Type:       t.GetType(),
			ThreadID:   t.GetThreadId(),
			Attempt:    int(t.GetAttempt()),
			ContextIDs: t.GetContextIds(),
		},
		Timeout: time.Duration(req.GetTimeoutMs()) * time.Millisecond,
	}
	if t.RetriesRemaining != nil {
		r := int(t.GetRetriesRemaining())
		call.Task.RetriesRemaining = &r
	}
	return call
}

func outcomeToProto(out Outcome) *proto.InvokeResponse {
	resp := &proto.InvokeResponse{Result: out.Result, ProgressEvents: out.ProgressEvents}
	if out.Error != nil {
		resp.Result = nil
		resp.Error = &proto.Error{Name: out.Error.Name, Message: out.Error.Message, Permanent: out.Error.Permanent}
	}
	return resp
}
