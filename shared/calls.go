package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	protobuf "google.golang.org/protobuf/proto"

	"github.com/taskhost/taskhost/shared/proto"
)

// The Calls stream (protocol 2, see worker.proto): a worker's calls as
// messages on one gRPC stream rather than a unary call each, which costs
// both processes about half as much CPU per call.

// MaxMessageKey is the metadata with which the host opens the Calls
// stream: the largest InvokeResponse, in bytes, it receives.
const MaxMessageKey = "taskhost-max-message"

// ResultTooLargeError is a result that the plugin did not send because
// it was over the host's limit. It matches [ErrResultTooLarge].
type ResultTooLargeError struct {
	// Size is the result's size in bytes.
	Size int
}

func (e *ResultTooLargeError) Error() string {
	return fmt.Sprintf("%v: %d bytes", ErrResultTooLarge, e.Size)
}

// Is makes errors.Is(err, ErrResultTooLarge) hold.
func (e *ResultTooLargeError) Is(target error) bool { return target == ErrResultTooLarge }

// callStream is the host's side of an open Calls stream.
type callStream struct {
	client *GRPCClient
	stream grpc.BidiStreamingClient[proto.InvokeRequest, proto.InvokeResponse]
	sendMu sync.Mutex // gRPC allows one sender at a time

	mu      sync.Mutex
	pending map[uint64]chan callReply // by call id, until answered
	err     error                     // why the stream ended; then no call is added
}

type callReply struct {
	resp *proto.InvokeResponse
	err  error
}

// OpenCalls opens the Calls stream of a worker that speaks protocol 2;
// Invoke then sends every call on it until ctx is done. maxMessage is the
// largest answer the host receives (as set with grpc.MaxCallRecvMsgSize).
// On protocol 1 it does nothing and calls stay unary. Call it once,
// before the first Invoke.
func (c *GRPCClient) OpenCalls(ctx context.Context, maxMessage int) error {
	if !c.callsProtocol {
		return nil
	}
	ctx = metadata.AppendToOutgoingContext(ctx, MaxMessageKey, strconv.Itoa(maxMessage))
	stream, err := c.client.Calls(ctx)
	if err != nil {
		return c.translate(err)
	}
	s := &callStream{client: c, stream: stream, pending: make(map[uint64]chan callReply)}
	c.calls.Store(s)
	go s.receive()
	return nil
}

// invoke sends call on the stream and waits for its answer, or until ctx
// is done: then the method is asked to stop, as cancelling a unary call
// would, and its answer is dropped when it comes.
func (s *callStream) invoke(ctx context.Context, call Call) (Outcome, error) {
	reply := make(chan callReply, 1)
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return Outcome{}, err
	}
	if _, dup := s.pending[call.ID]; dup {
		s.mu.Unlock()
		return Outcome{}, fmt.Errorf("calls stream: call id %d is already in flight", call.ID)
	}
	s.pending[call.ID] = reply
	s.mu.Unlock()

	s.sendMu.Lock()
	err := s.stream.Send(callToProto(call))
	s.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		s.forget(call.ID)
		return Outcome{}, s.client.translate(fmt.Errorf("calls stream: send: %w", err))
	}
	// io.EOF: the stream has ended, and receive tells every call in
	// flight why, this one included.
	select {
	case r := <-reply:
		if r.err != nil {
			return Outcome{}, r.err
		}
		if n := r.resp.GetResultSize(); n > 0 && r.resp.GetError() == nil {
			return Outcome{ProgressEvents: r.resp.GetProgressEvents()}, &ResultTooLargeError{Size: int(n)}
		}
		return outcomeFromProto(r.resp), nil
	case <-ctx.Done():
		s.forget(call.ID)
		go func() {
			cctx, cancel := context.WithTimeout(s.stream.Context(), time.Second)
			defer cancel()
			_, _ = s.client.Cancel(cctx, call.ID)
		}()
		return Outcome{}, s.client.translate(status.FromContextError(ctx.Err()).Err())
	}
}

