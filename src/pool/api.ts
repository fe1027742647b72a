/*
 * The seam between the public Pool and what runs its tasks: the local
 * engine (worker processes on this machine, pool.ts) or another backend
 * (multiproc/redis). Pool is a thin class over a PoolApi; a backend makes
 * the engine from the pool's options.
 *
 * Talks to: pool.ts (Pool, LocalPool), redis.ts (a backend).
 */
import type { ApplyAsyncOptions, ApplyOptions, IMapOptions, MapAsyncOptions, MapOptions, PoolOptions, PoolStats } from "../pool.ts";
import type { Items } from "./jobs.ts";
import type { AsyncResult, IMapIterator, MapResult } from "./results.ts";

/** Every public instance member of Pool, with its signature. */
export interface PoolApi extends AsyncDisposable {
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: ApplyOptions): Promise<Awaited<R>>;
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: ApplyAsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>>;
  map<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapOptions | number): Promise<Awaited<R>[]>;
  mapAsync<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>>;
  starmap<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapOptions | number): Promise<Awaited<R>[]>;
  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>>;
  imap<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>>;
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>>;
  close(): void;
  terminate(): Promise<void>;
  join(): Promise<void>;
  stats(): PoolStats;
  toString(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Where a Pool's tasks run, when not on this machine's worker processes. */
export interface PoolBackend {
  readonly kind: string;
  createEngine(options: PoolOptions): PoolApi;
}
