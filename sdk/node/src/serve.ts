// serve(): the plugin's side of go-plugin's protocol, as a Go plugin's
// plugin.Serve speaks it: the magic cookie, version negotiation, a gRPC
// server on a unix socket (loopback TCP on Windows) with the worker
// service, gRPC health ("plugin" is SERVING), plugin.GRPCController
// (Shutdown) and plugin.GRPCStdio, transport security (transport.ts), and
// one handshake line on stdout.

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';

import type * as grpc from '@grpc/grpc-js';

import { loadBundle } from './bundle.js';
import { loadCodec } from './codec.js';
import { handshakeLine, healthService, magicCookieKey, magicCookieValue, negotiate, notAPluginMessage } from './handshake.js';
import { newLogger, type Logger } from './log.js';
import { acceptPeer, securityFromEnv, type Security } from './transport.js';
import { type WireError } from './errors.js';
import { Worker, type Call, type Methods, type Outcome, type Task } from './worker.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The lowest level logged; default "trace" (the host filters by its own level). */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * How many calls one process of this plugin runs at once, declared to
   * the host (the Go SDK's sdk.Concurrency): a handler may then set
   * `concurrency` up to it. Default 1, twin's model; the host refuses a
   * handler whose concurrency is above it. Calls, cancels and progress
   * are matched by call id, so methods need only be safe to run
   * together. An uncaught exception or unhandled rejection fails every
   * call running at that moment with Panic (which call threw cannot be
   * told without tracking each call's asynchronous context).
   */
  concurrency?: number;
}

// grpc-js as the build bundled it (scripts/build.mjs says why), with its
// code cache (bundle.ts).
const grpcjs = loadBundle(fileURLToPath(new URL('./grpc.cjs', import.meta.url))).exports as typeof grpc;

// A gRPC message either way may be this big; the host bounds payloads and
// results itself, far below it (the Go SDK does the same).
const maxMessage = 1 << 30;

// What the host has not yet read of stdout and stderr once serving is kept
// up to this many bytes; older chunks are dropped beyond it.
const maxStdioBacklog = 1 << 20;

/**
 * serve runs the plugin: it speaks the taskhost handshake on stdio and
 * serves methods until the host stops it. Call it once, from the
 * plugin's main module; in a plugin started by the host it does not
 * return. Run by hand, it explains that and exits with status 1.
 */
export function serve(methods: Methods, options: ServeOptions = {}): void {
  exitUnlessStartedByHost();
  const rawStderr = process.stderr.write.bind(process.stderr);
  const logger = newLogger((line) => rawStderr(line), options.logLevel);
  let security: Security;
  let worker: Worker;
  const concurrency = options.concurrency ?? 1;
  try {
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 0xffff_ffff) {
      throw new RangeError(`serve: concurrency ${options.concurrency}: want a whole number of calls, 1 or more`);
    }
    security = securityFromEnv(process.env);
    worker = new Worker(methods, logger, concurrency);
  } catch (err) {
    logger.error('plugin init error', { error: err });
    process.exit(1);
  }
  const version = negotiate(process.env.PLUGIN_PROTOCOL_VERSIONS);
  isolateUncaught(worker, rawStderr);
  // go-plugin's plugins ignore SIGINT: a Ctrl-C in the host's terminal
  // reaches the whole process group, and the host stops its workers itself.
  process.on('SIGINT', () => {});

  const stdio = new StdioForwarder();
  let listener: net.Server;
  try {
    const server = newServer(worker, stdio, () => exit(0));
    const injector = server.createConnectionInjector(grpcjs.ServerCredentials.createInsecure());
    const accept = (sock: net.Socket) => injector.injectConnection(sock);
    listener = security.tls
      ? tls.createServer(security.tls, (sock) => {
          if (!acceptPeer(security, sock.getPeerX509Certificate()?.raw)) {
            logger.warn('refused a connection whose client certificate is not the host\'s');
            sock.destroy();
            return;
          }
          accept(sock);
        })
      : net.createServer(accept);
  } catch (err) {
    // A key that does not match its certificate, say.
    logger.error('plugin init error', { error: err });
    process.exit(1);
  }
  listener.on('tlsClientError', (err: Error) => logger.debug('TLS handshake failed', { error: err }));

  let socketPath: string | undefined;
  const exit = (code: number) => {
    if (socketPath) rmSync(socketPath, { force: true });
    process.exit(code);
  };
  listen(listener)
    .then((addr) => {
      socketPath = addr.network === 'unix' ? addr.address : undefined;
      logger.debug('plugin address', { network: addr.network, address: addr.address, transport: security.scheme });
      // The one line the host reads; after it, stdout and stderr go to
      // the host through GRPCStdio, as a Go plugin's do.
      process.stdout.write(handshakeLine(version, addr.network, addr.address, security.handshakeCertDER));
      stdio.capture();
    })
    .catch((err: unknown) => {
      logger.error('plugin init error', { error: err });
      exit(1);
    });
  process.on('exit', () => {
    if (socketPath) rmSync(socketPath, { force: true });
  });
}

