/*
 * Locks, semaphores, conditions and events that work across processes and
 * threads (Python's synchronize.py). Each keeps a few 32-bit words in a
 * shared Block (heap.ts); the uncontended paths are one Atomics operation in
 * JavaScript, and only waiting goes to the kernel: futex wait/wake, blocking
 * for the *Sync forms, through the addon's waiter thread for the async forms
 * (the event loop never blocks).
 *
 * A lock word holds its owner's OS thread id, which is unique across
 * processes; a waiter that has slept PROBE_MS looks at /proc to see whether
 * the owner still lives, and takes over the lock of a dead one
 * (`ownerDied` then tells it to repair what the owner left half done).
 *
 * Talks to: heap.ts (shared words), reduction.ts (they travel by reference).
 */
import { native, TIMED_OUT } from "./native.ts";
import { allocate, Block, type Segment } from "./heap.ts";
import { reduce, travelling, type Reduction } from "./reduction.ts";
import { BrokenBarrierError, OwnerDiedError, TimeoutError, abortError, checkBoolean } from "./errors.ts";
import { parseWait, type ParsedWait, type Wait } from "./waiting.ts";
import { shared } from "./runtime.ts";
import { startTimeOf } from "./procfs.ts";

/** A wait option: ms, or `{ block, timeout, signal }`. */
/** @deprecated The one waiting type is `Wait`. */
export type Acquire = Wait;

const WAITERS = 1 << 30;
const OWNER = WAITERS - 1;
/** How long a waiter sleeps before it checks whether the lock's owner has died. */
export const PROBE_MS = 50;
const SPINS = 100;
const TRUE = Promise.resolve(true);
const FALSE = Promise.resolve(false);

const thisThread = shared("synchronize.thread", () => ({ tid: 0, start: 0 }));

/** This thread's OS id and start time (the pair identifies it even after its id is reused). */
export function me(): { tid: number; start: number } {
  if (thisThread.tid === 0) {
    thisThread.tid = native().threadId();
    thisThread.start = startTimeOf(thisThread.tid) ?? 0;
  }
  return thisThread;
}

export function deadlineOf(timeout: number | null): number {
  return timeout === null ? Infinity : performance.now() + Math.max(0, timeout);
}

export function remaining(deadline: number): number {
  return deadline === Infinity ? -1 : Math.max(0, deadline - performance.now());
}

/**
 * What a waiting algorithm pauses for: a futex word to change (timeout -1:
 * none), or a lock to take. Condition and Barrier write each wait once, as a
 * generator of pauses; runSync performs them blocking (the *Sync forms),
 * runAsync without blocking the event loop (an abort is thrown into the
 * generator, whose finally blocks then put things back).
 */
export type Pause =
  | {
      segment: Segment;
      index: number;
      expected: number;
      timeout: number;
      /** A count of sleepers the waiting side added itself to: decremented as soon as the wait ends (Segment.waitAsync). */
      settles?: number;
    }
  | { lock: { acquire(): Promise<boolean>; acquireSync(): boolean } };
export type Steps<T> = Generator<Pause, T, unknown>;

export function runSync<T>(steps: Steps<T>): T {
  let next = steps.next();
  while (!next.done) {
    const pause = next.value;
    next = steps.next("lock" in pause ? pause.lock.acquireSync() : pause.segment.wait(pause.index, pause.expected, pause.timeout, pause.settles));
  }
  return next.value;
}

