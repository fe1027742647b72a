/*
 * What a pool call may be given, and the checks every pool engine makes of
 * it (the local one here, the Redis one in multiproc/redis), so that bad
 * input fails the same way whichever engine runs the tasks.
 *
 * Talks to: pool.ts (re-exports the types), pool/engine.ts, pool/jobs.ts.
 */
import type { Context, StartMethod } from "../context.ts";
import type { Target } from "../process.ts";
import type { PoolBackend } from "./api.ts";
import type { ResultCallbacks } from "./results.ts";

export type Items<T> = Iterable<T> | AsyncIterable<T>;

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === "object" && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
}

export interface PoolOptions {
  /** Number of workers; default cpuCount(). */
  processes?: number;
  /** Run in each worker before its first task (a named, exported function). */
  initializer?: Target;
  initargs?: readonly unknown[];
  /** Replace a worker by a fresh one after this many tasks; default: never. */
  maxtasksperchild?: number | null;
  /** Start method of the workers: a context or its name; default the default context. */
  context?: Context | StartMethod;
  /** Default for every call: how many times a task whose worker died is run again (for idempotent work). */
  retries?: number;
  /** Where tasks run: default, this machine's worker processes; `redis({...})` from multiproc/redis carries them to other machines. */
  backend?: PoolBackend;
}

/** Per-call options every pool call takes. */
export interface TaskOptions {
  /** Abort the call: its queued tasks are dropped, running ones have their worker killed and replaced. */
  signal?: AbortSignal;
  /** Milliseconds from a task's start; a task still running then has its worker killed and fails with TimeoutError. */
  timeout?: number;
  /** How many times a task whose worker died is run again (default: the pool's, 0). */
  retries?: number;
}

export interface ApplyOptions extends TaskOptions {
  /** Passed to the function as one extra, last argument. */
  kwargs?: Record<string, unknown>;
}

export interface ApplyAsyncOptions<R> extends ApplyOptions, ResultCallbacks<R> {}

export interface MapOptions extends TaskOptions {
  /** Items per task; default as Python's (about 4 tasks per worker) for map, 1 for imap. */
  chunksize?: number;
  /** Called as items finish: how many are done, of how many (undefined while an imap input is still being read). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Draw a progress bar on stderr when it is a terminal; a string labels it. */
  progress?: boolean | string;
}

export interface MapAsyncOptions<R> extends MapOptions, ResultCallbacks<R[]> {}

export interface IMapOptions extends MapOptions {
  /** How many tasks may be read from the input and not yet consumed (default 16 per worker). */
  buffersize?: number;
}

export interface PoolStats {
  /** "broken": workers kept failing to start (see the README); every call fails. */
  state: "running" | "closed" | "terminated" | "broken";
  processes: number;
  /** Workers alive now. */
  workers: number;
  /** Workers holding at least one task. */
  busyWorkers: number;
  /** Tasks waiting to be sent to a worker. */
  queued: number;
  tasksDone: number;
  tasksFailed: number;
  workersReplaced: number;
  /** Pids of the workers alive now (for the thread context, this process's pid, once per worker; empty when they run on other machines). */
  pids: number[];
}

export function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  if (value < min) throw new RangeError(`${name} must be at least ${min}, got ${value}`);
  return value;
}

export function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== "function") throw new TypeError(`${what} must be a function, got ${fn === null ? "null" : typeof fn}`);
}

export function checkTaskOptions(options: TaskOptions): void {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const { timeout, signal, retries } = options;
  if (timeout !== undefined && (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0)) {
    throw new TypeError(`timeout must be a number of milliseconds >= 0, got ${String(timeout)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
  if (retries !== undefined) checkCount("retries", retries, 0);
}

export function checkIterable(value: unknown): void {
  const iterable =
    value !== null &&
    value !== undefined &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === "function" || isAsyncIterable(value));
  if (!iterable) throw new TypeError(`iterable must be an Iterable or AsyncIterable, got ${value === null ? "null" : typeof value}`);
}

/** Python's rule: about four tasks per worker. */
export function defaultChunksize(length: number, processes: number): number {
  if (length === 0) return 1;
  return Math.ceil(length / (processes * 4));
}
