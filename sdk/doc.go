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
// JSON. A plugin runs one call at a time, so a method may keep state
// between calls in its own variables, unless it declares otherwise (see
// Concurrency).
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
// # Concurrency
//
// A plugin whose methods may run concurrently (they mostly wait on I/O, and
// are safe for concurrent use) declares how many calls one process runs at
// once:
//
//	sdk.Serve(methods, sdk.Concurrency(64))
//
// A handler may then set its concurrency up to that number, and the host
// sends that many calls to one process at once; [Serve] runs up to the
// declared number together (more wait for a slot), each with its own
// context, progress and logger. Initialise and shutdown still run alone,
// before the first call and after the last. A plugin that declares nothing
// runs one call at a time, and the host refuses a handler concurrency above
// 1 for it. sdktest.WithServeOptions runs methods the same way in tests.
//
// An SDK in another language declares it and honours it as follows:
//
//  1. answer the Methods RPC with max_concurrency set to the number (0,
//     the default, means 1);
//  2. run that many calls at once (Invoke RPCs, or on protocol 2 the
//     messages of the Calls stream; see below), each with its own
//     cancellation, and tag each progress event with its call's id;
//  3. match Cancel to calls by id. The host numbers the calls on one
//     process 1, 2, 3… with none skipped, initialise and shutdown included,
//     but Invokes sent together may arrive in any order, and a Cancel may
//     arrive before its Invoke: keep the lowest id not seen yet and the ids
//     above it already seen; a Cancel for an id running cancels it and
//     answers found; for an id seen and finished answers not found; for any
//     other id is kept, answers found, and the Invoke with that id, when it
//     comes, starts cancelled.
//
// # Protocol versions
//
// go-plugin negotiates the worker protocol: the host lists 1 and 2 in
// PLUGIN_PROTOCOL_VERSIONS, and [Serve] picks 2. On protocol 1 the host
// runs each call as a unary Invoke RPC. On protocol 2 it opens one Calls
// stream per worker, right after WatchProgress, and sends each call on it
// as an InvokeRequest; the plugin answers each with an InvokeResponse that
// carries the call's call_id, as calls finish, in any order. A message on
// an open stream costs both processes about half the CPU of a unary call.
// The host opens the stream with the metadata taskhost-max-message, the
// largest InvokeResponse it receives in bytes: a plugin never sends a
// larger one, which would end the stream and with it every call in flight:
// for a result, an InvokeResponse with only call_id and result_size (the
// result's size in bytes), which the host reports as the task's
// ResultTooLarge; for an error, the error with its message cut. An
// SDK in another language may speak protocol 1 only; shared/proto/worker.proto
// states both.
//
// # Transport security
//
// [Serve] speaks to the host over mutual TLS when the host asks for it (the
// default; a handler with DisableMTLS set does not). The scheme is
// taskhost's own, not go-plugin's AutoMTLS, and an SDK in another language
// implements it as follows.
//
// The host makes one ECDSA P-256 key and certificate for itself, and a fresh
// one for every plugin process it starts. It passes three variables in
// the plugin's environment:
//
//   - PLUGIN_CLIENT_CERT: the host's certificate, PEM (one CERTIFICATE
//     block); go-plugin's AutoMTLS uses this name for the same thing;
//   - TASKHOST_PLUGIN_CERT: the plugin's certificate, PEM;
//   - TASKHOST_PLUGIN_KEY: the plugin's private key, PEM "PRIVATE KEY"
//     (PKCS #8; ECDSA P-256 today: accept any key type the PEM holds).
//
// Every certificate is X.509 v3, self-signed with its ECDSA P-256 key
// (ECDSA with SHA-256), with the subject and single DNS name "localhost",
// CA true, key usages digital signature and certificate signing, extended
// key usages server and client authentication, valid from a minute before
// it was made for 100 years. (P-256, not Ed25519: TLS 1.3 requires every
// implementation to support it, and BoringSSL, under gRPC's C core, does
// not accept Ed25519 signatures by default.)
//
// A plugin that finds both TASKHOST_PLUGIN_CERT and TASKHOST_PLUGIN_KEY
// must:
//
//  1. read the three variables and remove them from its own environment
//     (os.Unsetenv; in Node.js, delete process.env[name]) before it starts
//     any child process, so that no child inherits its key;
//  2. serve its gRPC endpoint over TLS 1.3 only (the host offers nothing
//     older), presenting TASKHOST_PLUGIN_CERT with TASKHOST_PLUGIN_KEY,
//     requiring a client certificate and trusting only PLUGIN_CLIENT_CERT:
//     that one certificate is the whole trust store, no system roots;
//  3. print go-plugin's handshake line as usual, with an empty sixth field:
//     1|1|unix|/path/to/socket|grpc| — the host trusts only the certificate
//     it issued, and refuses a plugin that prints one of its own there
//     (as go-plugin's AutoMTLS does), or that serves without TLS;
//  4. if it ever dials the host (go-plugin's broker, which taskhost does
//     not use today): present its certificate, trust only the host's, and
//     verify the server name "localhost".
//
// Serve does all this; a plugin that starts processes before it calls
// Serve passes the variables on to them.
//
// A plugin that finds neither variable serves plain gRPC, as when it is
// run by hand or by a host with mutual TLS off. PLUGIN_CLIENT_CERT alone
// comes from a host older than this scheme, which uses go-plugin's
// AutoMTLS: this SDK leaves that to go-plugin; an SDK that does not
// implement AutoMTLS exits with an error that says so. Any other mix (one
// of the two plugin variables, or both without PLUGIN_CLIENT_CERT), a value
// that does not parse, or a key that does not match its certificate is a
// one-line error on stderr and exit status 1, before the handshake line.
//
// What this guarantees: only a process holding the host's key, which never
// leaves the host process, can call the plugin; the host talks only to the
// process it gave the plugin's key to, a key made for that process alone;
// the traffic is encrypted. What it does not: the kernel keeps a process's
// initial environment in /proc/<pid>/environ whatever the process unsets,
// so root and processes of the same user can read the plugin's key there;
// they could as well attach to either process with ptrace, the same trust
// boundary.
//
// Package [github.com/taskhost/taskhost/sdk/sdktest] runs methods
// in-process over the real gRPC adapters, for unit tests.
package sdk
