/*
 * What pool calls return (Python's ApplyResult, MapResult, IMapIterator):
 * an AsyncResult is a thenable with Python's get/wait/ready/successful;
 * an IMapIterator is an async iterator whose next() takes a timeout.
 *
 * The pool settles them through the `settle`/`push` symbols, which index.ts
 * does not export. A result nobody awaits never becomes an unhandled
 * rejection (DESIGN 1b). Callbacks run on this thread's event loop after
 * the result settles; one that throws is reported as an uncaught exception
 * of its own and does not disturb the pool.
 *
 * Talks to: pool/engine.ts (and any other engine: pool/api.ts) settles them.
 */
import { TimeoutError } from "../errors.ts";
import { handled, parseWait, settleWithin, type Wait } from "../waiting.ts";

export const settle = Symbol("multiproc.pool.settle");

type State<T> = { ready: false } | { ready: true; ok: true; value: T } | { ready: true; ok: false; error: unknown };

function notReady(what: string): Error {
  return new Error(`${what} is not ready`);
}

function callSafely(callback: (arg: never) => void, arg: unknown): void {
  try {
    callback(arg as never);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

export interface ResultCallbacks<T> {
  /** Called with the value once the call succeeded. */
  callback?: (value: T) => void;
  /** Called with the error once the call failed. */
  errorCallback?: (error: unknown) => void;
}

/** The result of applyAsync (and, as MapResult, of mapAsync/starmapAsync). */
export class AsyncResult<T> implements PromiseLike<T> {
  #state: State<T> = { ready: false };
  readonly #promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (error: unknown) => void;
  readonly #callbacks: ResultCallbacks<T>;

  /** @internal Made by the pool. */
  constructor(callbacks: ResultCallbacks<T> = {}) {
    this.#callbacks = callbacks;
    this.#promise = handled(
      new Promise<T>((resolve, reject) => {
        this.#resolve = resolve;
        this.#reject = reject;
      }),
    );
  }

  /** @internal The first call wins. */
  [settle](ok: boolean, valueOrError: unknown): void {
    if (this.#state.ready) return;
    if (ok) {
      this.#state = { ready: true, ok: true, value: valueOrError as T };
      this.#resolve(valueOrError as T);
      if (this.#callbacks.callback) callSafely(this.#callbacks.callback, valueOrError);
    } else {
      this.#state = { ready: true, ok: false, error: valueOrError };
      this.#reject(valueOrError);
      if (this.#callbacks.errorCallback) callSafely(this.#callbacks.errorCallback, valueOrError);
    }
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#promise.then(onFulfilled, onRejected);
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#promise.catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.#promise.finally(onFinally);
  }

  /** Whether the call has finished (either way). */
  ready(): boolean {
    return this.#state.ready;
  }

  /** Whether it finished without an error; throws if it has not finished (as Python's). */
  successful(): boolean {
    if (!this.#state.ready) throw notReady(this.toString());
    return this.#state.ok;
  }

  /** The value, waiting for it at most `timeout` ms (TimeoutError after); rethrows the task's error. */
  async get(wait?: Wait): Promise<T> {
    if (!this.#state.ready) {
      const { timeout, signal } = parseWait(wait);
      const settled = await settleWithin(this.#promise, timeout, signal).catch((err: unknown) => {
        if (this.#state.ready) return true;
        throw err;
      });
      if (!settled) throw new TimeoutError(`the result was not ready within ${timeout} ms`);
    }
    const state = this.#state as Exclude<State<T>, { ready: false }>;
    if (state.ok) return state.value;
    throw state.error;
  }

  /** Wait until the call finishes or `timeout` ms pass; never throws the task's error. */
  async wait(wait?: Wait): Promise<void> {
    if (this.#state.ready) return;
    const { timeout, signal } = parseWait(wait);
    await settleWithin(
      this.#promise.catch(() => undefined),
      timeout,
      signal,
    );
  }

  toString(): string {
    return `<${this.constructor.name} ${this.#state.ready ? (this.#state.ok ? "fulfilled" : "rejected") : "pending"}>`;
  }
}

/** The result of mapAsync and starmapAsync: every item's value, in order. */
export class MapResult<T> extends AsyncResult<T[]> {}

export const push = Symbol("multiproc.pool.push");
export const finish = Symbol("multiproc.pool.finish");

interface Waiter<T> {
  resolve: (result: IteratorResult<T, undefined>) => void;
  reject: (error: unknown) => void;
}

type Item<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * The results of imap (in input order) or imapUnordered (as they finish).
 * `for await` over it, or call next(timeout): TimeoutError if nothing came
 * in time. An item whose task failed throws at its place; next() after that
 * goes on with the following items, as Python's does. Leaving a `for await`
 * early (break, throw) stops the rest of the work.
 */
export class IMapIterator<T> implements AsyncIterableIterator<T, undefined> {
  readonly #items: Item<T>[] = [];
  #head = 0;
  #done = false;
  readonly #waiters: Waiter<T>[] = [];
  readonly #onConsumed: (count: number) => void;
  readonly #onReturn: () => void;

  /** @internal Made by the pool: told when items are taken (it reads ahead within bounds) and when the consumer stops. */
  constructor(onConsumed: (count: number) => void, onReturn: () => void) {
    this.#onConsumed = onConsumed;
    this.#onReturn = onReturn;
  }

  /** @internal The next item in delivery order. */
  [push](item: Item<T>): void {
    if (this.#done) return;
    const waiter = this.#waiters.shift();
    if (!waiter) {
      this.#items.push(item);
      return;
    }
    this.#onConsumed(1);
    if (item.ok) waiter.resolve({ value: item.value, done: false });
    else waiter.reject(item.error);
  }

  /** @internal No more items will come. */
  [finish](): void {
    this.#done = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
  }

  next(wait?: Wait): Promise<IteratorResult<T, undefined>> {
    if (this.#head < this.#items.length) {
      const item = this.#items[this.#head]!;
      this.#items[this.#head++] = undefined as never;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items.splice(0, this.#head);
        this.#head = 0;
      }
      this.#onConsumed(1);
      return item.ok ? Promise.resolve({ value: item.value, done: false }) : handled(Promise.reject(item.error));
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    const { timeout, signal } = parseWait(wait);
    return handled(
      new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
        const waiter: Waiter<T> = { resolve, reject };
        this.#waiters.push(waiter);
        if (timeout === null && !signal) return;
        const pending = new Promise<void>((settled) => {
          waiter.resolve = (result) => (settled(), resolve(result));
          waiter.reject = (error) => (settled(), reject(error));
        });
        settleWithin(pending, timeout, signal).then(
          (inTime) => {
            if (inTime) return;
            this.#dropWaiter(waiter);
            reject(new TimeoutError(`no result within ${timeout} ms`));
          },
          (err: unknown) => {
            this.#dropWaiter(waiter);
            reject(err);
          },
        );
      }),
    );
  }

  #dropWaiter(waiter: Waiter<T>): void {
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
  }

  /** Stop: no more results are delivered, and work not yet started is dropped. */
  return(): Promise<IteratorResult<T, undefined>> {
    if (!this.#done) {
      this.#onReturn();
      this[finish]();
    }
    this.#items.length = 0;
    this.#head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
