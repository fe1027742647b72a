/*
 * The seam between the public Pool and what runs its tasks: `Pool` is a
 * thin class over a PoolApi engine, the local one (pool/engine.ts: worker
 * processes of this machine) unless `options.backend` makes another (the
 * Redis engine of multiproc/redis). Every engine returns the same result
 * classes (pool/results.ts), so callers cannot tell them apart.
 *
 * Talks to: pool.ts (implements PoolApi by delegation), pool/options.ts.
 */
import type { ApplyAsyncOptions, ApplyOptions, IMapOptions, Items, MapAsyncOptions, MapOptions, PoolOptions, PoolStats } from "./options.ts";
import type { AsyncResult, IMapIterator, MapResult } from "./results.ts";

/** Every public member of Pool, as an engine provides it. */
export interface PoolApi {
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

/** Makes the engine of a Pool whose options name it (`new Pool({ backend })`). */
export interface PoolBackend {
  readonly kind: string;
  createEngine(options: PoolOptions): PoolApi;
}