/**
 * exitUnlessStartedByHost checks the magic cookie the host sets: a plugin
 * run by hand says what it is and exits with status 1.
 */
export function exitUnlessStartedByHost(): void {
  if (process.env[magicCookieKey] !== magicCookieValue) {
    process.stderr.write(notAPluginMessage);
    process.exit(1);
  }
}

interface WireTask {
  id?: string;
  type?: string;
  thread_id?: string;
  attempt?: number;
  retries_remaining?: number;
  context_ids?: Record<string, string>;
}

interface WireInvoke {
  call_id?: number;
  method?: string;
  payload?: Buffer;
  task?: WireTask;
  timeout_ms?: number;
}

function taskFromWire(t: WireTask | undefined): Task {
  const task: Task = {
    id: t?.id ?? '',
    type: t?.type ?? '',
    threadId: t?.thread_id ?? '',
    attempt: t?.attempt ?? 0,
    contextIds: { ...(t?.context_ids ?? {}) },
  };
  if (t?.retries_remaining !== undefined && t.retries_remaining !== null) task.retriesRemaining = t.retries_remaining;
  return task;
}

function callFromWire(r: WireInvoke): Call {
  return {
    id: r.call_id ?? 0,
    method: r.method ?? '',
    payload: r.payload ?? Buffer.alloc(0),
    task: taskFromWire(r.task),
    timeoutMs: r.timeout_ms ?? 0,
  };
}

function outcomeToWire(out: Outcome & { resultSize?: number }): {
  result?: Buffer;
  error?: WireError;
  progress_events: number;
  result_size?: number;
} {
  return { result: out.result, error: out.error, progress_events: out.progressEvents, result_size: out.resultSize };
}

/**
 * The metadata with which the host opens the Calls stream: the largest
 * InvokeResponse it receives (shared.MaxMessageKey).
 */
export const maxMessageKey = 'taskhost-max-message';

/**
 * responseSize bounds the encoded InvokeResponse of out from above: its
 * fields' bytes, and 64 for every tag, length and number around them.
 */
export function responseSize(out: Outcome): number {
  const e = out.error;
  const errorBytes = e ? Buffer.byteLength(e.name) + Buffer.byteLength(e.message) : 0;
  return (out.result?.length ?? 0) + errorBytes + 64;
}

/**
 * fit makes the answer of out at most limit bytes (0: no limit): a
 * response over the host's limit would end the stream and every call on
 * it (shared.fit does the same). A result over it is replaced by its
 * size; an error's message is cut, keeping its name.
 */
