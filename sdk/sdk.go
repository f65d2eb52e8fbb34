package sdk

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strconv"
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

// FuncOption changes how a method made by [Func] treats its payload.
type FuncOption func(*funcOptions)

type funcOptions struct {
	strict bool
}

// StrictPayload makes a method refuse a payload with a field that P (or a
// struct inside it) has no place for: the attempt fails, permanently, with
// InvalidPayload naming the field. Without it unknown fields are ignored;
// the package doc says why that is the default.
func StrictPayload() FuncOption {
	return func(o *funcOptions) { o.strict = true }
}

type funcMethod[P, R any] struct {
	fn   func(ctx context.Context, t Task, p P) (R, error)
	opts funcOptions
}

// Func makes a Method of fn. The payload is decoded from JSON into P (a
// null or absent payload leaves P's zero value; fields P does not have are
// ignored unless [StrictPayload] is given); the result is encoded to JSON.
func Func[P, R any](fn func(ctx context.Context, t Task, p P) (R, error), opts ...FuncOption) Method {
	m := funcMethod[P, R]{fn: fn}
	for _, o := range opts {
		o(&m.opts)
	}
	return m
}

func (f funcMethod[P, R]) invoke(ctx context.Context, name string, t Task, payload json.RawMessage) (json.RawMessage, error) {
	var p P
	if len(payload) > 0 {
		if err := decodePayload(payload, &p, f.opts.strict); err != nil {
			return nil, &shared.TaskError{
				Name:      shared.ErrorNameInvalidPayload,
				Message:   fmt.Sprintf("method %q: %s", name, describeDecodeError(err, reflect.TypeFor[P]())),
				Permanent: true,
			}
		}
	}
	r, err := f.fn(ctx, t, p)
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

// decodePayload decodes payload into p; strict refuses unknown fields.
func decodePayload(payload []byte, p any, strict bool) error {
	if !strict {
		return json.Unmarshal(payload, p)
	}
	// A Decoder stops after the first JSON value, where Unmarshal refuses
	// anything after it; checking validity first keeps strict and lenient
	// methods alike on malformed payloads (and Unmarshal gives the error).
	if !json.Valid(payload) {
		return json.Unmarshal(payload, p)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	return dec.Decode(p)
}

// unknownFieldPrefix starts the error of a Decoder that disallows unknown
// fields; encoding/json has no type for it.
const unknownFieldPrefix = "json: unknown field "

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
	if quoted, ok := strings.CutPrefix(err.Error(), unknownFieldPrefix); ok {
		field, uerr := strconv.Unquote(quoted)
		if uerr != nil {
			field = quoted
		}
		return fmt.Sprintf("payload field %q is unknown to %s, and this method refuses unknown fields", field, want)
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

// ServeOption changes how [Serve] runs the plugin.
type ServeOption func(*serveOptions)

type serveOptions struct {
	concurrency int
}

func newServeOptions(opts []ServeOption) serveOptions {
	o := serveOptions{concurrency: 1}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Concurrency declares that the plugin's methods may run concurrently, up
// to n calls at once in one process, and makes the plugin run them so: a
// handler may then set its concurrency up to n (the host refuses more, and
// refuses any above 1 for a plugin that does not declare it). The methods
// must then be safe for concurrent use; initialise and shutdown still run
// alone, before the first call and after the last. n below 1 means 1.
func Concurrency(n int) ServeOption {
	return func(o *serveOptions) { o.concurrency = max(n, 1) }
}

// streamWorkers is how many goroutines serve the plugin's gRPC streams, for
// a plugin running up to concurrency calls at once as unary Invokes (a
// host of protocol 1): one per call, one for each stream that lasts as
// long as the process (go-plugin's broker and stdio streams, the host's
// progress watch) and one for a cancel. gRPC's default, a goroutine made
// per call, grows its stack anew every call: runtime.newstack was about a
// tenth of the plugin's CPU in make bench's bulk. These goroutines keep
// theirs. A call finding them all busy still gets a goroutine of its own.
// On protocol 2 the Calls stream holds one of them and reuses goroutines
// for its calls itself (shared.GRPCServer.Calls).
func streamWorkers(concurrency int) uint32 {
	return uint32(min(concurrency, 1024) + 4)
}

// Serve runs the plugin: it speaks the taskhost handshake on stdio and
// serves methods until the host stops it. Call it from main; it does not
// return in a plugin started by the host.
func Serve(methods Methods, opts ...ServeOption) {
	// The logger is made before go-plugin swaps os.Stderr, so its lines go
	// to the process's real stderr, which the host parses as hclog JSON
	// lines, keeping their keys in order.
	logger := newJSONLogger(os.Stderr, hclog.Trace)
	tlsConfig, err := serverTLS(os.LookupEnv, os.Unsetenv)
	if err != nil {
		// Plain text: the host quotes a dying plugin's last plain stderr
		// lines in the error, and whoever ran it by hand reads them.
		fmt.Fprintf(os.Stderr, "taskhost plugin: %v\n", err)
		os.Exit(1)
	}
	var tlsProvider func() (*tls.Config, error)
	if tlsConfig != nil {
		tlsProvider = func() (*tls.Config, error) { return tlsConfig, nil }
	}
	workers := streamWorkers(newServeOptions(opts).concurrency)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  shared.Handshake(),
		VersionedPlugins: shared.VersionedPlugins(NewWorker(methods, logger, opts...)),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			// Payloads are bounded by the host, not by gRPC's 4 MiB default.
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage),
				grpc.NumStreamWorkers(workers))...)
		},
		TLSProvider: tlsProvider,
		Logger:      logger,
	})
}
