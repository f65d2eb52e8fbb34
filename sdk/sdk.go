package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/taskhost/taskhost/shared"
)

// Task is what a method knows about the task it runs.
type Task struct {
	ID       string
	Type     string
	ThreadID string
	// Attempt counts from 1.
	Attempt int
	// RetriesRemaining is nil when the task was created without retries.
	RetriesRemaining *int
	ContextIDs       map[string]string
}

// Method is one exported method. Make one with [Func].
type Method interface {
	invoke(ctx context.Context, name string, t Task, payload json.RawMessage) (json.RawMessage, error)
}

// Methods maps exported names to methods.
type Methods map[string]Method

type funcMethod[P, R any] func(ctx context.Context, t Task, p P) (R, error)

// Func makes a Method of fn. The payload is decoded from JSON into P (a
// null or absent payload leaves P's zero value); the result is encoded to
// JSON.
func Func[P, R any](fn func(ctx context.Context, t Task, p P) (R, error)) Method {
	return funcMethod[P, R](fn)
}

func (f funcMethod[P, R]) invoke(ctx context.Context, name string, t Task, payload json.RawMessage) (json.RawMessage, error) {
	var p P
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, &shared.TaskError{
				Name:      shared.ErrorNameInvalidPayload,
				Message:   fmt.Sprintf("method %q: %s", name, describeDecodeError(err, reflect.TypeFor[P]())),
				Permanent: true,
			}
		}
	}
	r, err := f(ctx, t, p)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, &shared.TaskError{
			Name:    shared.ErrorNameInvalidResult,
			Message: fmt.Sprintf("method %q: encode result: %v", name, err),
		}
	}
	return b, nil
}

// describeDecodeError says which field of the payload did not fit and why.
func describeDecodeError(err error, want reflect.Type) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field != "" {
			return fmt.Sprintf("payload field %q: got JSON %s, want %s", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("payload: got JSON %s, want %s", te.Value, want)
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("payload is not valid JSON at byte %d: %v", se.Offset, se)
	}
	return fmt.Sprintf("payload does not fit %s: %v", want, err)
}

// permanentError marks an error as not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the task fails at once,
// whatever retries it has left. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// toTaskError turns a method's error into the error stored on the task.
func toTaskError(err error) *shared.TaskError {
	permanent := IsPermanent(err)
	if te, ok := errors.AsType[*shared.TaskError](err); ok {
		out := *te
		out.Permanent = out.Permanent || permanent
		return &out
	}
	name := shared.ErrorNameDefault
	if n, ok := errors.AsType[interface {
		error
		Name() string
	}](err); ok && n.Name() != "" {
		name = n.Name()
	}
	return &shared.TaskError{Name: name, Message: err.Error(), Permanent: permanent}
}

// panicError describes a recovered panic with a short stack.
func panicError(method string, v any) *shared.TaskError {
	return &shared.TaskError{
		Name:    shared.ErrorNamePanic,
		Message: fmt.Sprintf("method %q panicked: %v\n%s", method, v, shortStack(debug.Stack(), 8)),
	}
}

// shortStack keeps the frames below the panic, at most frames of them,
// dropping the runtime's and this package's own.
func shortStack(stack []byte, frames int) string {
	lines := strings.Split(strings.TrimSpace(string(stack)), "\n")
	// lines[0] is "goroutine N [running]:", then pairs of function / file.
	var out []string
	seenPanic := false
	for i := 1; i+1 < len(lines) && len(out) < 2*frames; i += 2 {
		fn := lines[i]
		if !seenPanic {
			seenPanic = strings.HasPrefix(fn, "panic(")
			continue
		}
		out = append(out, fn, lines[i+1])
	}
	return strings.Join(out, "\n")
}

// maxMessage bounds one gRPC message either way; the host applies its own,
// smaller limits to payloads and results.
const maxMessage = 1 << 30

// Serve runs the plugin: it speaks the taskhost handshake on stdio and
// serves methods until the host stops it. Call it from main; it does not
// return in a plugin started by the host.
func Serve(methods Methods) {
	// The logger is made before go-plugin swaps os.Stderr, so its lines go
	// to the process's real stderr, which the host parses as hclog JSON.
	logger := hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake(),
		VersionedPlugins: shared.VersionedPlugins(NewWorker(methods, logger)),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			// Payloads are bounded by the host, not by gRPC's 4 MiB default.
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))...)
		},
		Logger: logger,
	})
}
