// Package sdk is what a taskhost handler plugin is written against.
//
// A plugin is a program whose main hands its methods to [Serve]:
//
//	func main() {
//		sdk.Serve(sdk.Methods{
//			"initialise": sdk.Func(initialise),
//			"resize":     sdk.Func(resize),
//			"shutdown":   sdk.Func(shutdown),
//		})
//	}
//
// Each method is an ordinary Go function wrapped by [Func]:
//
//	func resize(ctx context.Context, t sdk.Task, p ResizePayload) (ResizeResult, error)
//
// The payload is decoded from the task's JSON into P, the result encoded to
// JSON. The host runs each worker process one call at a time, so a method
// may keep state between calls in its own variables.
//
// # Payloads
//
// A payload that does not decode into P (bad JSON, a string where P has an
// int) fails the attempt, permanently, with the name "InvalidPayload" and a
// message naming the method and the field.
//
// Fields that P has no place for are ignored by default, as encoding/json
// ignores them: payloads evolve, and the producers that create tasks are
// often upgraded before the plugin that runs them, so a new field must not
// fail every task until then. A method that would rather fail than drop a
// field it does not know (a misspelt option, say) asks for strict decoding:
//
//	sdk.Func(resize, sdk.StrictPayload())
//
// Its unknown fields then fail the attempt with InvalidPayload, e.g.
// `payload field "colour" is unknown to main.ResizePayload`.
//
// # Errors
//
// An error returned by a method fails that attempt; the host retries it
// while the task has retries left. Wrap it with [Permanent] to skip the
// retries. An error with a Name() string method keeps that name in the
// task's error; others are named "Error". A panic fails the call with the
// name "Panic" and does not kill the worker.
//
// # Cancellation, progress, logging
//
// ctx is cancelled when the task is cancelled or its execution timeout
// passes; a method that ignores it is killed after a grace period.
// [Progress] reports how far the method is; [Logger] returns a logger whose
// lines reach the host's log.
//
// # Initialise and shutdown
//
// A handler may name an initialise method, run once on each new worker
// before its first task, and a shutdown method, run before the worker
// stops. Both receive the handler's config object as their payload and a
// Task whose only set field is Type.
//
// Package [github.com/taskhost/taskhost/sdk/sdktest] runs methods
// in-process over the real gRPC adapters, for unit tests.
package sdk
