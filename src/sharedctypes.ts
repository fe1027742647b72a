/*
 * Values and arrays in shared memory (Python's sharedctypes.py): Value,
 * RawValue, SharedArray (exported as `Array` too) and RawArray. Each lives in
 * a Block of the library's shared heap (heap.ts) and travels to other
 * processes by reference, so a child's writes are the parent's.
 *
 * Typecodes are Python's `array` ones, with its sizes on Linux x86_64:
 * `b B h H i I` (8, 16, 32 bits; number), `l L q Q` (64 bits; bigint),
 * `f d` (float32, float64; number). Values convert as typed arrays do
 * (integers wrap, as ctypes does; fractions truncate).
 *
 * `.value` and index access are one memory access each, atomic for the
 * integer codes (Atomics.load/store), and never take the lock: hold
 * getLock() around a read-modify-write, or use the atomic helpers.
 * `view` is the zero-copy typed array over an array's memory, the fast path.
 *
 * `Value(..., { lock: false })` gives a RawValue and `SharedArray(..., { lock: false })`
 * a RawArray, as Python's give a raw ctypes object: they have no getLock at
 * all, and the TypeScript types say so.
 *
 * Talks to: heap.ts (memory), synchronize.ts (the lock), reduction.ts
 * (travelling by reference).
 */
import { allocate, Block } from "./heap.ts";
import { reduce, travelling, type Reduction } from "./reduction.ts";
import { Lock, RLock, type LockGuard } from "./synchronize.ts";
import type { Wait } from "./waiting.ts";

/** Python `array` typecodes. */
export type Typecode = "b" | "B" | "h" | "H" | "i" | "I" | "l" | "L" | "q" | "Q" | "f" | "d";
/** The 64-bit integer codes, whose elements are bigint. */
export type BigIntTypecode = "l" | "L" | "q" | "Q";
/** The codes the atomic helpers (add, compareExchange, ...) work on. */
export type IntegerTypecode = "b" | "B" | "h" | "H" | "i" | "I" | BigIntTypecode;

/** The element type of a typecode: bigint for `l L q Q`, number otherwise. */
export type ElementOf<C extends Typecode> = C extends BigIntTypecode ? bigint : number;

interface Views {
  b: Int8Array<ArrayBuffer>;
  B: Uint8Array<ArrayBuffer>;
  h: Int16Array<ArrayBuffer>;
  H: Uint16Array<ArrayBuffer>;
  i: Int32Array<ArrayBuffer>;
  I: Uint32Array<ArrayBuffer>;
  l: BigInt64Array<ArrayBuffer>;
  L: BigUint64Array<ArrayBuffer>;
  q: BigInt64Array<ArrayBuffer>;
  Q: BigUint64Array<ArrayBuffer>;
  f: Float32Array<ArrayBuffer>;
  d: Float64Array<ArrayBuffer>;
}

/** The typed array over a typecode's elements (`view` of a SharedArray). */
export type ViewOf<C extends Typecode> = Views[C];

type AnyView = Views[Typecode];
type ViewConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => AnyView;

interface Kind {
  array: ViewConstructor;
  /** Bytes per element. */
  size: number;
  /** An integer code: element access goes through Atomics. */
  atomic: boolean;
  bigint: boolean;
}

const KINDS: Readonly<Record<Typecode, Kind>> = {
  b: { array: Int8Array, size: 1, atomic: true, bigint: false },
  B: { array: Uint8Array, size: 1, atomic: true, bigint: false },
  h: { array: Int16Array, size: 2, atomic: true, bigint: false },
  H: { array: Uint16Array, size: 2, atomic: true, bigint: false },
  i: { array: Int32Array, size: 4, atomic: true, bigint: false },
  I: { array: Uint32Array, size: 4, atomic: true, bigint: false },
  l: { array: BigInt64Array, size: 8, atomic: true, bigint: true },
  L: { array: BigUint64Array, size: 8, atomic: true, bigint: true },
  q: { array: BigInt64Array, size: 8, atomic: true, bigint: true },
  Q: { array: BigUint64Array, size: 8, atomic: true, bigint: true },
  f: { array: Float32Array, size: 4, atomic: false, bigint: false },
  d: { array: Float64Array, size: 8, atomic: false, bigint: false },
};

