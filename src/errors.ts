/*
 * Every error the library throws on purpose, in one place (Python's
 * multiprocessing spreads them over context.py, queue and threading).
 * All are exported from index.ts and survive a trip between processes with
 * their class intact (reduction.ts registers them as serializable).
 */

/** Base class of the library's process-level errors, as Python's `ProcessError`. */
export class ProcessError extends Error {}

/** A wait ran out of time where Python raises `multiprocessing.TimeoutError`. */
export class TimeoutError extends ProcessError {
}

/** The peer did not prove it holds the same authkey. */
export class AuthenticationError extends ProcessError {
}

/** A buffer given to `recvBytesInto` is too small; `data` holds the whole message (Python's `args[0]`). */
export class BufferTooShort extends ProcessError {
  constructor(
    message?: string,
    readonly data: Uint8Array = new Uint8Array(0),
  ) {
    super(message);
  }
}

/** The other end of a connection is gone. */
export class EOFError extends Error {
}

/** Sending on a connection whose other end is closed, or whose process died (Python's `BrokenPipeError`). */
export class BrokenPipeError extends Error {
  readonly code = "EPIPE";
}

/** Non-blocking or timed-out `get` on an empty queue (Python's `queue.Empty`). */
export class Empty extends Error {
}

/** Non-blocking or timed-out `put` on a full queue (Python's `queue.Full`). */
export class Full extends Error {
}

/** A barrier was aborted or reset while parties were waiting on it. */
export class BrokenBarrierError extends Error {
}

/** An error raised on the other side of a connection that could not be rebuilt as its own type. */
export class RemoteError extends ProcessError {
}

/** Thrown when a value cannot be sent; `path` locates the offending part, e.g. `args[1].cb`. */
export class SerializationError extends TypeError {
  constructor(
    message: string,
    readonly path: string = "",
  ) {
    super(message);
  }
}

/** Thrown when a function cannot travel to another process; the message says how to fix it. */
export class FunctionLookupError extends TypeError {}

/** What a WorkerLostError knows of the worker and the task. */
export interface WorkerLoss {
  /** The worker's exit code: n for exit(n), -N when killed by signal N. */
  exitCode: number | null;
  /** The signal's name when it was killed by one, e.g. "SIGKILL". */
  signal: string | null;
  pid: number | undefined;
  /** Index of the first item of the lost task in its map (0 for apply). */
  index: number;
}

/** The worker that held a task died before the task finished (a pool never hangs on it, unlike Python's). */
export class WorkerLostError extends ProcessError {
  exitCode: number | null = null;
  signal: string | null = null;
  pid: number | undefined = undefined;
  index = 0;

  constructor(message?: string, loss?: WorkerLoss) {
    super(message);
    if (loss) Object.assign(this, loss);
  }
}

/** A pool task's result (or error) could not be sent back (Python's MaybeEncodingError); `exc` and `value` describe them. */
export class MaybeEncodingError extends ProcessError {
  readonly exc: string;
  readonly value: string;

  constructor(exc?: unknown, value?: unknown) {
    const excText = exc instanceof Error ? `${exc.name}: ${exc.message}` : String(exc);
    const valueText = describe(value);
    super(`Error sending result: '${valueText}'. Reason: '${excText}'`);
    this.exc = excText;
    this.value = valueText;
  }
}

function describe(value: unknown): string {
  if (typeof value === "function") return `[Function ${value.name || "(anonymous)"}]`;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A lock was taken over from a holder that died while holding it. */
export class OwnerDiedError extends ProcessError {
}

/** A boolean option given something else: refused rather than read as truthy (`daemon: "no"` would be true). */
export function checkBoolean(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${value === null ? "null" : typeof value}`);
}

/** The error an aborted wait rejects with: the signal's reason, or a DOMException named AbortError. */
export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/**
 * Put each class's `name` on its prototype (as the built-in errors do), so
 * instances print as `Empty: ...` without an own enumerable `name` field.
 */
export function nameErrorClasses(...classes: ReadonlyArray<{ readonly name: string; prototype: Error }>): void {
  for (const cls of classes) {
    Object.defineProperty(cls.prototype, "name", { value: cls.name, writable: true, configurable: true, enumerable: false });
  }
}

export const libraryErrors = [
  ProcessError,
  TimeoutError,
  AuthenticationError,
  BufferTooShort,
  EOFError,
  BrokenPipeError,
  Empty,
  Full,
  BrokenBarrierError,
  RemoteError,
  WorkerLostError,
  MaybeEncodingError,
  OwnerDiedError,
  SerializationError,
  FunctionLookupError,
] as const;

nameErrorClasses(...libraryErrors);
