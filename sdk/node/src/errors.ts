// How a method's failure becomes the error stored on its task.

/** The error names the host knows (shared/errors.go). */
export const ErrorName = {
  Default: 'Error',
  Panic: 'Panic',
  MethodNotFound: 'MethodNotFound',
  InvalidPayload: 'InvalidPayload',
  InvalidResult: 'InvalidResult',
} as const;

/** The error of a task attempt as the host stores it (twin's IError: name and message). */
export interface WireError {
  name: string;
  message: string;
  permanent: boolean;
}

const permanentMark = Symbol.for('taskhost.permanent');

/**
 * TaskError is an error with a chosen name, as the task shows it;
 * `permanent` skips the task's remaining retries.
 */
export class TaskError extends Error {
  readonly permanent: boolean;
  constructor(name: string, message: string, options?: { permanent?: boolean; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = name;
    this.permanent = options?.permanent ?? false;
  }
}

/**
 * permanent marks err as not worth retrying: the task fails at once,
 * whatever retries it has left. It returns err (an Error made of it when
 * it is not one), so `throw permanent(err)` reads as it does in Go.
 */
export function permanent(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  Object.defineProperty(e, permanentMark, { value: true, enumerable: false });
  return e;
}

/** isPermanent reports whether err was marked with {@link permanent} or is a permanent TaskError. */
export function isPermanent(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  return (err as Record<symbol, unknown>)[permanentMark] === true || (err instanceof TaskError && err.permanent);
}

/**
 * toWireError turns what a method threw into the task's error: an
 * Error keeps its name ("Error", "TypeError", a class's own) and message;
 * anything else thrown is an "Error" with its text.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const name = typeof err.name === 'string' && err.name !== '' ? err.name : ErrorName.Default;
    return { name, message: err.message, permanent: isPermanent(err) };
  }
  let message: string;
  try {
    message = typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { name: ErrorName.Default, message, permanent: false };
}

/**
 * panicError describes an uncaught exception or unhandled rejection that
 * happened while a method ran, with a short stack, as the Go SDK
 * describes a panic.
 */
export function panicError(method: string, what: string, err: unknown): WireError {
  let detail: string;
  if (err instanceof Error) {
    const frames = (err.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 8);
    detail = [String(err), ...frames.map((f) => f.trim())].join('\n');
  } else {
    detail = String(err);
  }
  return { name: ErrorName.Panic, message: `method "${method}" ${what}: ${detail}`, permanent: false };
}