export function fit(out: Outcome, limit: number): Outcome & { resultSize?: number } {
  const over = responseSize(out) - limit;
  if (limit <= 0 || over <= 0) return out;
  if (!out.error) return { progressEvents: out.progressEvents, resultSize: out.result?.length ?? 0 };
  const message = Buffer.from(out.error.message);
  const note = ` … (${message.length} bytes cut: the host takes answers of up to ${limit} bytes)`;
  let keep = Math.max(message.length - over - Buffer.byteLength(note), 0);
  // Cut between characters: back off continuation bytes (10xxxxxx).
  while (keep > 0 && (message[keep] & 0xc0) === 0x80) keep--;
  const error = { ...out.error, message: message.subarray(0, keep).toString() + note };
  if (responseSize({ ...out, error }) > limit) return { ...out, error: { ...error, name: 'Error', message: '' } };
  return { ...out, error };
}

function newServer(worker: Worker, stdio: StdioForwarder, shutdown: () => void): grpc.Server {
  const codec = loadCodec();
  const server = new grpcjs.Server({
    'grpc.max_receive_message_length': maxMessage,
    'grpc.max_send_message_length': maxMessage,
    // Call statistics nobody reads, kept on every call.
    'grpc.enable_channelz': 0,
  });
  const service = (name: string) => codec.service(name);

  server.addService(service('taskhost.worker.v1.Worker'), {
    Methods: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { names: worker.names(), max_concurrency: worker.concurrency }),
    Invoke: (call: grpc.ServerUnaryCall<WireInvoke, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      void worker.invoke(callFromWire(call.request)).then((out) => cb(null, outcomeToWire(out)));
    },
    // Protocol 2: the host's calls on one stream, each answered with its
    // call id when it finishes (worker.proto).
    Calls: (call: grpc.ServerDuplexStream<WireInvoke, unknown>) => {
      const limit = Number.parseInt(String(call.metadata.get(maxMessageKey)[0] ?? ''), 10) || 0;
      let running = 0;
      let ended = false;
      const endIfDone = () => {
        if (ended && running === 0) call.end();
      };
      call.on('data', (r: WireInvoke) => {
        running++;
        void worker.invoke(callFromWire(r)).then((out) => {
          running--;
          const id = r.call_id ?? 0;
          const answer = { ...outcomeToWire(fit(out, limit)), call_id: id };
          if (!call.cancelled && !call.destroyed) call.write(answer);
          endIfDone();
        });
      });
      call.on('end', () => {
        ended = true;
        endIfDone();
      });
      // The host went away; running calls end with their contexts.
      call.on('error', () => {});
    },
    Cancel: (call: grpc.ServerUnaryCall<{ call_id?: number }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { found: worker.cancel(call.request.call_id ?? 0) }),
    WatchProgress: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      let open = true;
      const stop = worker.watch((ev) => {
        if (!open) return false;
        call.write({ call_id: ev.callId, percent: ev.percent, message: ev.message });
        return true;
      });
      const end = () => {
        open = false;
        stop();
      };
      call.on('cancelled', end);
      call.on('close', end);
      call.on('error', end);
    },
  });

  server.addService(service('grpc.health.v1.Health'), {
    Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const name = call.request.service ?? '';
      if (name === '' || name === healthService) cb(null, { status: 1 });
      else cb({ code: grpcjs.status.NOT_FOUND, details: `unknown service ${name}` });
    },
    Watch: (call: grpc.ServerWritableStream<{ service?: string }, unknown>) => {
      const name = call.request.service ?? '';
      call.write({ status: name === '' || name === healthService ? 1 : 3 });
    },
  });

  server.addService(service('plugin.GRPCController'), {
    Shutdown: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, {});
      // Let the answer go out; go-plugin's client then waits for the exit.
      setTimeout(shutdown, 10);
    },
  });

  server.addService(service('plugin.GRPCStdio'), {
    StreamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => stdio.attach(call),
  });
  return server;
}

/**
 * StdioForwarder sends what the plugin writes to process.stdout and
 * process.stderr, once serving, to the host over GRPCStdio (which logs it
 * line by line), keeping a bounded backlog until the host reads it.
 */
class StdioForwarder {
  private stream?: grpc.ServerWritableStream<unknown, unknown>;
  private backlog: { channel: number; data: Buffer }[] = [];
  private backlogBytes = 0;

