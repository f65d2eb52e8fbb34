// The worker: the methods a plugin exports, served one call at a time or,
// when the plugin declares concurrency (ServeOptions), several at once:
// every call, cancel and progress report carries its call id. With
// cancellation, timeouts, progress and the isolation of uncaught errors. It knows nothing of gRPC: the server
// translates the wire messages to and from the shapes below.

import { ErrorName, panicError, toWireError, type WireError } from './errors.js';
import type { Logger } from './log.js';

/** What a method knows about the task it runs (the Go SDK's sdk.Task). */
export interface Task {
  id: string;
  type: string;
  threadId: string;
  /** Attempt counts from 1. */
  attempt: number;
  /** Absent when the task was created without retries. */
  retriesRemaining?: number;
  contextIds: Record<string, string>;
}

/** A method's view of its call. */
export interface Context {
  /** Aborts when the task is cancelled or its execution timeout passes. */
  readonly signal: AbortSignal;
  /** The task the call runs (also the method's second argument). */
  readonly task: Task;
  /** progress reports how far the method is (percent in 0..100); the host shows it on the task. */
  progress(percent: number, message?: string): void;
  /** A logger whose lines reach the host's log, tagged with the task and method. */
  readonly log: Logger;
}

/**
 * A Method runs one task: it gets the task's JSON payload decoded and
 * returns (or resolves to) a result that is encoded to JSON. What it
 * throws fails the attempt; see {@link permanent}.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Method<P = any, R = unknown> = (ctx: Context, task: Task, payload: P) => R | Promise<R>;

/** Methods maps exported names to methods. */
export type Methods = Record<string, Method>;

/** One call, as the server decodes it from InvokeRequest. */
export interface Call {
  id: number;
  method: string;
  /** JSON; empty means null. */
  payload: Uint8Array;
  task: Task;
  /** The method's deadline in milliseconds from now; 0 = none. */
  timeoutMs: number;
}

/** How a call ended, as the server encodes it into InvokeResponse. */
export interface Outcome {
  result?: Buffer;
  error?: WireError;
  progressEvents: number;
}

/** A progress report, as sent on the WatchProgress stream. */
export interface ProgressEvent {
  callId: number;
  percent: number;
  message: string;
}

/** A watcher takes progress events; it returns false once it is gone. */
export type Watcher = (ev: ProgressEvent) => boolean;

/** The abort reason of a call cancelled by the host. */
export class CancelledError extends Error {
  constructor(message = 'the task was cancelled') {
    super(message);
    this.name = 'Cancelled';
  }
}

/** The abort reason of a call whose execution timeout passed. */
export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`the execution timeout of ${ms} ms passed`);
    this.name = 'ExecutionTimeout';
  }
}

/** maxSeen bounds the ids kept as seen out of order (Worker.markSeen). */
const maxSeen = 4096;

/**
 * Worker serves Methods. Create one with {@link createWorker}; serve()
 * makes its own.
 */
export class Worker {
  private readonly running = new Map<number, CallContext>();
  // The host numbers a worker's calls 1, 2, 3… with none skipped, but
  // calls in flight together may arrive in any order, and a cancel may
  // overtake its call. next is the lowest id not seen yet, seen the ids
  // above it already seen: an id below next or in seen has arrived (a
  // cancel for it, not running, came too late), any other is still to
  // come, and a cancel for it is kept in early until it arrives. As in
  // the Go SDK (sdk/worker.go).
  private next = 1;
  private readonly seen = new Set<number>();
  private readonly early = new Set<number>();
  private readonly watchers = new Set<Watcher>();

  constructor(
    private readonly methods: Methods,
    private readonly logger: Logger,
    /** How many calls it runs at once, as declared to the host. */
    readonly concurrency = 1,
  ) {
    for (const [name, m] of Object.entries(methods)) {
      if (typeof m !== 'function') throw new TypeError(`method "${name}" is a ${typeof m}, not a function`);
    }
  }

  /** names lists the exported methods, sorted. */
  names(): string[] {
    return Object.keys(this.methods).sort();
  }

  /** invoke runs one call to its end; it never rejects. */
  async invoke(call: Call): Promise<Outcome> {
    this.markSeen(call.id);
    const cancelled = this.early.delete(call.id);
    const fn = Object.hasOwn(this.methods, call.method) ? this.methods[call.method] : undefined;
    if (fn === undefined) {
      return {
        error: { name: ErrorName.MethodNotFound, message: `plugin exports no method "${call.method}"`, permanent: true },
        progressEvents: 0,
      };
    }
    let payload: unknown;
    if (call.payload.length > 0) {
      try {
        payload = JSON.parse(Buffer.from(call.payload.buffer, call.payload.byteOffset, call.payload.byteLength).toString('utf8'));
      } catch (err) {
        return {
          error: {
            name: ErrorName.InvalidPayload,
            message: `method "${call.method}": payload is not valid JSON: ${(err as Error).message}`,
            permanent: true,
          },
          progressEvents: 0,
        };
      }
    }
    const ctx = new CallContext(call, this, this.logger);
    this.running.set(call.id, ctx);
    if (cancelled) ctx.abort(new CancelledError());
    const timer = call.timeoutMs > 0 ? setTimeout(() => ctx.abort(new TimeoutError(call.timeoutMs)), call.timeoutMs) : undefined;
    try {
      let value: unknown;
      try {
        value = fn(ctx, call.task, payload);
        if (isThenable(value)) {
          const pending = value;
          // An uncaught error while the method runs settles the call first.
          value = await new Promise((resolve, reject) => {
            ctx.fail = reject;
            pending.then(resolve, reject);
          });
        }
      } catch (err) {
        return { error: isWireError(err) ? err : toWireError(err), progressEvents: ctx.sent };
      }
      let json: string | undefined;
      try {
        json = JSON.stringify(value);
      } catch (err) {
        return {
          error: { name: ErrorName.InvalidResult, message: `method "${call.method}": encode result: ${(err as Error).message}`, permanent: false },
          progressEvents: ctx.sent,
        };
      }
      return { result: Buffer.from(json ?? 'null'), progressEvents: ctx.sent };
    } finally {
      clearTimeout(timer);
      this.running.delete(call.id);
    }
  }

