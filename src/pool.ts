/*
 * Pool (Python's pool.py): the public class, thin over an engine that runs
 * the tasks (pool/api.ts). By default that engine is this machine's worker
 * processes (pool/engine.ts); `backend` names another (multiproc/redis).
 * Beyond Python's pool: a worker that dies never hangs it, imap reads its
 * input lazily, and calls take an AbortSignal, a timeout and a progress
 * callback.
 *
 * Talks to: pool/api.ts, pool/engine.ts, pool/options.ts (the option types
 * it re-exports); context.ts binds it to a start method.
 */
import { reduce, SerializationError } from "./reduction.ts";
import type { PoolApi } from "./pool/api.ts";
import { LocalPool } from "./pool/engine.ts";
import type { ApplyAsyncOptions, ApplyOptions, IMapOptions, Items, MapAsyncOptions, MapOptions, PoolOptions, PoolStats } from "./pool/options.ts";
import type { AsyncResult, IMapIterator, MapResult } from "./pool/results.ts";

export type { ApplyAsyncOptions, ApplyOptions, IMapOptions, MapAsyncOptions, MapOptions, PoolOptions, PoolStats, TaskOptions } from "./pool/options.ts";

export class Pool implements PoolApi {
  readonly #engine: PoolApi;

  constructor(options: PoolOptions | number = {}) {
    const opts: PoolOptions = typeof options === "number" ? { processes: options } : options;
    if (opts === null || typeof opts !== "object") throw new TypeError("new Pool(options): options must be an object or a number of processes");
    const { backend } = opts;
    if (backend !== undefined && (backend === null || typeof backend.createEngine !== "function")) {
      throw new TypeError("backend must be a pool backend, such as redis({ ... }) from multiproc/redis");
    }
    this.#engine = backend ? backend.createEngine(opts) : new LocalPool(opts);
  }

  /** How many workers the pool keeps. */
  get processes(): number {
    return this.#engine.stats().processes;
  }

  /** Run fn(...args) in a worker and wait for its value (Python's apply). */
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: ApplyOptions): Promise<Awaited<R>> {
    return this.#engine.apply(fn, args, options);
  }

  /** Start fn(...args) in a worker; the AsyncResult settles with its value. */
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: ApplyAsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>> {
    return this.#engine.applyAsync(fn, args, options);
  }

  /** fn over every item, in parallel; the values in input order (Python's map). */
  map<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#engine.map(fn, iterable, options);
  }

  /** map as an AsyncResult, with callback / errorCallback. */
  mapAsync<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#engine.mapAsync(fn, iterable, options);
  }

  /** fn(...args) for every args array of the input (Python's starmap). */
  starmap<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#engine.starmap(fn, iterable, options);
  }

  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#engine.starmapAsync(fn, iterable, options);
  }

  /** fn over the input, read lazily; values in input order as they become available. */
  imap<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#engine.imap(fn, iterable, options);
  }

  /** As imap, values in the order they finish. */
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#engine.imapUnordered(fn, iterable, options);
  }

  /** No more calls; workers exit once the work already given is done (Python's close). */
  close(): void {
    this.#engine.close();
  }

  /** Stop now: workers are killed, calls not finished fail. */
  terminate(): Promise<void> {
    return this.#engine.terminate();
  }

  /** Wait for the workers to exit; only after close() or terminate() (Python's join). */
  join(): Promise<void> {
    return this.#engine.join();
  }

  stats(): PoolStats {
    return this.#engine.stats();
  }

  toString(): string {
    return this.#engine.toString();
  }

  /** `await using pool = new Pool()`: terminates at the end of the scope, as Python's `with`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#engine[Symbol.asyncDispose]();
  }

  /** A pool belongs to the process that made it (Python refuses to pickle one too). */
  [reduce](): never {
    throw new SerializationError("a Pool cannot be sent to another process: pass what its tasks need instead", "pool");
  }
}