  capture(): void {
    for (const [s, channel] of [
      [process.stdout, 1],
      [process.stderr, 2],
    ] as const) {
      s.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error) => void), cb?: (err?: Error) => void) => {
        const data = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk);
        this.send(channel, data);
        const done = typeof encoding === 'function' ? encoding : cb;
        if (done) process.nextTick(done);
        return true;
      }) as typeof s.write;
    }
  }

  attach(stream: grpc.ServerWritableStream<unknown, unknown>): void {
    this.stream = stream;
    const detach = () => {
      if (this.stream === stream) this.stream = undefined;
    };
    stream.on('cancelled', detach);
    stream.on('close', detach);
    stream.on('error', detach);
    for (const m of this.backlog) stream.write(m);
    this.backlog = [];
    this.backlogBytes = 0;
  }

  private send(channel: number, data: Buffer): void {
    if (data.length === 0) return;
    if (this.stream) {
      this.stream.write({ channel, data });
      return;
    }
    this.backlog.push({ channel, data });
    this.backlogBytes += data.length;
    while (this.backlogBytes > maxStdioBacklog && this.backlog.length > 1) {
      this.backlogBytes -= this.backlog.shift()!.data.length;
    }
  }
}

/**
 * isolateUncaught fails the running call with a Panic error when an
 * exception escapes it (a throw in a timer or event handler, a promise
 * rejection nobody handles) and keeps the worker alive, as the Go SDK
 * recovers a method's panic. Outside any call there is nothing to blame:
 * the plugin then exits as Node would, and the host reports the crash
 * with these stderr lines.
 */
function isolateUncaught(worker: Worker, rawStderr: (s: string) => boolean): void {
  const outside = (what: string, err: unknown) => {
    rawStderr(`taskhost plugin: ${what} outside any method call:\n${err instanceof Error ? (err.stack ?? String(err)) : String(err)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', (err) => {
    if (!worker.uncaught(err, 'threw an uncaught exception')) outside('uncaught exception', err);
  });
  process.on('unhandledRejection', (reason) => {
    if (!worker.uncaught(reason, 'left a promise rejection unhandled')) outside('unhandled promise rejection', reason);
  });
}

interface Address {
  network: 'unix' | 'tcp';
  address: string;
}

/**
 * listen listens where go-plugin's own server would: a unix socket in
 * PLUGIN_UNIX_SOCKET_DIR (or the temporary directory), made group-writable
 * for PLUGIN_UNIX_SOCKET_GROUP when set; on Windows loopback TCP on a port
 * in PLUGIN_MIN_PORT..PLUGIN_MAX_PORT (any port when unset).
 */
async function listen(server: net.Server): Promise<Address> {
  if (process.platform === 'win32') {
    const min = Number(process.env.PLUGIN_MIN_PORT || 0);
    const max = Number(process.env.PLUGIN_MAX_PORT || 0);
    if (!(min <= max)) throw new Error(`PLUGIN_MIN_PORT ${min} is greater than PLUGIN_MAX_PORT ${max}`);
    for (let port = min; port <= max; port++) {
      try {
        await listenOn(server, { host: '127.0.0.1', port });
        const a = server.address() as net.AddressInfo;
        return { network: 'tcp', address: `127.0.0.1:${a.port}` };
      } catch {
        // taken: try the next
      }
    }
    throw new Error("couldn't bind plugin TCP listener");
  }
  const path = join(process.env.PLUGIN_UNIX_SOCKET_DIR || tmpdir(), `plugin${randomBytes(6).toString('hex')}`);
  await listenOn(server, { path });
  const group = process.env.PLUGIN_UNIX_SOCKET_GROUP;
  if (group) {
    const gid = Number(group);
    if (!Number.isInteger(gid)) throw new Error(`PLUGIN_UNIX_SOCKET_GROUP ${group}: this SDK takes a numeric group id`);
    chownSync(path, -1, gid);
    chmodSync(path, 0o660);
  }
  return { network: 'unix', address: path };
}

function listenOn(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export type { Logger };