  /**
   * cancel aborts the signal of the running call with that id and reports
   * whether there was one. A cancel for a call that has not arrived yet
   * overtook it: it is kept until the call starts.
   */
  cancel(id: number): boolean {
    const ctx = this.running.get(id);
    if (ctx) {
      ctx.abort(new CancelledError());
      return true;
    }
    if (!this.hasSeen(id)) {
      this.early.add(id);
      return true;
    }
    return false;
  }

  /** markSeen records that call id has arrived. */
  private markSeen(id: number): void {
    if (id < this.next) return;
    if (id > this.next) {
      this.seen.add(id);
      if (this.seen.size > maxSeen) {
        // A host that skips ids would grow seen forever: every id up to
        // the highest seen counts as seen, the rule of older hosts.
        for (const s of this.seen) this.next = Math.max(this.next, s + 1);
        this.seen.clear();
        for (const e of this.early) if (e < this.next) this.early.delete(e);
      }
      return;
    }
    this.next++;
    while (this.seen.delete(this.next)) this.next++;
  }

  private hasSeen(id: number): boolean {
    return id < this.next || this.seen.has(id);
  }

  /**
   * watch adds a progress watcher until it returns false or the returned
   * function is called. Its first event, with call id 0, tells the host the
   * watch is in place, so that no report of its first call is lost.
   */
  watch(w: Watcher): () => void {
    this.watchers.add(w);
    if (!w({ callId: 0, percent: 0, message: '' })) this.watchers.delete(w);
    return () => this.watchers.delete(w);
  }

  /**
   * uncaught fails the running calls with a Panic error, and reports
   * whether there were any. One call at a time (the default), the call
   * running is the one to blame; with several, every one running fails,
   * as every task on a Go plugin process that crashes does. (Tracking
   * each call's asynchronous context with an AsyncLocalStorage would name
   * the one, but costs every call of every plugin a third more CPU on
   * Node 20.)
   */
  uncaught(err: unknown, what: string): boolean {
    const calls = [...this.running.values()];
    for (const ctx of calls) {
      ctx.fail?.(panicError(ctx.method, what, err));
      ctx.abort(err);
    }
    return calls.length > 0;
  }

  /** report sends a call's progress to the watchers; see Context.progress. */
  report(ctx: CallContext, percent: number, message = ''): void {
    if (this.running.get(ctx.id) !== ctx) return; // the call is over
    const p = Number.isFinite(percent) ? Math.min(Math.max(percent, 0), 100) : 0;
    const ev: ProgressEvent = { callId: ctx.id, percent: p, message: String(message) };
    let sent = false;
    for (const w of this.watchers) {
      if (w(ev)) sent = true;
      else this.watchers.delete(w);
    }
    if (sent) ctx.sent++;
  }
}

/**
 * CallContext is a call's Context. Its AbortController and logger are
 * made when the method first asks for them: most calls never do, and a
 * warm call costs a few microseconds less.
 */
class CallContext implements Context {
  readonly id: number;
  readonly method: string;
  readonly task: Task;
  sent = 0;
  /** fail settles an asynchronous call with an error, once it awaits. */
  fail?: (err: WireError) => void;
  private controller?: AbortController;
  private aborted = false;
  private reason: unknown;
  private logger?: Logger;

  constructor(
    call: Call,
    private readonly worker: Worker,
    private readonly base: Logger,
  ) {
    this.id = call.id;
    this.method = call.method;
    this.task = call.task;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get log(): Logger {
    this.logger ??= this.task.id ? this.base.with({ task_id: this.task.id, method: this.method }) : this.base;
    return this.logger;
  }

  progress(percent: number, message?: string): void {
    this.worker.report(this, percent, message);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

/** createWorker returns the worker that serve() would serve: for tests and custom servers. */
export function createWorker(methods: Methods, logger: Logger, concurrency = 1): Worker {
  return new Worker(methods, logger, concurrency);
}

function isWireError(v: unknown): v is WireError {
  return typeof v === 'object' && v !== null && !(v instanceof Error) && 'name' in v && 'message' in v && 'permanent' in v;
}