function kindOf(typecode: unknown): Kind {
  if (typeof typecode !== "string" || !Object.hasOwn(KINDS, typecode)) {
    throw new TypeError(`bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d): ${typeof typecode === "string" ? JSON.stringify(typecode) : String(typecode)}`);
  }
  return KINDS[typecode as Typecode];
}

/** Atomics over any integer view, typed loosely: the element type is the caller's business. */
interface LooseAtomics {
  load(view: AnyView, index: number): number | bigint;
  store(view: AnyView, index: number, value: number | bigint): number | bigint;
  add(view: AnyView, index: number, value: number | bigint): number | bigint;
  sub(view: AnyView, index: number, value: number | bigint): number | bigint;
  exchange(view: AnyView, index: number, value: number | bigint): number | bigint;
  compareExchange(view: AnyView, index: number, expected: number | bigint, replacement: number | bigint): number | bigint;
}
const atomics = Atomics as unknown as LooseAtomics;
type LooseView = { [index: number]: number | bigint; readonly length: number };

/** Internal constructor option: re-open an object that arrived from another process on its block. */
const onBlock = Symbol("multiproc.sharedctypes.onBlock");
interface Reopen {
  [onBlock]?: { block: Block; length: number };
}

/** The lock a synchronized value or array guards read-modify-writes with. */
export type SharedLock = Lock | RLock;

export interface SharedOptions {
  /** true (default): a new RLock; a Lock or RLock: that one; false: no lock (a RawValue / RawArray). */
  lock?: boolean | SharedLock;
}

/** Whether lockFrom(options.lock) made a new lock, which then belongs to the value or array alone. */
function madeFor(options: SharedOptions & Reopen): boolean {
  return !options[onBlock] && (options.lock === undefined || options.lock === true);
}

/** null for no lock. */
function lockFrom(option: unknown): SharedLock | null {
  if (option === undefined || option === true) return new RLock();
  if (option === false) return null;
  const candidate = option as Partial<SharedLock> | null;
  if (candidate !== null && typeof candidate === "object" && typeof candidate.acquire === "function" && typeof candidate.release === "function") {
    return candidate as SharedLock;
  }
  throw new TypeError(`lock must be true, false, a Lock or an RLock; got ${option === null ? "null" : typeof option}`);
}

/**
 * What ctypes refuses: another type, and for integer codes a number that is
 * not an integer (NaN, Infinity, 1.5). An integer outside the code's range
 * is stored wrapped, as ctypes and typed arrays do (c_byte(300) is 44).
 */
function checkElement(kind: Kind, typecode: string, value: unknown, what: string): void {
  const expected = kind.bigint ? "bigint" : "number";
  if (typeof value !== expected) {
    throw new TypeError(`${what} of typecode '${typecode}' must be a ${expected}, got ${typeof value}`);
  }
  if (kind.atomic && !kind.bigint && !Number.isInteger(value)) {
    throw new TypeError(`${what} of integer typecode '${typecode}' must be an integer, got ${String(value)}`);
  }
}

/** An arriving block must hold what its object says it does; anything else is the wrong memory. */
function checkArrived(block: Block, bytes: number): void {
  if (bytes > block.size || block.offset + block.size > block.segment.size) {
    throw new Error(
      `a shared value or array arrived without its memory: ${bytes} bytes at offset ${block.offset} of a ${block.segment.size}-byte segment ` +
        "(was the segment freed by every process that held it before this one opened it?)",
    );
  }
}

function notInteger(typecode: string, method: string): TypeError {
  return new TypeError(`${method}() needs an integer typecode (b B h H i I l L q Q), not '${typecode}'`);
}

const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

function closedError(object: object): Error {
  return new Error(`this shared ${object instanceof RawArray ? "array" : "value"} is closed`);
}

function show(value: number | bigint): string {
  return typeof value === "bigint" ? `${value}n` : String(value);
}

/** One number or bigint in shared memory, without a lock (Python's RawValue). */
export class RawValue<C extends Typecode = Typecode> {
  readonly typecode: C;
  readonly #block: Block;
  readonly #view: AnyView;
  readonly #kind: Kind;

  constructor(typecode: C, init?: ElementOf<C>, options: Reopen = {}) {
    const kind = kindOf(typecode);
    this.typecode = typecode;
    this.#kind = kind;
    const reopened = options[onBlock];
    if (reopened) checkArrived(reopened.block, kind.size);
    else if (init !== undefined) checkElement(kind, typecode, init, "the initial value");
    this.#block = reopened?.block ?? allocate(kind.size, `creating a shared Value('${typecode}')`);
    this.#view = new kind.array(this.#block.segment.buffer, this.#block.offset, 1);
    if (!reopened && init !== undefined) this.value = init;
  }