func (s *callStream) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// receive hands each answer to its call until the stream ends, then fails
// every call still in flight with the reason.
func (s *callStream) receive() {
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the plugin ended the calls stream")
			}
			s.end(s.client.streamError(err))
			return
		}
		s.mu.Lock()
		reply, ok := s.pending[resp.GetCallId()]
		delete(s.pending, resp.GetCallId())
		s.mu.Unlock()
		if ok {
			reply <- callReply{resp: resp}
		}
	}
}

func (s *callStream) end(err error) {
	s.mu.Lock()
	s.err = err
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, reply := range pending {
		reply <- callReply{err: err}
	}
}

// streamError is why the Calls stream ended: ErrWorkerExited when the
// plugin died, else the stream's failure. Unlike a unary call's, it is
// never ErrResultTooLarge: an answer over the limit ends the whole stream.
func (c *GRPCClient) streamError(err error) error {
	if c.doneCtx.Err() != nil || status.Code(err) == codes.Unavailable {
		return fmt.Errorf("%w: %w", ErrWorkerExited, err)
	}
	return fmt.Errorf("calls stream: %w", err)
}

// fit returns resp made at most maxMessage bytes (0: no limit). A result
// over it is replaced by its size; an error's message is cut, keeping its
// name.
func fit(resp *proto.InvokeResponse, maxMessage int) *proto.InvokeResponse {
	over := protobuf.Size(resp) - maxMessage
	if maxMessage <= 0 || over <= 0 {
		return resp
	}
	e := resp.GetError()
	if e == nil {
		return &proto.InvokeResponse{CallId: resp.GetCallId(), ResultSize: uint64(len(resp.GetResult())), ProgressEvents: resp.GetProgressEvents()}
	}
	note := fmt.Sprintf(" … (%d bytes cut: the host takes answers of up to %d bytes)", len(e.Message), maxMessage)
	// The message's length prefix shrinks with it: 8 bytes spare.
	keep := max(len(e.Message)-over-len(note)-8, 0)
	for keep > 0 && !utf8.RuneStart(e.Message[keep]) {
		keep--
	}
	e.Message = e.Message[:keep] + note
	if protobuf.Size(resp) > maxMessage {
		e.Name, e.Message = shortName, ""
	}
	return resp
}

// shortName names an error whose name alone is over the host's limit.
const shortName = "Error"

// Calls implements proto.WorkerServer: it runs each call received as
// Invoke would, at once, and sends its answer when it returns. A
// goroutine that ran a call waits for the next one for as long as the
// stream lasts, so that calls do not grow a new stack each; the host
// sends no more calls at once than the plugin declared it runs.
func (s *GRPCServer) Calls(stream proto.Worker_CallsServer) error {
	ctx := stream.Context()
	maxMessage := 0
	if v := metadata.ValueFromIncomingContext(ctx, MaxMessageKey); len(v) > 0 {
		maxMessage, _ = strconv.Atoi(v[0])
	}
	var sendMu sync.Mutex
	run := func(req *proto.InvokeRequest) {
		var resp *proto.InvokeResponse
		if out, err := s.Impl.Invoke(ctx, callFromProto(req)); err != nil {
			// The worker's own failure, not its method's: the call's only.
			resp = &proto.InvokeResponse{Error: &proto.Error{Name: "Error", Message: err.Error()}}
		} else {
			resp = outcomeToProto(out)
		}
		resp.CallId = req.GetCallId()
		resp = fit(resp, maxMessage)
		sendMu.Lock()
		defer sendMu.Unlock()
		// A failed send means the host went away; the stream's context
		// ends the calls still running.
		_ = stream.Send(resp)
	}

	next := make(chan *proto.InvokeRequest) // unbuffered: to a goroutine waiting for a call
	received := make(chan struct{})         // closed when the host sends no more
	var running sync.WaitGroup
	runner := func(req *proto.InvokeRequest) {
		for {
			run(req)
			select {
			case req = <-next:
			case <-received:
				return
			}
		}
	}
	defer running.Wait()
	defer close(received)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case next <- req:
		default:
			running.Go(func() { runner(req) })
		}
	}
}
