/*
 * What a SyncManager serves: the objects ("referents") that live in the
 * manager process and that proxies call into. They are plain in-process
 * JavaScript objects, as Python's are `dict`, `list`, `threading.Lock`,
 * `queue.Queue`...: the manager's event loop runs one call at a time, so
 * none needs a lock of its own, and a wait (acquire, get, wait) is a
 * Promise that another client's call settles.
 *
 * Lock ownership for RLock and Condition is per client connection (one per
 * process and manager), as Python's is per server thread, which is per
 * client thread: `caller()` names the connection whose call is running.
 *
 * Talks to: managers.ts (the server calls these).
 */
import { BrokenBarrierError, Empty, Full, TimeoutError } from "../errors.ts";
import type { QueueWait } from "../queues.ts";
import { builtin } from "../runtime.ts";
import type { Typecode } from "../sharedctypes.ts";
import { parseWait, type BlockingWaitOptions } from "../waiting.ts";

const { isDeepStrictEqual } = builtin("node:util");

/** The connection whose call the server is running (set around each call). */
let current = 0;

/** @internal The server sets who is calling before it calls a referent's method. */
export function setCaller(id: number): void {
  current = id;
}

function caller(): number {
  return current;
}

type Acquire = number | null | undefined | BlockingWaitOptions;

/** The waiters of one wait queue, each settled once: by a wake (which may hand it a value), or by its timeout. */
class Waiters<T = undefined> {
  readonly #queue: Array<(handed: { value: T } | undefined) => void> = [];

  get length(): number {
    return this.#queue.length;
  }

  /** Wait until woken (true) or `timeout` ms pass (false; null: never). */
  async wait(timeout: number | null): Promise<boolean> {
    return (await this.take(timeout)) !== undefined;
  }

  /** Wait for what a wake hands over; undefined when `timeout` ms pass first (null: never). */
  take(timeout: number | null): Promise<{ value: T } | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const entry = (handed: { value: T } | undefined) => {
        if (timer) clearTimeout(timer);
        resolve(handed);
      };
      this.#queue.push(entry);
      if (timeout !== null) {
        timer = setTimeout(() => {
          const at = this.#queue.indexOf(entry);
          if (at >= 0) this.#queue.splice(at, 1);
          resolve(undefined);
        }, Math.max(0, timeout));
      }
    });
  }

  /** Wake the first `n` waiters, handing each `value`; how many there were. */
  wake(n = 1, value?: T): number {
    const woken = this.#queue.splice(0, n);
    for (const wake of woken) wake({ value: value as T });
    return woken.length;
  }
}

function acquireWait(wait: Acquire): { block: boolean; timeout: number | null } {
  const { timeout } = parseWait(wait);
  const block = typeof wait === "object" && wait !== null ? wait.block !== false : true;
  return { block, timeout };
}

/** A counting semaphore: the one mechanism under Lock, Semaphore and BoundedSemaphore. */
export class Semaphore {
  #value: number;
  readonly #waiters = new Waiters();

  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`semaphore initial value must be a non-negative integer, got ${String(value)}`);
    this.#value = value;
  }

  async acquire(wait?: Acquire): Promise<boolean> {
    if (this.#value > 0 && this.#waiters.length === 0) {
      this.#value--;
      return true;
    }
    const { block, timeout } = acquireWait(wait);
    if (!block) return false;
    // A release hands its unit to the first waiter directly (see release), so a woken waiter owns it.
    return this.#waiters.wait(timeout);
  }

  release(n = 1): void {
    for (let i = 0; i < n; i++) if (this.#waiters.wake(1) === 0) this.#value++;
  }

  getValue(): number {
    return this.#value;
  }
}

export class BoundedSemaphore extends Semaphore {
  readonly #bound: number;

  constructor(value = 1) {
    super(value);
    this.#bound = value;
  }

  override release(n = 1): void {
    if (this.getValue() + n > this.#bound) throw new RangeError("semaphore or lock released too many times");
    super.release(n);
  }
}

export class Lock {
  readonly #semaphore = new Semaphore(1);

  acquire(wait?: Acquire): Promise<boolean> {
    return this.#semaphore.acquire(wait);
  }