export async function runAsync<T>(steps: Steps<T>, signal?: AbortSignal): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    const pause = next.value;
    let result: unknown;
    try {
      result = await ("lock" in pause ? pause.lock.acquire() : pause.segment.waitAsync(pause.index, pause.expected, pause.timeout, signal, pause.settles));
    } catch (err) {
      next = steps.throw(err);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

/** Condition's waitFor as steps, for Barrier (not public). */
const waitForSteps = Symbol("waitForSteps");

/**
 * The mutex protocol shared by Lock, RLock and Condition: word 0 is the owner
 * thread id (0 when free) plus a WAITERS bit, word 1 the owner's start time.
 */
export class Mutex {
  readonly words: Int32Array;
  readonly state: number;
  readonly ownerStart: number;

  constructor(readonly block: Block) {
    this.words = block.segment.int32;
    this.state = block.word(0);
    this.ownerStart = block.word(1);
  }

  tryAcquire(): boolean {
    const self = me();
    if (Atomics.compareExchange(this.words, this.state, 0, self.tid) !== 0) return false;
    Atomics.store(this.words, this.ownerStart, self.start);
    return true;
  }

  owner(): number {
    return Atomics.load(this.words, this.state) & OWNER;
  }

  /**
   * One step of a contended acquire: take the lock if free, else mark that
   * there are waiters. Returns "taken", "stolen" (from a dead owner) or the
   * word value to sleep on.
   */
  contend(probe: boolean): "taken" | "stolen" | number {
    const self = me();
    for (;;) {
      const value = Atomics.load(this.words, this.state);
      if (value === 0) {
        if (Atomics.compareExchange(this.words, this.state, 0, self.tid | WAITERS) === 0) {
          Atomics.store(this.words, this.ownerStart, self.start);
          return "taken";
        }
        continue;
      }
      if (probe && !this.#ownerAlive(value & OWNER)) {
        if (Atomics.compareExchange(this.words, this.state, value, self.tid | WAITERS) === value) {
          Atomics.store(this.words, this.ownerStart, self.start);
          return "stolen";
        }
        continue;
      }
      if (value & WAITERS) return value;
      if (Atomics.compareExchange(this.words, this.state, value, value | WAITERS) === value) return value | WAITERS;
    }
  }

  /** An owner whose thread exists under another start time, as last seen: dead if seen so again at the next probe. */
  #suspect: { tid: number; start: number } | null = null;

  #ownerAlive(tid: number): boolean {
    const started = startTimeOf(tid);
    if (started === undefined) return false;
    const recorded = Atomics.load(this.words, this.ownerStart);
    if (started === recorded) return true;
    // Either the owner died and its thread id was reused, or a live owner
    // took the lock and has not yet stored its start time (the two words
    // cannot be written at once; a busy machine can preempt it in between).
    // Only the first stays so until the next probe.
    const suspect = this.#suspect;
    if (suspect !== null && suspect.tid === tid && suspect.start === recorded) return false;
    this.#suspect = { tid, start: recorded };
    return true;
  }

  *acquireSteps(timeout: number | null): Steps<"taken" | "stolen" | false> {
    const deadline = deadlineOf(timeout);
    let probe = false;
    for (;;) {
      const step = this.contend(probe);
      if (step === "taken" || step === "stolen") return step;
      const left = remaining(deadline);
      if (left === 0) return false;
      const slept = yield { segment: this.block.segment, index: this.state, expected: step, timeout: left < 0 ? PROBE_MS : Math.min(left, PROBE_MS) };
      probe = slept === TIMED_OUT;
    }
  }

  /** tryAcquire, retried while the lock looks free within `spins` looks: a holder about to let go costs less than a sleep. */
  tryAcquireSpinning(spins = SPINS): boolean {
    if (this.tryAcquire()) return true;
    for (let i = 0; i < spins; i++) if (Atomics.load(this.words, this.state) === 0 && this.tryAcquire()) return true;
    return false;
  }

  acquireSync(timeout: number | null): "taken" | "stolen" | false {
    return this.tryAcquireSpinning() ? "taken" : runSync(this.acquireSteps(timeout));
  }

  acquireAsync(timeout: number | null, signal?: AbortSignal): Promise<"taken" | "stolen" | false> {
    return runAsync(this.acquireSteps(timeout), signal);
  }

  /** Give the lock up (whoever holds it: a plain Lock may be released by any process, as in Python). */
  release(): void {
    const value = Atomics.exchange(this.words, this.state, 0);
    if (value === 0) {
      throw new RangeError("semaphore or lock released too many times");
    }
    if (value & WAITERS) this.block.segment.wake(this.state, 1);
  }
}

/** What hold() resolves with: releases at the end of an `await using` (or `using`) scope. */
export interface LockGuard extends AsyncDisposable, Disposable {
  /** The previous holder died while holding the lock: repair what it left half done. */
  readonly ownerDied: boolean;
  release(): void;
}

/**
 * Internal constructor options: re-open an object that arrived from another
 * process on its block; `owning`: the lock or condition that arrived with it
 * is its own copy, closed with it.
 */
const onBlock = Symbol("multiproc.onBlock");
const owning = Symbol("multiproc.owning");
type Reopen = { [onBlock]?: Block; [owning]?: boolean };

/**
 * close() and `using`, for every primitive (issue 12). After close() this
 * process's calls throw, and its waits still pending end as an abort would
 * (their cleanup puts the shared words back), rejecting with the same error;
 * the object's memory, and what it made for itself, go once they have.
 */