  #closed = false;

  /**
   * This process is done with the value: reading or writing it then throws.
   * Its shared memory here goes at once when nothing else of this process
   * holds it (values share 64 KiB arenas; see heap.ts), else at garbage
   * collection. Other processes keep theirs. Idempotent.
   */
  close(): void {
    this.#closed = true;
    this.#block.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The value: one memory access, atomic for integer codes; does not take any lock. */
  get value(): ElementOf<C> {
    if (this.#closed) throw closedError(this);
    return (this.#kind.atomic ? atomics.load(this.#view, 0) : this.#view[0]) as ElementOf<C>;
  }

  set value(value: ElementOf<C>) {
    checkElement(this.#kind, this.typecode, value, "a value");
    if (this.#closed) throw closedError(this);
    if (this.#kind.atomic) atomics.store(this.#view, 0, value);
    else (this.#view as LooseView)[0] = value;
  }

  /** The integer-code check the atomic methods make of their arguments. */
  #integer(method: string, ...values: unknown[]): void {
    if (this.#closed) throw closedError(this);
    if (!this.#kind.atomic) throw notInteger(this.typecode, method);
    for (const value of values) checkElement(this.#kind, this.typecode, value, `the argument of ${method}()`);
  }

  /** Atomically add `n`; returns the value before (Atomics.add). Integer codes only. */
  add(this: RawValue<C & IntegerTypecode>, n: ElementOf<C>): ElementOf<C> {
    this.#integer("add", n);
    return atomics.add(this.#view, 0, n) as ElementOf<C>;
  }

  /** Atomically subtract `n`; returns the value before. Integer codes only. */
  sub(this: RawValue<C & IntegerTypecode>, n: ElementOf<C>): ElementOf<C> {
    this.#integer("sub", n);
    return atomics.sub(this.#view, 0, n) as ElementOf<C>;
  }

  /** Atomically store `value`; returns the value before. Integer codes only. */
  exchange(this: RawValue<C & IntegerTypecode>, value: ElementOf<C>): ElementOf<C> {
    this.#integer("exchange", value);
    return atomics.exchange(this.#view, 0, value) as ElementOf<C>;
  }

  /** Store `replacement` if the value is `expected`; returns the value before either way. Integer codes only. */
  compareExchange(this: RawValue<C & IntegerTypecode>, expected: ElementOf<C>, replacement: ElementOf<C>): ElementOf<C> {
    this.#integer("compareExchange", expected, replacement);
    return atomics.compareExchange(this.#view, 0, expected, replacement) as ElementOf<C>;
  }

  toJSON(): ElementOf<C> {
    return this.value;
  }

  toString(): string {
    return `${this.constructor === RawValue ? "RawValue" : "Value"}('${this.typecode}', ${show(this.value)})`;
  }

  [inspectCustom](): string {
    return this.toString();
  }

  [reduce](): Reduction {
    return rawValueTravel({ typecode: this.typecode, block: this.#block });
  }
}

/**
 * What `new Value(...)` makes (Python's Synchronized): a RawValue with a
 * lock. The lock is only for the caller's read-modify-write sequences;
 * `.value` itself never takes it.
 */
class Synchronized<C extends Typecode = Typecode> extends RawValue<C> {
  readonly #lock!: SharedLock;

  /** Whether the lock was made for this value (closed with it). */
  #ownLock = false;

  constructor(typecode: C, init?: ElementOf<C>, options: SharedOptions & Reopen = {}) {
    // Refuse a bad typecode or initial value before a lock is made for nothing.
    const kind = kindOf(typecode);
    if (init !== undefined) checkElement(kind, typecode, init, "the initial value");
    const lock = lockFrom(options.lock);
    // Python's Value(lock=False) is the raw object: no lock, no getLock.
    if (lock === null) return new RawValue(typecode, init, options) as Synchronized<C>;
    super(typecode, init, options);
    this.#lock = lock;
    this.#ownLock = madeFor(options);
  }

  /** As RawValue's; the lock goes too when it was made for this value. */
  override close(): void {
    super.close();
    if (this.#ownLock) this.#lock.close();
  }

  getLock(): SharedLock {
    return this.#lock;
  }

  acquire(options?: Wait): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  acquireSync(options?: Wait): boolean {
    return this.#lock.acquireSync(options);
  }

  release(): void {
    this.#lock.release();
  }

  /** `await using held = await value.hold()`: the lock, released at scope end. */
  hold(options?: Wait): Promise<LockGuard> {
    return this.#lock.hold(options);
  }

  override [reduce](): Reduction {
    return valueTravel({ ...(super[reduce]().state as ValueState), lock: this.#lock });
  }
}

export interface ValueConstructor {
  /** No lock: a RawValue, which has no getLock. */
  new <C extends Typecode>(typecode: C, init: ElementOf<C> | undefined, options: SharedOptions & { lock: false }): RawValue<C>;
  new <C extends Typecode>(typecode: C, init?: ElementOf<C>, options?: SharedOptions & { lock?: true | SharedLock }): Synchronized<C>;
  new <C extends Typecode>(typecode: C, init?: ElementOf<C>, options?: SharedOptions): Synchronized<C> | RawValue<C>;
  readonly prototype: Synchronized;
}

/**
 * A number or bigint in shared memory with a lock (Python's Value):
 * `new Value("i", 0)`, `new Value("q", 0n)`, `new Value("d", 1.5, { lock: myLock })`.
 * The type parameter is the typecode: `Value<"i">`.
 */
export type Value<C extends Typecode = Typecode> = Synchronized<C>;
export const Value = Synchronized as unknown as ValueConstructor;

/** A count of zeroed elements, or the initial elements (an array, typed array or any iterable). */
export type SizeOrValues<C extends Typecode> = number | ArrayLike<ElementOf<C>> | Iterable<ElementOf<C>>;

function initialValues(kind: Kind, typecode: string, values: unknown): ArrayLike<unknown> {
  if (values === null || typeof values !== "object") {
    throw new TypeError(`the size or initial values of a shared array must be a number or an array, got ${values === null ? "null" : typeof values}`);
  }
  if (ArrayBuffer.isView(values)) {
    if (values instanceof DataView) throw new TypeError("the initial values of a shared array cannot be a DataView");
    return values as unknown as ArrayLike<unknown>;
  }
  let list: ArrayLike<unknown>;
  if (Array.isArray(values)) list = values;
  else if (Symbol.iterator in values || "length" in values) list = Array.from(values as ArrayLike<unknown>);
  else throw new TypeError("the initial values of a shared array must be an array, a typed array or an iterable");
  for (let i = 0; i < list.length; i++) checkElement(kind, typecode, list[i], `element ${i}`);
  return list;
}

/** The code point of the first character when `prop` may be an array index: a digit or '-'. */
function indexLike(prop: string | symbol): boolean {
  if (typeof prop !== "string") return false;
  const c = prop.charCodeAt(0);
  return (c >= 48 && c <= 57) || (c === 45 && prop.length > 1);
}

/** The index `prop` names, or throws RangeError; undefined when it is not an integer at all. */
function indexIn(prop: string, length: number): number | undefined {
  const index = Number(prop);
  if (!Number.isInteger(index)) return undefined;
  if (index < 0 || index >= length) throw new RangeError(`shared array index ${prop} out of range (length ${length})`);
  return index;
}

/** Index access for RawArray and SharedArray; everything else goes to the object itself. */
const indexAccess: ProxyHandler<RawArray> = {
  get(target, prop, receiver) {
    if (indexLike(prop)) {
      if (target.closed) throw closedError(target);
      const index = indexIn(prop as string, target.length);
      if (index !== undefined) return target.atomic ? atomics.load(target.view, index) : target.view[index];
    }
    return Reflect.get(target, prop, receiver);
  },
  set(target, prop, value, receiver) {
    if (indexLike(prop)) {
      if (target.closed) throw closedError(target);
      const index = indexIn(prop as string, target.length);
      if (index !== undefined) {
        checkElement(KINDS[target.typecode], target.typecode, value, `element ${index}`);
        if (target.atomic) atomics.store(target.view, index, value as number | bigint);
        else (target.view as LooseView)[index] = value as number;
        return true;
      }
    }
    // A property the array does not have would live in this process only and never reach shared memory.
    if (!(prop in target)) {
      const shown = typeof prop === "string" ? JSON.stringify(prop) : String(prop);
      throw new TypeError(`a shared array index must be an integer from 0 to ${target.length - 1}, got ${shown}`);
    }
    return Reflect.set(target, prop, value, receiver);
  },
  has(target, prop) {
    if (indexLike(prop)) {
      const index = Number(prop);
      if (Number.isInteger(index)) return index >= 0 && index < target.length;
    }
    return Reflect.has(target, prop);
  },
  ownKeys(target) {
    const keys: Array<string | symbol> = [];
    for (let i = 0; i < target.length; i++) keys.push(String(i));
    return keys.concat(Reflect.ownKeys(target));
  },
  getOwnPropertyDescriptor(target, prop) {
    if (indexLike(prop)) {
      const index = Number(prop);
      if (Number.isInteger(index)) {
        if (index < 0 || index >= target.length) return undefined;
        return { value: indexAccess.get!(target, prop, target), writable: true, enumerable: true, configurable: true };
      }
    }
    return Reflect.getOwnPropertyDescriptor(target, prop);
  },
  defineProperty(target, prop, descriptor) {
    if (indexLike(prop) && Number.isInteger(Number(prop))) throw new TypeError("cannot define a property at an index of a shared array; assign the element instead");
    if (!(prop in target)) throw new TypeError(`cannot add property ${String(prop)} to a shared array: it would never reach shared memory`);
    return Reflect.defineProperty(target, prop, descriptor);
  },
  deleteProperty(target, prop) {
    if (indexLike(prop) && Number.isInteger(Number(prop))) throw new TypeError("cannot delete an element of a shared array");
    return Reflect.deleteProperty(target, prop);
  },
};

/**
 * A fixed-length array of numbers or bigints in shared memory, without a
 * lock (Python's RawArray). `arr[i]` reads and writes one element (atomic
 * for integer codes; out of range throws RangeError); `view` is the
 * zero-copy typed array over the same memory, the fast path.
 */
export class RawArray<C extends Typecode = Typecode> {
  readonly typecode: C;
  readonly length: number;
  /** The typed array over the shared elements: zero-copy, and the fast way to read and write them. */
  readonly view: ViewOf<C>;
  /** @internal For index access: whether elements go through Atomics. */
  declare readonly atomic: boolean;
  /** @internal */
  declare readonly block: Block;

  [index: number]: ElementOf<C>;

  constructor(typecode: C, sizeOrValues: SizeOrValues<C>, options: Reopen = {}) {
    const kind = kindOf(typecode);
    const reopened = options[onBlock];
    let values: ArrayLike<unknown> | undefined;
    let length: number;
    if (reopened) {
      length = reopened.length;
      checkArrived(reopened.block, length * kind.size);
    } else if (typeof sizeOrValues === "number") {
      if (!Number.isSafeInteger(sizeOrValues) || sizeOrValues < 0) throw new RangeError(`shared array size must be an integer >= 0, got ${sizeOrValues}`);
      length = sizeOrValues;
    } else {
      values = initialValues(kind, typecode, sizeOrValues);
      length = values.length;
    }
    const block = reopened?.block ?? allocate(length * kind.size, `creating a shared array of ${length} '${typecode}'`);
    this.typecode = typecode;
    this.length = length;
    this.view = new kind.array(block.segment.buffer, block.offset, length) as ViewOf<C>;
    // Internals stay out of Object.keys and spreads, which show the elements.
    Object.defineProperty(this, "atomic", { value: kind.atomic });
    Object.defineProperty(this, "block", { value: block });
    Object.defineProperty(this, "closed", { value: false, configurable: true });
    if (values) (this.view as { set(values: ArrayLike<unknown>): void }).set(values);
    return new Proxy(this, indexAccess as ProxyHandler<this>);
  }

  /** @internal Set by close(). */
  declare readonly closed: boolean;

  /**
   * This process is done with the array: index access then throws, and
   * `view` must not be used any more (it reads as empty once the memory is
   * gone). An array of more than 16 KiB has a segment of its own, whose
   * mapping and descriptor go at once; smaller ones share 64 KiB arenas (see
   * heap.ts), which go when nothing else of this process holds them, else at
   * garbage collection. Other processes keep theirs. Idempotent.
   */
  close(): void {
    Object.defineProperty(this, "closed", { value: true });
    this.block.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** A copy of the elements as a plain array. */
  toArray(): Array<ElementOf<C>> {
    return Array.from(this.view as unknown as ArrayLike<ElementOf<C>>);
  }

  [Symbol.iterator](): IterableIterator<ElementOf<C>> {
    return this.view.values() as IterableIterator<ElementOf<C>>;
  }

  toJSON(): Array<ElementOf<C>> {
    return this.toArray();
  }

  toString(): string {
    const shown = Array.from(this.view.subarray(0, 100) as ArrayLike<number | bigint>, show);
    if (this.length > 100) shown.push(`... ${this.length - 100} more`);
    return `${this instanceof SynchronizedArray ? "SharedArray" : "RawArray"}('${this.typecode}', [${shown.join(", ")}])`;
  }

  [inspectCustom](): string {
    return this.toString();
  }

  [reduce](): Reduction {
    return rawArrayTravel({ typecode: this.typecode, block: this.block, length: this.length });
  }
}

/** What `new SharedArray(...)` makes (Python's SynchronizedArray): a RawArray with a lock. */
class SynchronizedArray<C extends Typecode = Typecode> extends RawArray<C> {
  readonly #lock!: SharedLock;
  /** Whether the lock was made for this array (closed with it). */
  #ownLock = false;

  constructor(typecode: C, sizeOrValues: SizeOrValues<C>, options: SharedOptions & Reopen = {}) {
    kindOf(typecode);
    const lock = lockFrom(options.lock);
    if (lock === null) return new RawArray(typecode, sizeOrValues, options) as SynchronizedArray<C>;
    super(typecode, sizeOrValues, options);
    // `this` is the index proxy RawArray returned: the fields live on it, where methods find them.
    this.#lock = lock;
    this.#ownLock = madeFor(options);
  }

  /** As RawArray's; the lock goes too when it was made for this array. */
  override close(): void {
    super.close();
    if (this.#ownLock) this.#lock.close();
  }

  getLock(): SharedLock {
    return this.#lock;
  }

  acquire(options?: Wait): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  acquireSync(options?: Wait): boolean {
    return this.#lock.acquireSync(options);
  }

  release(): void {
    this.#lock.release();
  }

  hold(options?: Wait): Promise<LockGuard> {
    return this.#lock.hold(options);
  }

  override [reduce](): Reduction {
    return sharedArrayTravel({ ...(super[reduce]().state as ValueState), lock: this.#lock });
  }
}

export interface SharedArrayConstructor {
  /** No lock: a RawArray, which has no getLock. */
  new <C extends Typecode>(typecode: C, sizeOrValues: SizeOrValues<C>, options: SharedOptions & { lock: false }): RawArray<C>;
  new <C extends Typecode>(typecode: C, sizeOrValues: SizeOrValues<C>, options?: SharedOptions & { lock?: true | SharedLock }): SynchronizedArray<C>;
  new <C extends Typecode>(typecode: C, sizeOrValues: SizeOrValues<C>, options?: SharedOptions): SynchronizedArray<C> | RawArray<C>;
  readonly prototype: SynchronizedArray;
}

/**
 * A fixed-length shared array with a lock (Python's multiprocessing.Array,
 * also exported as `Array`): `new SharedArray("d", 1000)` (zeroed) or
 * `new SharedArray("i", [1, 2, 3])`. The type parameter is the typecode.
 */
export type SharedArray<C extends Typecode = Typecode> = SynchronizedArray<C>;
export const SharedArray = SynchronizedArray as unknown as SharedArrayConstructor;

export type { Synchronized, SynchronizedArray };

interface ValueState {
  typecode: Typecode;
  block: Block;
  length?: number;
  lock?: SharedLock;
}

const rawValueTravel = travelling("RawValue", import.meta.url, ({ typecode, block }: ValueState) => new RawValue(typecode, undefined, { [onBlock]: { block, length: 1 } }));
const valueTravel = travelling(
  "Value",
  import.meta.url,
  ({ typecode, block, lock }: ValueState) => new Synchronized(typecode, undefined, { lock, [onBlock]: { block, length: 1 } }),
);
const rawArrayTravel = travelling("RawArray", import.meta.url, ({ typecode, block, length }: ValueState) => new RawArray(typecode, 0, { [onBlock]: { block, length: length! } }));
const sharedArrayTravel = travelling(
  "SharedArray",
  import.meta.url,
  ({ typecode, block, length, lock }: ValueState) => new SynchronizedArray(typecode, 0, { lock, [onBlock]: { block, length: length! } }),
);