  release(): void {
    if (this.#semaphore.getValue() > 0) throw new Error("release unlocked lock");
    this.#semaphore.release();
  }

  locked(): boolean {
    return this.#semaphore.getValue() === 0;
  }
}

/** Owned by the connection that acquired it, recursively. */
export class RLock {
  readonly #lock = new Lock();
  #owner = 0;
  #count = 0;

  async acquire(wait?: Acquire): Promise<boolean> {
    const me = caller();
    if (this.#owner === me && this.#count > 0) {
      this.#count++;
      return true;
    }
    if (!(await this.#lock.acquire(wait))) return false;
    this.#owner = me;
    this.#count = 1;
    return true;
  }

  release(): void {
    if (this.#count === 0 || this.#owner !== caller()) throw new Error("cannot release un-acquired lock");
    if (--this.#count === 0) {
      this.#owner = 0;
      this.#lock.release();
    }
  }

  locked(): boolean {
    return this.#lock.locked();
  }

  /** @internal For Condition: drop every level at once, and take them back. */
  saveAndRelease(): number {
    const count = this.#count;
    this.#count = 1;
    this.release();
    return count;
  }

  async restore(count: number, owner: number): Promise<void> {
    await this.#lock.acquire();
    this.#owner = owner;
    this.#count = count;
  }
}

export class Condition {
  readonly #lock: RLock;
  readonly #waiters = new Waiters();

  constructor() {
    this.#lock = new RLock();
  }

  acquire(wait?: Acquire): Promise<boolean> {
    return this.#lock.acquire(wait);
  }

  release(): void {
    this.#lock.release();
  }

  /** Release the lock, wait for a notify (or `timeout` ms), take the lock back; false on timeout. */
  async wait(timeout?: number | null): Promise<boolean> {
    const me = caller();
    const count = this.#lock.saveAndRelease();
    try {
      return await this.#waiters.wait(timeout ?? null);
    } finally {
      await this.#lock.restore(count, me);
    }
  }

  notify(n = 1): void {
    this.#waiters.wake(n);
  }

  notifyAll(): void {
    this.#waiters.wake(Infinity);
  }
}

export class Event {
  #flag = false;
  readonly #waiters = new Waiters();

  isSet(): boolean {
    return this.#flag;
  }

  set(): void {
    this.#flag = true;
    this.#waiters.wake(Infinity);
  }

  clear(): void {
    this.#flag = false;
  }

  async wait(timeout?: number | null): Promise<boolean> {
    if (this.#flag) return true;
    await this.#waiters.wait(timeout ?? null);
    return this.#flag;
  }
}

/**
 * Python's queue.Queue as its manager serves it: the items stay values in
 * the manager (no shared-memory ring, no copy), and a get that waits is
 * handed the item by the put that brings it (no wake through the event
 * loop). A get taking an item from a full queue lets the first waiting put
 * in (its room is kept for it).
 */
export class Queue {
  readonly #maxsize: number;
  #items: unknown[] = [];
  #head = 0;
  /** Room kept for puts that were woken and have not yet come back. */
  #kept = 0;
  readonly #getters = new Waiters<unknown>();
  readonly #putters = new Waiters();
  #unfinished = 0;
  readonly #joiners = new Waiters();

  constructor(maxsize = 0) {
    if (typeof maxsize !== "number" || !Number.isInteger(maxsize)) throw new TypeError(`maxsize must be an integer, got ${String(maxsize)}`);
    this.#maxsize = maxsize;
  }

  async put(item: unknown, wait?: QueueWait): Promise<void> {
    if (this.full() || this.#putters.length > 0) {
      const { block, timeout } = acquireWait(wait);
      if (!block) throw new Full("the queue is full");
      if (!(await this.#putters.wait(timeout))) throw new Full(`the queue stayed full for ${String(timeout)} ms`);
      this.#kept--;
    }
    this.#add(item);
  }

  putNowait(item: unknown): void {
    if (this.full() || this.#putters.length > 0) throw new Full("the queue is full");
    this.#add(item);
  }

  async get(wait?: QueueWait): Promise<unknown> {
    if (this.qsize() > 0) return this.#take();
    const { block, timeout } = acquireWait(wait);
    if (!block) throw new Empty("the queue is empty");
    const handed = await this.#getters.take(timeout);
    if (!handed) throw new Empty(`the queue stayed empty for ${String(timeout)} ms`);
    return handed.value;
  }

  getNowait(): unknown {
    if (this.qsize() === 0) throw new Empty("the queue is empty");
    return this.#take();
  }

  qsize(): number {
    return this.#items.length - this.#head;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    return this.#maxsize > 0 && this.qsize() + this.#kept >= this.#maxsize;
  }

  /** Mark one item taken with get as processed (JoinableQueue). */
  taskDone(): void {
    if (this.#unfinished === 0) throw new RangeError("task_done() called too many times");
    if (--this.#unfinished === 0) this.#joiners.wake(Infinity);
  }

  /** Resolves once every item put has been marked done (JoinableQueue); TimeoutError after `timeout`. */
  async join(timeout?: number | null): Promise<void> {
    if (this.#unfinished === 0) return;
    if (!(await this.#joiners.wait(timeout ?? null))) throw new TimeoutError(`${this.#unfinished} items still unfinished after ${String(timeout)} ms`);
  }

  #add(item: unknown): void {
    this.#unfinished++;
    if (this.#getters.wake(1, item) === 0) this.#items.push(item);
  }

  #take(): unknown {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Drop the taken front now and then, so a long-lived queue does not keep growing its array.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#putters.wake(1) > 0) this.#kept++;
    return item;
  }
}

/** Python's threading.Barrier: `parties` waiters released together; wait() gives each its arrival index. */
export class Barrier {
  readonly #parties: number;
  readonly #timeout: number | null;
  #waiting: Array<{ resolve: (index: number) => void; reject: (error: Error) => void }> = [];
  #broken = false;

  readonly #action: (() => unknown) | undefined;

  constructor(parties: number, action?: (() => unknown) | null, timeout?: number | null) {
    if (!Number.isInteger(parties) || parties < 1) throw new RangeError(`parties must be a positive integer, got ${String(parties)}`);
    if (action !== undefined && action !== null && typeof action !== "function") throw new TypeError("a Barrier's action must be a function");
    this.#parties = parties;
    this.#action = action ?? undefined;
    this.#timeout = timeout ?? null;
  }

  wait(timeout?: number | null): Promise<number> {
    if (this.#broken) return Promise.reject(new BrokenBarrierError("the barrier is broken"));
    const index = this.#waiting.length;
    if (index + 1 === this.#parties) {
      try {
        this.#action?.();
      } catch (err) {
        this.abort();
        return Promise.reject(err);
      }
      const released = this.#waiting;
      this.#waiting = [];
      released.forEach((waiter, i) => waiter.resolve(i));
      return Promise.resolve(index);
    }
    const limit = timeout ?? this.#timeout;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        resolve: (i: number) => {
          if (timer) clearTimeout(timer);
          resolve(i);
        },
        reject: (error: Error) => {
          if (timer) clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiting.push(waiter);
      if (limit !== null) timer = setTimeout(() => this.abort(), Math.max(0, limit));
    });
  }

  abort(): void {
    this.#broken = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new BrokenBarrierError("the barrier was aborted or a wait timed out"));
  }

  reset(): void {
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new BrokenBarrierError("the barrier was reset"));
    this.#broken = false;
  }

  parties(): number {
    return this.#parties;
  }

  nWaiting(): number {
    return this.#waiting.length;
  }

  broken(): boolean {
    return this.#broken;
  }
}

function keyError(key: unknown): RangeError {
  return new RangeError(`KeyError: ${typeof key === "string" ? JSON.stringify(key) : String(key)} is not in the dict`);
}

/** Python's dict; keys are compared as Map compares them (primitives by value). */
export class Dict {
  readonly #map: Map<unknown, unknown>;

  constructor(init?: Iterable<readonly [unknown, unknown]> | Record<string, unknown> | null) {
    this.#map = new Map(entriesOf(init));
  }

  get(key: unknown, fallback?: unknown): unknown {
    return this.#map.has(key) ? this.#map.get(key) : fallback;
  }

  getitem(key: unknown): unknown {
    if (!this.#map.has(key)) throw keyError(key);
    return this.#map.get(key);
  }

  set(key: unknown, value: unknown): void {
    this.#map.set(key, value);
  }

  delete(key: unknown): boolean {
    return this.#map.delete(key);
  }

  delitem(key: unknown): void {
    if (!this.#map.delete(key)) throw keyError(key);
  }

  has(key: unknown): boolean {
    return this.#map.has(key);
  }

  keys(): unknown[] {
    return [...this.#map.keys()];
  }

  values(): unknown[] {
    return [...this.#map.values()];
  }

  items(): Array<[unknown, unknown]> {
    return [...this.#map.entries()];
  }

  update(other?: Iterable<readonly [unknown, unknown]> | Record<string, unknown> | null): void {
    for (const [k, v] of entriesOf(other)) this.#map.set(k, v);
  }

  pop(key: unknown, ...fallback: [unknown?]): unknown {
    if (this.#map.has(key)) {
      const value = this.#map.get(key);
      this.#map.delete(key);
      return value;
    }
    if (fallback.length > 0) return fallback[0];
    throw keyError(key);
  }

  popitem(): [unknown, unknown] {
    const last = [...this.#map.entries()].pop();
    if (!last) throw new RangeError("KeyError: popitem(): dictionary is empty");
    this.#map.delete(last[0]);
    return last;
  }

  setdefault(key: unknown, fallback?: unknown): unknown {
    if (!this.#map.has(key)) this.#map.set(key, fallback);
    return this.#map.get(key);
  }

  clear(): void {
    this.#map.clear();
  }

  size(): number {
    return this.#map.size;
  }

  copy(): Record<string, unknown> {
    return Object.fromEntries(this.#map as Map<PropertyKey, unknown>);
  }

  toString(): string {
    return `{${[...this.#map].map(([k, v]) => `${JSON.stringify(k) ?? String(k)}: ${JSON.stringify(v) ?? String(v)}`).join(", ")}}`;
  }
}

function entriesOf(init: Iterable<readonly [unknown, unknown]> | Record<string, unknown> | null | undefined): Iterable<readonly [unknown, unknown]> {
  if (init === undefined || init === null) return [];
  if (init instanceof Map || Array.isArray(init)) return init as Iterable<readonly [unknown, unknown]>;
  if (typeof init !== "object") throw new TypeError(`a dict is made from an object, a Map or [key, value] pairs, got ${typeof init}`);
  return Object.entries(init);
}

function indexError(index: unknown, length: number): RangeError {
  return new RangeError(`IndexError: list index ${String(index)} out of range (length ${length})`);
}

/** Python's ordering for sort(): numbers and bigints numerically, strings by code point, else as `<` says. */
function pythonOrder(a: unknown, b: unknown): number {
  if (a === b) return 0;
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** Python's list; negative indexes count from the end. */
export class List {
  readonly #items: unknown[];

  constructor(init?: Iterable<unknown> | null) {
    this.#items = init === undefined || init === null ? [] : [...init];
  }

  #at(index: number): number {
    if (!Number.isInteger(index)) throw new TypeError(`list indices must be integers, got ${String(index)}`);
    const at = index < 0 ? index + this.#items.length : index;
    if (at < 0 || at >= this.#items.length) throw indexError(index, this.#items.length);
    return at;
  }

  get(index: number): unknown {
    return this.#items[this.#at(index)];
  }

  set(index: number, value: unknown): void {
    this.#items[this.#at(index)] = value;
  }

  delitem(index: number): void {
    this.#items.splice(this.#at(index), 1);
  }

  append(value: unknown): void {
    this.#items.push(value);
  }

  extend(values: Iterable<unknown>): void {
    this.#items.push(...values);
  }

  insert(index: number, value: unknown): void {
    const length = this.#items.length;
    const at = index < 0 ? Math.max(0, index + length) : Math.min(index, length);
    this.#items.splice(at, 0, value);
  }

  pop(index = -1): unknown {
    if (this.#items.length === 0) throw new RangeError("IndexError: pop from empty list");
    return this.#items.splice(this.#at(index), 1)[0];
  }

  remove(value: unknown): void {
    this.#items.splice(this.#find(value), 1);
  }

  index(value: unknown): number {
    return this.#find(value);
  }

  #find(value: unknown): number {
    const at = this.#items.findIndex((item) => isDeepStrictEqual(item, value));
    if (at < 0) throw new RangeError(`ValueError: ${JSON.stringify(value) ?? String(value)} is not in list`);
    return at;
  }

  count(value: unknown): number {
    return this.#items.filter((item) => isDeepStrictEqual(item, value)).length;
  }

  length(): number {
    return this.#items.length;
  }

  slice(start?: number, end?: number): unknown[] {
    return this.#items.slice(start, end);
  }

  sort(options: { reverse?: boolean } = {}): void {
    this.#items.sort(pythonOrder);
    if (options.reverse) this.#items.reverse();
  }

  reverse(): void {
    this.#items.reverse();
  }

  toArray(): unknown[] {
    return [...this.#items];
  }

  toString(): string {
    return JSON.stringify(this.#items) ?? "[]";
  }
}

/** Python's Namespace: attributes by name. */
export class Namespace {
  readonly #attributes = new Map<string, unknown>();

  constructor(init?: Record<string, unknown> | null) {
    for (const [k, v] of Object.entries(init ?? {})) this.#attributes.set(k, v);
  }

  get(attr: string): unknown {
    if (!this.#attributes.has(attr)) throw new RangeError(`AttributeError: the namespace has no attribute ${JSON.stringify(attr)}`);
    return this.#attributes.get(attr);
  }

  set(attr: string, value: unknown): void {
    if (typeof attr !== "string") throw new TypeError("a namespace attribute is named by a string");
    this.#attributes.set(attr, value);
  }

  delete(attr: string): boolean {
    return this.#attributes.delete(attr);
  }

  toObject(): Record<string, unknown> {
    return Object.fromEntries(this.#attributes);
  }
}

type ElementArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

const ARRAYS: Readonly<Record<Typecode, new (values: number | ArrayLike<never>) => ElementArray>> = {
  b: Int8Array,
  B: Uint8Array,
  h: Int16Array,
  H: Uint16Array,
  i: Int32Array,
  I: Uint32Array,
  l: BigInt64Array,
  L: BigUint64Array,
  q: BigInt64Array,
  Q: BigUint64Array,
  f: Float32Array,
  d: Float64Array,
};

function arrayOf(typecode: Typecode): (values: number | ArrayLike<never>) => ElementArray {
  const make = ARRAYS[typecode];
  if (!make) throw new TypeError(`unknown typecode ${JSON.stringify(typecode)}: use one of ${Object.keys(ARRAYS).join(" ")}`);
  return (values) => new make(values);
}

/** Python's managed Value: a typecode and a value (the manager serializes calls, so there is no lock). */
export class ValueHolder {
  #value: unknown;
  readonly #cell: ElementArray;

  constructor(typecode: Typecode, value: unknown) {
    this.#cell = arrayOf(typecode)(1);
    this.set(value ?? (this.#cell instanceof BigInt64Array || this.#cell instanceof BigUint64Array ? 0n : 0));
  }

  get(): unknown {
    return this.#value;
  }

  set(value: unknown): void {
    // Stored as the typecode stores it: 'i' wraps, 'f' rounds, a wrong type throws.
    (this.#cell as unknown as unknown[])[0] = value;
    this.#value = this.#cell[0];
  }
}

/** Python's managed Array (array.array): a fixed typecode, index access. */
export class ArrayHolder {
  #items: ElementArray;

  constructor(typecode: Typecode, sizeOrValues: number | Iterable<unknown>) {
    const make = arrayOf(typecode);
    this.#items = typeof sizeOrValues === "number" ? make(sizeOrValues) : make([...sizeOrValues] as never[]);
  }

  #at(index: number): number {
    const at = index < 0 ? index + this.#items.length : index;
    if (!Number.isInteger(at) || at < 0 || at >= this.#items.length) throw indexError(index, this.#items.length);
    return at;
  }

  get(index: number): unknown {
    return this.#items[this.#at(index)];
  }

  set(index: number, value: unknown): void {
    (this.#items as unknown as unknown[])[this.#at(index)] = value;
  }

  length(): number {
    return this.#items.length;
  }

  toArray(): unknown[] {
    return [...this.#items];
  }
}