abstract class Closable {
  #closed = false;
  /** The pending async waits, each aborted by close(). */
  readonly #waits = new Set<AbortController>();

  /** Where the object's words live. */
  protected abstract block(): Block;

  /** @internal What it made for itself and closes with it (a Condition's RLock, a Barrier's Condition). */
  protected owned(): Closable | undefined {
    return undefined;
  }

  /**
   * This process is done with the object: using it then throws, and a wait
   * of it still pending here rejects. Its shared memory here goes at once
   * when nothing else of this process holds it (small objects share 64 KiB
   * arenas; see heap.ts), else at garbage collection. Other processes keep
   * theirs. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wait of this.#waits) wait.abort(this.#closedError());
    if (this.#waits.size === 0) this.#free();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #free(): void {
    this.block().close();
    this.owned()?.close();
  }

  #closedError(): Error {
    return new Error(`this ${this.constructor.name} is closed`);
  }

  protected checkOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  /**
   * @internal Run an async wait of this object, which close() ends. Once closed,
   * `giveBack` returns what the wait took all the same (it completed as
   * close() was called, or took a lock back while it ended; undefined when it
   * failed): a closed object could not give it back later.
   */
  protected async waiting<T>(steps: Steps<T>, signal: AbortSignal | undefined, giveBack?: (result: T | undefined) => void): Promise<T> {
    // A controller per wait rather than AbortSignal.any, whose signals stay linked to a long-lived source.
    const wait = new AbortController();
    const forward = () => wait.abort(abortError(signal!));
    if (signal?.aborted) forward();
    else signal?.addEventListener("abort", forward, { once: true });
    this.#waits.add(wait);
    try {
      const result = await runAsync(steps, wait.signal).catch((err: unknown) => {
        if (!this.#closed) throw err;
        return undefined;
      });
      if (!this.#closed) return result as T;
      giveBack?.(result);
      throw this.#closedError();
    } finally {
      signal?.removeEventListener("abort", forward);
      this.#waits.delete(wait);
      if (this.#closed && this.#waits.size === 0) this.#free();
    }
  }
}

/** What Lock, RLock and the semaphores share: acquire/release in both forms, and hold(). */
abstract class Acquirable extends Closable {
  /** True from taking over from a holder that died until the next release. */
  ownerDied = false;

  abstract acquire(options?: Wait): Promise<boolean>;
  abstract acquireSync(options?: Wait): boolean;
  abstract release(): void;

  /** @internal The contended acquire of Lock and RLock. */
  protected acquireMutex(mutex: Mutex, timeout: number | null, signal?: AbortSignal): Promise<"taken" | "stolen" | false> {
    return this.waiting(mutex.acquireSteps(timeout), signal, (step) => {
      if (step) mutex.release();
    });
  }

  /** Acquire, and get a guard that releases: `await using held = await lock.hold()`. Throws TimeoutError on timeout. */
  async hold(options?: Wait): Promise<LockGuard> {
    if (!(await this.acquire(options))) throw new TimeoutError("could not acquire before the timeout");
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.release();
    };
    return { ownerDied: this.ownerDied, release, [Symbol.dispose]: release, [Symbol.asyncDispose]: async () => release() };
  }
}

export interface LockOptions {
  /** Throw OwnerDiedError (holding the lock) when taking it over from a holder that died. */
  strict?: boolean;
}

/** A mutual-exclusion lock shared by processes and threads (Python's multiprocessing.Lock). */
export class Lock extends Acquirable {
  readonly #mutex: Mutex;
  readonly #strict: boolean;

  constructor(options: LockOptions = {}) {
    super();
    checkBoolean(options.strict, "strict");
    this.#mutex = new Mutex((options as Reopen)[onBlock] ?? allocate(8));
    this.#strict = options.strict ?? false;
  }

  acquire(options?: Wait): Promise<boolean> {
    // The options are checked even when the lock is free: a bad argument fails every time, not only under contention.
    const { block, timeout, signal } = parseWait(options);
    this.checkOpen();
    if (this.#mutex.tryAcquire()) return TRUE;
    if (!block) return FALSE;
    return this.acquireMutex(this.#mutex, timeout, signal).then((step) => this.#took(step));
  }

  acquireSync(options?: Wait): boolean {
    const { block, timeout } = parseWait(options);
    this.checkOpen();
    if (this.#mutex.tryAcquire()) return true;
    if (!block) return false;
    return this.#took(this.#mutex.acquireSync(timeout));
  }

  #took(step: "taken" | "stolen" | false): boolean {
    if (step === false) return false;
    this.ownerDied = step === "stolen";
    if (this.ownerDied && this.#strict) throw new OwnerDiedError("the previous holder of this lock died while holding it; you hold it now");
    return true;
  }

  /** Any process may release a Lock, as in Python; releasing an unlocked one throws. */
  release(): void {
    this.checkOpen();
    this.ownerDied = false;
    this.#mutex.release();
  }

  /** Whether some process or thread holds it. */
  locked(): boolean {
    this.checkOpen();
    return this.#mutex.owner() !== 0;
  }

  override toString(): string {
    this.checkOpen();
    return `<Lock(owner=${ownerName(this.#mutex.owner())})>`;
  }

  protected block(): Block {
    return this.#mutex.block;
  }

  [reduce](): Reduction {
    this.checkOpen();
    return lockTravel({ block: this.#mutex.block, strict: this.#strict });
  }
}

/** A lock its holder may take again; owned by one thread of one process (Python's RLock). */
export class RLock extends Acquirable {
  readonly #mutex: Mutex;
  /** Word 2 of the mutex block: how many times the owner holds it. */
  readonly #count: number;

  constructor(options: Reopen = {}) {
    super();
    this.#mutex = new Mutex(options[onBlock] ?? allocate(12));
    this.#count = this.#mutex.block.word(2);
  }

  #mine(): boolean {
    this.checkOpen();
    return this.#mutex.owner() === me().tid;
  }

  #enter(step: "taken" | "stolen" | false): boolean {
    if (step === false) return false;
    this.ownerDied = step === "stolen";
    Atomics.store(this.#mutex.words, this.#count, 1);
    return true;
  }

  acquire(options?: Wait): Promise<boolean> {
    const wait = parseWait(options);
    return this.#mine() || this.#mutex.tryAcquire() ? this.#again() : this.#acquireAsync(wait);
  }

  async #acquireAsync({ block, timeout, signal }: ParsedWait): Promise<boolean> {
    if (!block) return false;
    return this.#enter(await this.acquireMutex(this.#mutex, timeout, signal));
  }

  /** Taken just now by tryAcquire (count 0 → 1) or held already (count + 1). Only the owner touches the count. */
  #again(): Promise<boolean> {
    this.#mutex.words[this.#count]! += 1;
    return TRUE;
  }

  acquireSync(options?: Wait): boolean {
    const { block, timeout } = parseWait(options);
    if (this.#mine() || this.#mutex.tryAcquire()) {
      this.#mutex.words[this.#count]! += 1;
      return true;
    }
    if (!block) return false;
    return this.#enter(this.#mutex.acquireSync(timeout));
  }

  release(): void {
    if (!this.#mine()) throw new Error("attempt to release recursive lock not owned by thread");
    if (this.#mutex.words[this.#count]!-- === 1) {
      this.ownerDied = false;
      this.#mutex.release();
    }
  }

  /** How many times the calling thread holds it (0 if another thread does). */
  count(): number {
    return this.#mine() ? Atomics.load(this.#mutex.words, this.#count) : 0;
  }

  locked(): boolean {
    this.checkOpen();
    return this.#mutex.owner() !== 0;
  }

  /** For Condition: give the lock up entirely, remembering the depth. */
  releaseAll(): number {
    const depth = this.count();
    if (depth === 0) throw new Error("cannot wait on un-acquired lock");
    Atomics.store(this.#mutex.words, this.#count, 1);
    this.release();
    return depth;
  }

  restore(depth: number): void {
    Atomics.store(this.#mutex.words, this.#count, depth);
  }

  override toString(): string {
    this.checkOpen();
    return `<RLock(${ownerName(this.#mutex.owner())}, ${Atomics.load(this.#mutex.words, this.#count)})>`;
  }

  protected block(): Block {
    return this.#mutex.block;
  }

  [reduce](): Reduction {
    this.checkOpen();
    return rlockTravel({ block: this.#mutex.block });
  }
}

function ownerName(tid: number): string {
  if (tid === 0) return "None";
  return tid === me().tid ? "this thread" : `thread ${tid}`;
}

/**
 * A counter that acquire() decrements, waiting while it is 0 (Python's
 * Semaphore). Word 0 is the value, word 1 the number of sleepers, word 2 the
 * bound (0: none).
 */
export class Semaphore extends Acquirable {
  readonly #block: Block;
  readonly #words: Int32Array;
  readonly #value: number;
  readonly #sleepers: number;
  readonly #bound: number;

  constructor(value = 1, options: Reopen = {}) {
    super();
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw new RangeError("semaphore initial value must be an integer >= 0");
    const reopened = options[onBlock];
    this.#block = reopened ?? allocate(12);
    this.#words = this.#block.segment.int32;
    this.#value = this.#block.word(0);
    this.#sleepers = this.#block.word(1);
    this.#bound = this.#block.word(2);
    if (!reopened) Atomics.store(this.#words, this.#value, value);
  }

  protected setBound(bound: number): void {
    Atomics.store(this.#words, this.#bound, bound);
  }

  #tryTake(): boolean {
    for (let value = Atomics.load(this.#words, this.#value); value > 0; value = Atomics.load(this.#words, this.#value)) {
      if (Atomics.compareExchange(this.#words, this.#value, value, value - 1) === value) return true;
    }
    return false;
  }

  *#acquireSteps(deadline: number): Steps<boolean> {
    Atomics.add(this.#words, this.#sleepers, 1);
    try {
      for (;;) {
        if (this.#tryTake()) return true;
        const left = remaining(deadline);
        if (left === 0) return false;
        yield { segment: this.#block.segment, index: this.#value, expected: 0, timeout: left };
      }
    } finally {
      Atomics.sub(this.#words, this.#sleepers, 1);
    }
  }

  acquire(options?: Wait): Promise<boolean> {
    const { block, timeout, signal } = parseWait(options);
    this.checkOpen();
    if (this.#tryTake()) return TRUE;
    if (!block) return FALSE;
    return this.waiting(this.#acquireSteps(deadlineOf(timeout)), signal, (took) => {
      if (took) this.#add(1);
    });
  }

  acquireSync(options?: Wait): boolean {
    const { block, timeout } = parseWait(options);
    this.checkOpen();
    if (this.#tryTake()) return true;
    if (!block) return false;
    return runSync(this.#acquireSteps(deadlineOf(timeout)));
  }

  release(n = 1): void {
    this.checkOpen();
    this.#add(n);
  }

  #add(n: number): void {
    const bound = Atomics.load(this.#words, this.#bound);
    for (;;) {
      const value = Atomics.load(this.#words, this.#value);
      if (bound > 0 && value + n > bound) throw new RangeError("semaphore or lock released too many times");
      if (Atomics.compareExchange(this.#words, this.#value, value, value + n) === value) break;
    }
    if (Atomics.load(this.#words, this.#sleepers) > 0) this.#block.segment.wake(this.#value, n);
  }

  /** The current value (Python's get_value()). */
  getValue(): number {
    this.checkOpen();
    return Atomics.load(this.#words, this.#value);
  }

  override toString(): string {
    this.checkOpen();
    const bound = Atomics.load(this.#words, this.#bound);
    return bound > 0 ? `<BoundedSemaphore(value=${this.getValue()}, maxvalue=${bound})>` : `<Semaphore(value=${this.getValue()})>`;
  }

  protected block(): Block {
    return this.#block;
  }

  [reduce](): Reduction {
    this.checkOpen();
    return (this instanceof BoundedSemaphore ? boundedSemaphoreTravel : semaphoreTravel)({ block: this.#block });
  }
}

/** A semaphore that refuses to be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  constructor(value = 1, options: Reopen = {}) {
    super(value, options);
    if (!options[onBlock]) this.setBound(value);
  }

}

/** A flag processes can wait for (Python's Event). Word 0 is the flag, word 1 the number of sleepers. */
export class Event extends Closable {
  readonly #block: Block;
  readonly #words: Int32Array;
  readonly #flag: number;

  constructor(options: Reopen = {}) {
    super();
    this.#block = options[onBlock] ?? allocate(8);
    this.#words = this.#block.segment.int32;
    this.#flag = this.#block.word(0);
  }

  isSet(): boolean {
    this.checkOpen();
    return Atomics.load(this.#words, this.#flag) === 1;
  }

  set(): void {
    this.checkOpen();
    if (Atomics.exchange(this.#words, this.#flag, 1) === 0) this.#block.segment.wake(this.#flag, 0x7fffffff);
  }

  clear(): void {
    this.checkOpen();
    Atomics.store(this.#words, this.#flag, 0);
  }

  *#waitSteps(deadline: number): Steps<boolean> {
    while (!this.isSet()) {
      const left = remaining(deadline);
      if (left === 0) return false;
      yield { segment: this.#block.segment, index: this.#flag, expected: 0, timeout: left };
    }
    return true;
  }

  /** Resolves true once the flag is set, false if `timeout` ms pass first. */
  wait(options?: Wait): Promise<boolean> {
    const { timeout, signal } = parseWait(options);
    if (this.isSet()) return TRUE;
    return this.waiting(this.#waitSteps(deadlineOf(timeout)), signal);
  }

  waitSync(options?: Wait): boolean {
    return runSync(this.#waitSteps(deadlineOf(parseWait(options).timeout)));
  }

  override toString(): string {
    return `<Event ${this.isSet() ? "set" : "unset"}>`;
  }

  protected block(): Block {
    return this.#block;
  }

  [reduce](): Reduction {
    this.checkOpen();
    return eventTravel({ block: this.#block });
  }
}

/**
 * A condition variable over a lock (an RLock by default), as Python's
 * Condition: wait() releases the lock, sleeps until notified, and takes it
 * back. Its own block holds [sequence, waiters, signals]: notify(n) turns up
 * to n registered waiters into signals and bumps the sequence (the futex
 * word); a waiter that wakes takes a signal, or goes back to sleep. Waiters
 * and signals only change with the lock held, so notify(n) never wakes more
 * than n, however the wakes and timeouts interleave. close() closes the
 * RLock it made too, never a lock it was given; a wait it ends lets go of
 * the lock it took back.
 */
export class Condition extends Closable {
  readonly #lock: RLock | Lock;
  /** The lock, when it made it (or it arrived as the copy of one it made): closed with it; a lock given is the giver's. */
  readonly #ownLock: RLock | Lock | undefined;
  readonly #block: Block;
  readonly #words: Int32Array;
  readonly #seq: number;
  readonly #waiters: number;
  readonly #signals: number;

  constructor(lock?: RLock | Lock, options: Reopen = {}) {
    super();
    this.#lock = lock ?? new RLock();
    this.#ownLock = lock === undefined || options[owning] ? this.#lock : undefined;
    this.#block = options[onBlock] ?? allocate(12);
    this.#words = this.#block.segment.int32;
    this.#seq = this.#block.word(0);
    this.#waiters = this.#block.word(1);
    this.#signals = this.#block.word(2);
  }

  /** The lock, once the condition is known to be open. */
  #open(): RLock | Lock {
    this.checkOpen();
    return this.#lock;
  }

  acquire(options?: Wait): Promise<boolean> {
    return this.#open().acquire(options);
  }

  acquireSync(options?: Wait): boolean {
    return this.#open().acquireSync(options);
  }

  release(): void {
    this.#open().release();
  }

  hold(options?: Wait): Promise<LockGuard> {
    return this.#open().hold(options);
  }

  #letGo(): number {
    if (this.#lock instanceof RLock) return this.#lock.releaseAll();
    this.#lock.release();
    return 1;
  }

  #takeBack(depth: number): void {
    if (this.#lock instanceof RLock) this.#lock.restore(depth);
  }

  /** As Python's: a plain Lock counts as ours when it is held at all. */
  #held(): boolean {
    return this.#lock instanceof RLock ? this.#lock.count() > 0 : this.#lock.locked();
  }

  #checkHeld(what: string): void {
    if (!this.#held()) throw new Error(`cannot ${what} on un-acquired lock`);
  }

  /** What a wait ended by close() gives back: the lock it took back. */
  #giveBack(): void {
    if (this.#held()) this.#letGo();
  }

  /** With the lock held again after a wake: true if this waiter takes a signal. */
  #takeSignal(): boolean {
    const signals = Atomics.load(this.#words, this.#signals);
    if (signals === 0) return false;
    Atomics.store(this.#words, this.#signals, signals - 1);
    return true;
  }

  #giveUp(): void {
    Atomics.sub(this.#words, this.#waiters, 1);
  }

  /** The wait, written once: runSync and runAsync perform the waits it yields. */
  *#waitSteps(deadline: number): Steps<boolean> {
    this.#checkHeld("wait");
    Atomics.add(this.#words, this.#waiters, 1);
    for (;;) {
      const seq = Atomics.load(this.#words, this.#seq);
      const depth = this.#letGo();
      let aborted: unknown;
      try {
        yield { segment: this.#block.segment, index: this.#seq, expected: seq, timeout: remaining(deadline) };
      } catch (err) {
        aborted = err;
      }
      yield { lock: this.#lock };
      this.#takeBack(depth);
      if (this.#takeSignal()) return true;
      if (aborted !== undefined || remaining(deadline) === 0) {
        this.#giveUp();
        if (aborted !== undefined) throw aborted;
        return false;
      }
    }
  }

  /** For Barrier: waitFor, as steps. */
  *[waitForSteps]<T>(predicate: () => T, deadline: number): Steps<T> {
    let result = predicate();
    while (!result && remaining(deadline) !== 0) {
      yield* this.#waitSteps(deadline);
      result = predicate();
    }
    return result;
  }

  /** Release the lock, wait for notify() (or the timeout), re-acquire. Resolves false on timeout. */
  wait(options?: Wait): Promise<boolean> {
    const { timeout, signal } = parseWait(options);
    this.checkOpen();
    return this.waiting(this.#waitSteps(deadlineOf(timeout)), signal, () => this.#giveBack());
  }

  waitSync(options?: Wait): boolean {
    this.checkOpen();
    return runSync(this.#waitSteps(deadlineOf(parseWait(options).timeout)));
  }

  /** Wait until `predicate()` is true (checked with the lock held); resolves with its last value. */
  waitFor<T>(predicate: () => T, options?: Wait): Promise<T> {
    const { timeout, signal } = parseWait(options);
    this.checkOpen();
    return this.waiting(this[waitForSteps](predicate, deadlineOf(timeout)), signal, () => this.#giveBack());
  }

  waitForSync<T>(predicate: () => T, options?: Wait): T {
    this.checkOpen();
    return runSync(this[waitForSteps](predicate, deadlineOf(parseWait(options).timeout)));
  }

  /** Wake up to `n` of the waiters (the lock must be held). */
  notify(n = 1): void {
    this.checkOpen();
    this.#checkHeld("notify");
    const waiting = Atomics.load(this.#words, this.#waiters);
    const woken = Math.min(n, waiting);
    if (woken <= 0) return;
    Atomics.store(this.#words, this.#waiters, waiting - woken);
    Atomics.add(this.#words, this.#signals, woken);
    Atomics.add(this.#words, this.#seq, 1);
    this.#block.segment.wake(this.#seq, woken);
  }

  notifyAll(): void {
    this.notify(0x7fffffff);
  }

  protected block(): Block {
    return this.#block;
  }

  protected override owned(): Closable | undefined {
    return this.#ownLock;
  }

  [reduce](): Reduction {
    this.checkOpen();
    return conditionTravel({ block: this.#block, lock: this.#lock, owning: this.#ownLock !== undefined });
  }
}

/** Barrier states, as threading.Barrier's. */
const FILLING = 0;
const DRAINING = 1;
const RESETTING = -1;
const BROKEN = -2;

type BarrierAction = () => unknown;

/**
 * `parties` processes meet, then all go on (Python's Barrier, its state in
 * shared words: [state, count] guarded by a Condition). wait() resolves with
 * a distinct arrival index; the last to arrive runs `action` first.
 * close() closes the Condition and Lock it made too; a party waiting at it
 * in this process leaves, as an aborted wait does.
 */
export class Barrier extends Closable {
  readonly parties: number;
  readonly #action: BarrierAction | undefined;
  readonly #timeout: number | null;
  readonly #cond: Condition;
  /** The condition, when it made it (or it arrived as the copy of one it made): closed with it. */
  readonly #ownCond: Condition | undefined;
  readonly #block: Block;
  readonly #words: Int32Array;

  constructor(parties: number, action?: BarrierAction | null, timeout?: number | null, options: Reopen & { cond?: Condition } = {}) {
    if (!Number.isInteger(parties) || parties < 1) throw new RangeError("parties must be an integer >= 1");
    super();
    this.parties = parties;
    this.#action = action ?? undefined;
    this.#timeout = timeout ?? null;
    this.#cond = options.cond ?? new Condition(new Lock(), { [owning]: true });
    this.#ownCond = options.cond === undefined || options[owning] ? this.#cond : undefined;
    this.#block = options[onBlock] ?? allocate(8);
    this.#words = this.#block.segment.int32;
  }

  get #state(): number {
    return Atomics.load(this.#words, this.#block.word(0));
  }

  set #state(value: number) {
    Atomics.store(this.#words, this.#block.word(0), value);
  }

  get #count(): number {
    return Atomics.load(this.#words, this.#block.word(1));
  }

  set #count(value: number) {
    Atomics.store(this.#words, this.#block.word(1), value);
  }

  /** Number of parties waiting now. */
  get nWaiting(): number {
    this.checkOpen();
    return this.#state === FILLING ? this.#count : 0;
  }

  get broken(): boolean {
    this.checkOpen();
    return this.#state === BROKEN;
  }

  *#waitSteps(deadline: number): Steps<number> {
    yield { lock: this.#cond };
    try {
      yield* this.#cond[waitForSteps](() => this.#state !== DRAINING && this.#state !== RESETTING, Infinity);
      if (this.#state === BROKEN) throw new BrokenBarrierError();
      const index = this.#count;
      this.#count = index + 1;
      try {
        if (index + 1 === this.parties) {
          this.#release();
        } else {
          const passed = yield* this.#cond[waitForSteps](() => this.#state !== FILLING, deadline);
          if (!passed) this.#break();
          if (this.#state < 0) throw new BrokenBarrierError();
        }
        return index;
      } finally {
        this.#exit();
      }
    } finally {
      this.#cond.release();
    }
  }

  /** Resolves with this party's arrival index (0 .. parties-1) once all have arrived; BrokenBarrierError if aborted, reset or timed out. */
  wait(options?: Wait): Promise<number> {
    const { timeout, signal } = parseWait(options);
    this.checkOpen();
    return this.waiting(this.#waitSteps(deadlineOf(timeout ?? this.#timeout)), signal);
  }

  /** The blocking form of wait(), for code that may block. */
  waitSync(options?: Wait): number {
    this.checkOpen();
    return runSync(this.#waitSteps(deadlineOf(parseWait(options).timeout ?? this.#timeout)));
  }

  /** Last to arrive: run the action, then let everyone go. */
  #release(): void {
    try {
      this.#action?.();
      this.#state = DRAINING;
      this.#cond.notifyAll();
    } catch (err) {
      this.#break();
      throw err;
    }
  }

  #break(): void {
    this.#state = BROKEN;
    this.#cond.notifyAll();
  }

  #exit(): void {
    this.#count = this.#count - 1;
    if (this.#count === 0 && (this.#state === RESETTING || this.#state === DRAINING)) {
      this.#state = FILLING;
      this.#cond.notifyAll();
    }
  }

  /** Put the barrier back to its initial state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.checkOpen();
    this.#cond.acquireSync();
    try {
      if (this.#count > 0) {
        if (this.#state === FILLING) this.#state = RESETTING;
        else if (this.#state === BROKEN) this.#state = RESETTING;
      } else {
        this.#state = FILLING;
      }
      this.#cond.notifyAll();
    } finally {
      this.#cond.release();
    }
  }

  /** Break the barrier: waiting and future wait() calls get BrokenBarrierError until reset(). */
  abort(): void {
    this.checkOpen();
    this.#cond.acquireSync();
    try {
      this.#break();
    } finally {
      this.#cond.release();
    }
  }

  protected block(): Block {
    return this.#block;
  }

  protected override owned(): Closable | undefined {
    return this.#ownCond;
  }

  [reduce](): Reduction {
    this.checkOpen();
    return barrierTravel({ parties: this.parties, action: this.#action, timeout: this.#timeout, cond: this.#cond, block: this.#block, owning: this.#ownCond !== undefined });
  }
}

interface OnBlock {
  block: Block;
}
const lockTravel = travelling("Lock", import.meta.url, ({ block, strict }: OnBlock & { strict: boolean }) => new Lock({ strict, [onBlock]: block } as LockOptions));
const rlockTravel = travelling("RLock", import.meta.url, ({ block }: OnBlock) => new RLock({ [onBlock]: block }));
const semaphoreTravel = travelling("Semaphore", import.meta.url, ({ block }: OnBlock) => new Semaphore(0, { [onBlock]: block }));
const boundedSemaphoreTravel = travelling("BoundedSemaphore", import.meta.url, ({ block }: OnBlock) => new BoundedSemaphore(0, { [onBlock]: block }));
const eventTravel = travelling("Event", import.meta.url, ({ block }: OnBlock) => new Event({ [onBlock]: block }));
const barrierTravel = travelling(
  "Barrier",
  import.meta.url,
  ({ parties, action, timeout, cond, block, owning: owns }: OnBlock & { parties: number; action?: BarrierAction; timeout: number | null; cond: Condition; owning: boolean }) =>
    new Barrier(parties, action, timeout, { cond, [onBlock]: block, [owning]: owns }),
);
const conditionTravel = travelling(
  "Condition",
  import.meta.url,
  ({ block, lock, owning: owns }: OnBlock & { lock: RLock | Lock; owning: boolean }) => new Condition(lock, { [onBlock]: block, [owning]: owns }),
);
