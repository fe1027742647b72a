/*
 * The call layer every pool engine shares: Python's apply / map / starmap /
 * imap family with their argument checks, Python's chunksize rule, and the
 * Jobs they make (pool/jobs.ts). An engine says whether it takes calls, how
 * a function is named for its workers, and where a job goes; the calls
 * behave alike whether tasks run on this machine or through Redis. Each
 * function is located once per pool and named by a number in task messages.
 *
 * Talks to: pool/jobs.ts, pool/options.ts, pool/protocol.ts (an apply's
 * arguments); pool/engine.ts and redis.ts extend it.
 */
import { locateFunction, type FunctionRef } from "../functionRefs.ts";
import { handled } from "../waiting.ts";
import { ApplyJob, IMapJob, MapJob, type Job, type MapItems, type PoolCore } from "./jobs.ts";
import { applyPayload, TaskKind } from "./protocol.ts";
import { MapResult, settle, type AsyncResult, type IMapIterator } from "./results.ts";
import {
  checkCount,
  checkFunction,
  checkIterable,
  checkTaskOptions,
  defaultChunksize,
  isAsyncIterable,
  type ApplyAsyncOptions,
  type ApplyOptions,
  type IMapOptions,
  type Items,
  type MapAsyncOptions,
  type MapOptions,
} from "./options.ts";

export type Fn = (...args: never[]) => unknown;

export abstract class PoolCalls implements PoolCore {
  abstract readonly retries: number;
  abstract abortJob(job: Job, error: unknown, killRunning: boolean): void;
  abstract offer(job: Job): void;
  /** The worker count that Python's chunksize rule and imap's read-ahead are reckoned with. */
  protected abstract get workerCount(): number;
  /** Throws when the pool takes no more calls. */
  protected abstract checkRunning(): void;
  /** Hand a new job to the engine (unless it has nothing left to run). */
  protected abstract submit(job: Job): void;

  readonly #functions = new Map<Fn, number>();
  readonly #functionRefs: FunctionRef[] = [];

  /** Where the engine's workers find `fn`. */
  protected locate(fn: Fn): FunctionRef {
    return locateFunction(fn, "function");
  }

  /** The function that task messages name by `fnId`. */
  protected functionRef(fnId: number): FunctionRef {
    return this.#functionRefs[fnId - 1]!;
  }

  /** The number task messages name `fn` by: each function is located once per pool. */
  #functionId(fn: Fn): number {
    checkFunction(fn, "func");
    let id = this.#functions.get(fn);
    if (id === undefined) {
      this.#functionRefs.push(this.locate(fn));
      id = this.#functionRefs.length;
      this.#functions.set(fn, id);
    }
    return id;
  }

  /** Run fn(...args) in a worker and wait for its value (Python's apply). */
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options: ApplyOptions = {}): Promise<Awaited<R>> {
    try {
      return this.applyAsync(fn, args, options).get();
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  /** Start fn(...args) in a worker; the AsyncResult settles with its value. */
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options: ApplyAsyncOptions<Awaited<R>> = {}): AsyncResult<Awaited<R>> {
    this.checkRunning();
    checkTaskOptions(options);
    const callArgs = args ?? ([] as unknown as A);
    if (!Array.isArray(callArgs)) throw new TypeError("args must be an array");
    const { kwargs } = options;
    if (kwargs !== undefined && (kwargs === null || typeof kwargs !== "object")) throw new TypeError("kwargs must be an object");
    return this.applyEncoded(fn as Fn, applyPayload(callArgs, kwargs), options);
  }

  /**
   * applyAsync with its arguments encoded already, as applyPayload makes
   * them: a `multiproc worker` hands a job's on as they came (not public).
   */
  applyEncoded<R>(fn: Fn, encoded: Uint8Array, options: ApplyAsyncOptions<R> = {}): AsyncResult<R> {
    this.checkRunning();
    const job = new ApplyJob<R>(this, this.#functionId(fn), encoded, options);
    this.submit(job);
    return job.result;
  }

  /** fn over every item, in parallel; the values in input order (Python's map). */
  map<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#mapCall(TaskKind.Map, fn as Fn, iterable, options);
  }

  /** map as an AsyncResult, with callback / errorCallback. */
  mapAsync<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#mapAsyncCall(TaskKind.Map, fn as Fn, iterable, options);
  }

  /** fn(...args) for every args array of the input (Python's starmap). */
  starmap<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#mapCall(TaskKind.Starmap, fn as Fn, iterable, options);
  }

  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#mapAsyncCall(TaskKind.Starmap, fn as Fn, iterable, options);
  }

  /** fn over the input, read lazily; values in input order as they become available. */
  imap<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#imapCall(fn as Fn, iterable, true, options) as IMapIterator<Awaited<R>>;
  }

  /** As imap, values in the order they finish. */
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#imapCall(fn as Fn, iterable, false, options) as IMapIterator<Awaited<R>>;
  }

  #mapCall<R>(kind: TaskKind, fn: Fn, iterable: Items<unknown>, options: MapOptions | number | undefined): Promise<R[]> {
    try {
      return this.#mapAsyncCall<R>(kind, fn, iterable, options).get();
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  /** What every map-like call checks first; the options, and the function's id. */
  #prepareCall<O extends MapOptions>(fn: Fn, iterable: Items<unknown>, options: O | number | undefined): { opts: O; fnId: number } {
    this.checkRunning();
    const opts = (typeof options === "number" ? { chunksize: options } : (options ?? {})) as O;
    checkTaskOptions(opts);
    checkIterable(iterable);
    const fnId = this.#functionId(fn);
    if (opts.chunksize !== undefined) checkCount("chunksize", opts.chunksize, 1);
    return { opts, fnId };
  }

  #mapAsyncCall<R>(kind: TaskKind, fn: Fn, iterable: Items<unknown>, options: MapAsyncOptions<R> | number | undefined): MapResult<R> {
    const { opts, fnId } = this.#prepareCall(fn, iterable, options);
    const start = (items: MapItems, jobOptions: MapAsyncOptions<R>): MapJob<R> => {
      const job = new MapJob<R>(this, fnId, kind, items, opts.chunksize ?? defaultChunksize(items.length, this.workerCount), jobOptions);
      this.submit(job);
      return job;
    };
    // A typed array is taken as it is (spreading one goes through its iterator: slow for long ones).
    if (!isAsyncIterable(iterable)) return start(Array.isArray(iterable) || isTypedArray(iterable) ? iterable : [...iterable], opts).result;
    // An async input is read whole first, as Python reads a map's input (map needs its length).
    // The result returned now has the callbacks; the job made once the input is read settles it.
    const { callback, errorCallback, ...jobOptions } = opts;
    const result = new MapResult<R>({ callback, errorCallback });
    void (async () => {
      const items: unknown[] = [];
      for await (const item of iterable) items.push(item);
      this.checkRunning();
      result[settle](true, await start(items, jobOptions).result);
    })().catch((error: unknown) => result[settle](false, error));
    return result;
  }

  #imapCall(fn: Fn, iterable: Items<unknown>, ordered: boolean, options: IMapOptions | number | undefined): IMapIterator<unknown> {
    const { opts, fnId } = this.#prepareCall(fn, iterable, options);
    const buffersize = opts.buffersize === undefined ? 16 * this.workerCount : checkCount("buffersize", opts.buffersize, 1);
    const job = new IMapJob<unknown>(this, fnId, TaskKind.Map, iterable, ordered, opts.chunksize ?? 1, buffersize, opts);
    this.submit(job);
    return job.iterator;
  }
}

function isTypedArray(value: unknown): value is MapItems {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}
