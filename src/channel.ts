/*
 * A channel: the shared-memory message ring that queues and pipes are made
 * of. Any number of processes and threads write and read it; it lives in
 * one memfd segment (heap.ts) that every process holding the channel keeps
 * open, so what a process wrote stays readable after it exits, and the
 * kernel frees it all when the last holder is gone.
 *
 * Writers and readers have a lock each (as Python's Queue has _wlock and
 * _rlock), so one side copies a message in while the other copies one out.
 * Between the two sides the ring is a single-producer single-consumer ring:
 * the writer holding the write lock owns `tail`, the reader holding the
 * read lock owns `head`, and each publishes its move with one store.
 *
 * Why a process killed at any instant loses at most its own message: a
 * writer copies its record past `tail` and only then moves `tail`; a reader
 * copies a record out and only then moves `head`. Before its move, each
 * stores where it is going (the TARGET words), so that whoever takes over
 * the lock of a dead holder (synchronize.ts hands it on) can finish its
 * bookkeeping: one idempotent store of the count it had not yet written.
 *
 * Why a put never blocks: the ring grows. Every process maps the channel's
 * largest size once (address space only: the file is much smaller), so its
 * pages stay mapped while the file grows; it sees them through a window the
 * size of the ring, renewed as the ring grows (V8 would count a 2 GiB buffer
 * as memory and collect garbage at once). A writer short of room extends
 * the file (segmentGrow reserves the pages, so a full machine is an error
 * rather than a SIGBUS), moves the wrapped part of the ring into the new
 * space and flips to a new (head, tail, capacity) slot: one store again. A
 * large ring that drains gives its pages back by punching holes: the file
 * never shrinks, so no part of the ring ever lies past its end (touching
 * the mapping there would be a SIGBUS). The cost is 2 GiB of address space
 * per channel in each process that holds it (a problem only under a tight
 * `ulimit -v`).
 *
 * Waiting: readers sleep on PUT_SEQ, bounded writers on GET_SEQ, joiners on
 * DONE (futex words in the header); a waker makes the system call only when
 * someone sleeps. Sleeps are capped at PROBE so that a waker killed between
 * its change and its wake delays a sleeper, never strands it.
 *
 * Pipe ends also register who holds them (thread id + start time), so that
 * a reader learns of the end of the stream when every writer has closed or
 * died, and a writer learns that nobody can read any more.
 *
 * Talks to: heap.ts (segment), synchronize.ts (mutex, wait runners),
 * procfs.ts (liveness); queues.ts and connection.ts build on it.
 */
import { Block, Segment } from "./heap.ts";
import { BrokenPipeError, EOFError } from "./errors.ts";
import { startTimeOf } from "./procfs.ts";
import { TIMED_OUT } from "./native.ts";
import type { Message } from "./reduction.ts";
import { Mutex, me, PROBE_MS, remaining, type Pause, type Steps } from "./synchronize.ts";

/* Int32 words of the header. Line 0: the writers' side. */
const WLOCK = 0; // and word 1: a Mutex
/** Where the writer holding the lock is taking `tail` and WRITTEN (see #repairWriter). */
const WTARGET_TAIL = 2;
const WTARGET_WRITTEN = 3;
const WRITTEN = 4; // messages written (wrapping)
const PUT_SEQ = 5;
const READERS_WAITING = 6;
const MAXSIZE = 7;
/** How many registered holders each end has (pipes). */
const OPEN = { read: 8, write: 9 } as const;
const GROWN_AT = 10; // when the ring last grew, in seconds (nowSeconds)
/* Line 1: the readers' side. */
const RLOCK = 16; // and word 17
const RTARGET_HEAD = 18;
const RTARGET_READ = 19;
const READ = 20; // messages read (wrapping)
const GET_SEQ = 21;
const WRITERS_WAITING = 22;
const DONE = 23; // taskDone calls (wrapping): unfinished = WRITTEN - DONE
const JOINERS_WAITING = 24;
/*
 * Line 2: GEN, the ring's generation: bumped by each flip to a new
 * (head, tail, capacity) (GEN & 1 names the current slot), then the two
 * capacities. Heads (line 3, the readers') and tails (line 4, the
 * writers') have lines of their own, so that a put and a get do not fight
 * over one line. Positions are byte counters that wrap at 2^32.
 */
const GEN = 32;
const CAPACITY_AT = [33, 34] as const;
const HEAD_AT = [48, 49] as const;
const TAIL_AT = [64, 65] as const;

/** Holder tables of pipe ends: Int32 index of each, ENTRIES pairs of (thread id, start time), to the end of the header page. */
const ENTRIES = 224;
const TABLE = { read: 80, write: 80 + 2 * ENTRIES } as const;

/** Where the ring starts; the header page holds everything else. */
const DATA = 4096;
const RECORD_HEADER = 8;
const INITIAL_CAPACITY = 64 * 1024;
/** Positions wrap at 2^32, so the ring stays below 2^31 bytes. */
const MAX_CAPACITY = 2 ** 31;
/** A drained ring larger than this gives its pages back, keeping SHRINK_TO, once it has not grown for SHRINK_AFTER_S (no thrashing in a burst). */
const SHRINK_ABOVE = 4 * 1024 * 1024;
const SHRINK_TO = 1024 * 1024;
const SHRINK_AFTER_S = 2;
const MAX_MESSAGE = MAX_CAPACITY / 2 - 64;
/** From this size Buffer.allocUnsafeSlow has a buffer of its own (below, it may share a pool). */
const UNZEROED_FROM = 4096;
/** Sleeps are capped at this; see the header comment. */
const PROBE = PROBE_MS * 4;
/** How often a writer with live-looking readers checks that they still live. */
const READER_CHECK_MS = 1000;
/** Tries a lock taker makes before it sleeps. */
const LOCK_SPINS = 400;
/**
 * How long a reader watches for a message before it sleeps: a sleep and a
 * wake cost some 10 µs (more through the event loop), so a reader whose
 * writer is mid-burst or mid-reply does better to wait awake. A blocking
 * reader owns its thread; an async one keeps its event loop short.
 */
const SPIN_MS = { blocking: 0.05, async: 0.01 } as const;
/** whenReadable's cancel when it did not need to wait. */
const notPending = () => false;
function spinFor(blocking: boolean): number {
  return blocking ? SPIN_MS.blocking : SPIN_MS.async;
}

/** pollNow() looks whether a liveness probe is due once in this many calls (a power of two). */
const PROBE_EVERY = 64;

export type End = "read" | "write";

/**
 * A message written in place: `length` bytes that fill() writes at
 * bytes[at, at + length) (in the ring itself unless the record wraps around
 * its end). A writer of many small messages then allocates none of them.
 */
export interface Outgoing {
  readonly tag: number;
  readonly length: number;
  fill(bytes: Uint8Array, at: number): void;
}

/** What Channel.drain() calls for each message: its tag and bytes[at, at + length); false to stop after it. */
export type Visit = (tag: number, bytes: Uint8Array, at: number, length: number) => boolean;
const visitNothing: Visit = () => false;

function lengthOf(message: Message | Outgoing): number {
  return "payload" in message ? message.payload.length : message.length;
}

interface Ring {
  /** GEN when read; GEN & 1 is the current slot. */
  gen: number;
  head: number;
  tail: number;
  capacity: number;
}

/** A holder's identity: its thread id, and that thread's start time (ids are reused). */
export interface Holder {
  tid: number;
  start: number;
}

/** A holder entry the sender registered for the receiver to take over. */
export interface Transit extends Holder {
  end: End;
  entry: number;
}

export interface ChannelState {
  segment: ReturnType<Segment["state"]>;
  transit?: Transit;
}

function nowSeconds(): number {
  return (Date.now() / 1000) | 0;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** One of the two locks, as a pause the wait runners can take (see synchronize.ts). */
type LockPause = Extract<Pause, { lock: unknown }>;

function lockPause(mutex: Mutex, repair: () => void): LockPause {
  return {
    lock: {
      acquireSync: () => {
        if (mutex.acquireSync(null) === "stolen") repair();
        return true;
      },
      acquire: async () => {
        if (mutex.tryAcquireSpinning(LOCK_SPINS)) return true;
        if ((await mutex.acquireAsync(null)) === "stolen") repair();
        return true;
      },
    },
  };
}

export class Channel {
  /** Mapped at the channel's largest size; the file behind it grows (see the header comment). */
  readonly #header: Segment;
  readonly #words: Int32Array;
  readonly #positions: Uint32Array;
  readonly #writeLock: Mutex;
  readonly #readLock: Mutex;
  readonly #writers: LockPause;
  readonly #readers: LockPause;
  /** The ring through the segment's window (Segment.window), renewed when the ring outgrows it. */
  #bytes: Uint8Array;
  #view: DataView;

  private constructor(segment: Segment) {
    this.#header = segment;
    this.#words = segment.int32;
    this.#positions = new Uint32Array(segment.buffer, 0, DATA / 4);
    this.#writeLock = new Mutex(new Block(segment, WLOCK * 4, 8));
    this.#readLock = new Mutex(new Block(segment, RLOCK * 4, 8));
    this.#writers = lockPause(this.#writeLock, () => this.#repairWriter());
    this.#readers = lockPause(this.#readLock, () => this.#repairReader());
    this.#bytes = new Uint8Array(segment.buffer);
    this.#view = new DataView(segment.buffer);
  }

  /** See the ring's first `capacity` bytes (another process may have grown it since this one looked). */
  #reach(capacity: number): void {
    if (this.#bytes.length >= DATA + capacity) return;
    const buffer = this.#header.window(DATA + capacity);
    this.#bytes = new Uint8Array(buffer);
    this.#view = new DataView(buffer);
  }

  /** A new channel; `maxsize` > 0 bounds how many messages it holds; `capacity`: bytes of ring to start with (a power of two). */
  static create(maxsize = 0, capacity = INITIAL_CAPACITY): Channel {
    const channel = new Channel(Segment.create(DATA + capacity, DATA + MAX_CAPACITY, "creating a queue or pipe"));
    channel.#words[MAXSIZE] = Math.max(0, maxsize);
    channel.#positions[CAPACITY_AT[0]] = capacity;
    return channel;
  }

  static open(state: ChannelState): Channel {
    return new Channel(Segment.open(state.segment, false, DATA + MAX_CAPACITY));
  }

  get maxsize(): number {
    return this.#words[MAXSIZE]!;
  }

  /*
   * Freeing at close (issue 12, see Segment.use): a Queue or a Pipe end made
   * or opened here uses the channel and lets go when closed; a wait running
   * on it and a reduction not yet given back hold it meanwhile.
   */
  use(): void {
    this.#header.use();
  }

  unuse(): void {
    this.#header.letGo();
  }

  /** A reduction of the channel went out; giveBack() when its receiver has it open or is gone. */
  lend(): void {
    this.#header.hold();
  }

  giveBack(): void {
    this.#header.letGo();
  }

  *#counted<R>(steps: Steps<R>): Steps<R> {
    this.#header.hold();
    try {
      return yield* steps;
    } finally {
      this.#header.letGo();
    }
  }

  /** Messages in the ring (a snapshot: others may change it at once). */
  count(): number {
    return Math.max(0, (Atomics.load(this.#words, WRITTEN) - Atomics.load(this.#words, READ)) | 0);
  }

  /** Messages written and not yet marked done (JoinableQueue). */
  unfinished(): number {
    return Math.max(0, (Atomics.load(this.#words, WRITTEN) - Atomics.load(this.#words, DONE)) | 0);
  }

  full(): boolean {
    const maxsize = this.maxsize;
    return maxsize > 0 && this.count() >= maxsize;
  }

  state(transit?: Transit): ChannelState {
    return transit ? { segment: this.#header.state(), transit } : { segment: this.#header.state() };
  }

  // ---- the ring's state, and what the next holder of a dead one's lock finishes ----

  #ring(): Ring {
    const gen = Atomics.load(this.#words, GEN);
    const slot = gen & 1;
    const p = this.#positions;
    return { gen, head: Atomics.load(p, HEAD_AT[slot]), tail: Atomics.load(p, TAIL_AT[slot]), capacity: p[CAPACITY_AT[slot]]! };
  }

  /*
   * What this process last read of the other side's position, and in which
   * generation: a tail only grows and a head only follows it, so a reader
   * that saw tail T may take every record before T without looking again,
   * and a writer that saw head H knows at least that much room is free.
   * Only when that is not enough is the other side's line read again.
   */
  #seenTail = 0;
  #seenTailGen = -1;
  #seenHead = 0;
  #seenHeadGen = -1;

  /** A tail past `head` (the real one if the one seen is not), for generation `gen`. */
  #tailPast(gen: number, head: number): number {
    if (gen !== this.#seenTailGen || ((this.#seenTail - head) | 0) <= 0) {
      this.#seenTail = Atomics.load(this.#positions, TAIL_AT[gen & 1]);
      this.#seenTailGen = gen;
    }
    return this.#seenTail;
  }

  /** Bytes used in generation `gen` with tail `tail`, as far as a head seen says: an upper bound, exact when `fresh`. */
  #used(gen: number, tail: number, fresh: boolean): number {
    if (fresh || gen !== this.#seenHeadGen) {
      this.#seenHead = Atomics.load(this.#positions, HEAD_AT[gen & 1]);
      this.#seenHeadGen = gen;
    }
    return (tail - this.#seenHead) >>> 0;
  }

  /**
   * Switch to a new (head, tail, capacity): fill the slot not in use, then
   * bump GEN. Both locks held. Positions are renumbered, so a target left by
   * a holder that died might now equal them by chance: the targets' counts
   * are set to the present ones first, which makes a repair store nothing.
   */
  #flip(head: number, tail: number, capacity: number): void {
    this.#words[WTARGET_WRITTEN] = Atomics.load(this.#words, WRITTEN);
    this.#words[RTARGET_READ] = Atomics.load(this.#words, READ);
    const gen = Atomics.load(this.#words, GEN);
    const slot = (gen + 1) & 1;
    this.#positions[HEAD_AT[slot]] = head;
    this.#positions[TAIL_AT[slot]] = tail;
    this.#positions[CAPACITY_AT[slot]] = capacity;
    Atomics.store(this.#words, GEN, (gen + 1) | 0);
  }

  /**
   * A writer died holding the write lock. If it had moved `tail` to its
   * target but not counted the message, count it. (Before the move, or after
   * the count, there is nothing to do: the store below then changes nothing.)
   */
  #repairWriter(): void {
    if (this.#ring().tail === (this.#words[WTARGET_TAIL]! >>> 0)) Atomics.store(this.#words, WRITTEN, this.#words[WTARGET_WRITTEN]!);
    this.#wakeAll();
  }

  /** The same for a reader that died between moving `head` and counting. */
  #repairReader(): void {
    if (this.#ring().head === (this.#words[RTARGET_HEAD]! >>> 0)) Atomics.store(this.#words, READ, this.#words[RTARGET_READ]!);
    this.#wakeAll();
  }

  #wakeAll(): void {
    Atomics.add(this.#words, PUT_SEQ, 1);
    Atomics.add(this.#words, GET_SEQ, 1);
    for (const word of [PUT_SEQ, GET_SEQ, DONE]) this.#header.wake(word, 0x7fffffff);
  }

  /**
   * Make room for `need` more bytes: double the ring (or more) and keep each
   * live byte's offset, except the wrapped part, which moves from
   * [0, wrap) to [old capacity, old capacity + wrap); positions are then
   * renumbered so that position & (capacity - 1) is the new offset. The copy
   * runs while readers go on reading (it does not change what they read);
   * only the flip takes the read lock. Write lock held.
   */
  #grow(need: number): Ring {
    const before = this.#ring();
    const old = before.capacity;
    let capacity = old * 2;
    while (((before.tail - before.head) >>> 0) + need > capacity) capacity *= 2;
    if (capacity > MAX_CAPACITY) {
      throw new RangeError(
        `a queue or pipe holds at most ${MAX_CAPACITY} bytes (2 GiB) of unread messages, and this one would need ${capacity}: ` +
          "read some first, or bound the queue (new Queue(maxsize)) so that put() waits",
      );
    }
    this.#header.grow(DATA + old, DATA + capacity, "growing a queue or pipe");
    const start = before.head & (old - 1);
    const wrapped = Math.max(0, start + ((before.tail - before.head) >>> 0) - old);
    this.#reach(capacity);
    if (wrapped > 0) this.#bytes.copyWithin(DATA + old, DATA, DATA + wrapped);
    this.#readers.lock.acquireSync();
    try {
      const { head, tail } = this.#ring();
      const offset = head & (old - 1);
      const newHead = offset >= start ? offset : offset + old;
      this.#flip(newHead, newHead + ((tail - head) >>> 0), capacity);
    } finally {
      this.#readLock.release();
    }
    Atomics.store(this.#words, GROWN_AT, nowSeconds());
    return this.#ring();
  }

  #copyIn(position: number, capacity: number, source: Uint8Array): void {
    const first = Math.min(source.length, capacity - position);
    this.#bytes.set(first === source.length ? source : source.subarray(0, first), DATA + position);
    if (first < source.length) this.#bytes.set(source.subarray(first), DATA);
  }

  #copyOut(position: number, capacity: number, length: number): Uint8Array {
    // Large payloads skip the zero fill: every byte is written just below.
    const out = length < UNZEROED_FROM ? new Uint8Array(length) : new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    const first = Math.min(length, capacity - position);
    out.set(this.#bytes.subarray(DATA + position, DATA + position + first));
    if (first < length) out.set(this.#bytes.subarray(DATA, DATA + length - first), first);
    return out;
  }

  // ---- one message in, one message out, under the side's lock ----

  #writeLocked(message: Message | Outgoing, bounded: boolean): boolean {
    const written = Atomics.load(this.#words, WRITTEN);
    if (bounded && this.maxsize > 0 && ((written - Atomics.load(this.#words, READ)) | 0) >= this.maxsize) return false;
    const length = lengthOf(message);
    const need = RECORD_HEADER + align8(length);
    let gen = Atomics.load(this.#words, GEN);
    let tail = Atomics.load(this.#positions, TAIL_AT[gen & 1]);
    let capacity = this.#positions[CAPACITY_AT[gen & 1]]!;
    if (this.#used(gen, tail, false) + need > capacity && this.#used(gen, tail, true) + need > capacity) {
      ({ gen, tail, capacity } = this.#grow(need));
    }
    this.#reach(capacity);
    const position = tail & (capacity - 1);
    const target = (tail + need) >>> 0;
    // Plain stores: the atomic store of the tail below publishes them with the record.
    this.#words[WTARGET_TAIL] = target | 0;
    this.#words[WTARGET_WRITTEN] = (written + 1) | 0;
    this.#view.setUint32(DATA + position, length, true);
    this.#bytes[DATA + position + 4] = message.tag;
    const at = (position + RECORD_HEADER) & (capacity - 1);
    if ("payload" in message) {
      this.#copyIn(at, capacity, message.payload);
    } else if (at + length <= capacity) {
      message.fill(this.#bytes, DATA + at);
    } else {
      const wrapped = new Uint8Array(length);
      message.fill(wrapped, 0);
      this.#copyIn(at, capacity, wrapped);
    }
    Atomics.store(this.#positions, TAIL_AT[gen & 1], target);
    Atomics.store(this.#words, WRITTEN, (written + 1) | 0);
    Atomics.add(this.#words, PUT_SEQ, 1);
    return true;
  }

  /**
   * With the read lock held: take the oldest message if there is one, and
   * give it to `take` where it lies in the ring (`position`, `length`), before
   * the head moves past it. undefined when the ring is empty.
   */
  #readLocked<T>(take: (tag: number, position: number, capacity: number, length: number) => T): T | undefined {
    const gen = Atomics.load(this.#words, GEN);
    const slot = gen & 1;
    const head = Atomics.load(this.#positions, HEAD_AT[slot]);
    const tail = this.#tailPast(gen, head);
    if (head === tail) return undefined;
    const capacity = this.#positions[CAPACITY_AT[slot]]!;
    this.#reach(capacity);
    const position = head & (capacity - 1);
    const length = this.#view.getUint32(DATA + position, true);
    // Records are whole by construction; this guards the mapping (past the file's end lies a SIGBUS).
    if (RECORD_HEADER + length > ((tail - head) >>> 0)) throw new Error(`corrupt queue: a ${length}-byte record in ${(tail - head) >>> 0} bytes`);
    const taken = take(this.#bytes[DATA + position + 4]!, (position + RECORD_HEADER) & (capacity - 1), capacity, length);
    const read = Atomics.load(this.#words, READ);
    const target = (head + RECORD_HEADER + align8(length)) >>> 0;
    this.#words[RTARGET_HEAD] = target | 0;
    this.#words[RTARGET_READ] = (read + 1) | 0;
    Atomics.store(this.#positions, HEAD_AT[slot], target);
    Atomics.store(this.#words, READ, (read + 1) | 0);
    Atomics.add(this.#words, GET_SEQ, 1);
    if (target === tail && capacity > SHRINK_ABOVE && nowSeconds() - Atomics.load(this.#words, GROWN_AT) >= SHRINK_AFTER_S) this.#shrink(capacity);
    return taken;
  }

  /** A message copied out of the ring. */
  readonly #copyMessage = (tag: number, position: number, capacity: number, length: number): Message => ({ tag, payload: this.#copyOut(position, capacity, length) });

  /** What drain() hands each message to (set for the length of one drain). */
  #visit: Visit = visitNothing;

  readonly #visitInPlace = (tag: number, position: number, capacity: number, length: number): boolean =>
    position + length <= capacity ? this.#visit(tag, this.#bytes, DATA + position, length) : this.#visit(tag, this.#copyOut(position, capacity, length), 0, length);

  /** The ring just drained: give a large one's pages back, if no writer is busy (a reader may not wait for the write lock). */
  #shrink(capacity: number): void {
    if (!this.#writeLock.tryAcquire()) return;
    try {
      const ring = this.#ring();
      if (ring.head !== ring.tail) return;
      this.#flip(0, 0, SHRINK_TO);
      // After the flip (a holder killed in between leaves pages allocated, never a ring over freed ones),
      // before the unlock (a writer could grow into them again).
      this.#header.discard(DATA + SHRINK_TO, capacity - SHRINK_TO);
    } finally {
      this.#writeLock.release();
    }
  }

  #wakeReaders(): void {
    if (Atomics.load(this.#words, READERS_WAITING) > 0) this.#header.wake(PUT_SEQ, 1);
  }

  #wakeWriters(): void {
    if (Atomics.load(this.#words, WRITERS_WAITING) > 0) this.#header.wake(GET_SEQ, 0x7fffffff);
  }

  #checkSize(message: Message | Outgoing): void {
    if (lengthOf(message) > MAX_MESSAGE) {
      throw new RangeError(`a message of ${lengthOf(message)} bytes is too large: a queue or pipe carries messages of at most ${MAX_MESSAGE} bytes (1 GiB - 64)`);
    }
  }

  /** With the write lock taken: write, let the lock go, wake a reader. False when bounded and full. */
  #putAndRelease(message: Message | Outgoing, bounded: boolean): boolean {
    let written: boolean;
    try {
      written = this.#writeLocked(message, bounded);
    } finally {
      this.#writeLock.release();
    }
    if (written) this.#wakeReaders();
    return written;
  }

  /** Write without waiting for room (the lock aside). False when bounded and full. */
  tryWrite(message: Message | Outgoing, bounded = true): boolean {
    this.#checkSize(message);
    this.#writers.lock.acquireSync();
    return this.#putAndRelease(message, bounded);
  }

  /** A bounded write that waits for room until `deadline` (performance.now() ms; Infinity: no limit). */
  *writeSteps(message: Message, deadline: number): Steps<boolean> {
    return yield* this.#counted(this.#writeSteps(message, deadline));
  }

  *#writeSteps(message: Message, deadline: number): Steps<boolean> {
    this.#checkSize(message);
    for (;;) {
      const seq = Atomics.load(this.#words, GET_SEQ);
      yield this.#writers;
      if (this.#putAndRelease(message, true)) return true;
      const left = remaining(deadline);
      if (left === 0) return false;
      // The wait takes this writer off the count as it ends (see Segment.waitAsync).
      Atomics.add(this.#words, WRITERS_WAITING, 1);
      yield { segment: this.#header, index: GET_SEQ, expected: seq, timeout: left < 0 ? PROBE : Math.min(left, PROBE), settles: WRITERS_WAITING };
    }
  }

  /** Whether a message is there (a snapshot). */
  #available(): boolean {
    const gen = Atomics.load(this.#words, GEN);
    const head = Atomics.load(this.#positions, HEAD_AT[gen & 1]);
    return this.#tailPast(gen, head) !== head;
  }

  /** With the read lock taken: read, let the lock go, wake waiting writers. */
  #takeAndRelease(): Message | undefined {
    let message: Message | undefined;
    try {
      message = this.#readLocked(this.#copyMessage);
    } finally {
      this.#readLock.release();
    }
    if (message) this.#wakeWriters();
    return message;
  }

  /** Read one message if there is one, waiting only for the lock. */
  tryRead(): Message | undefined {
    if (!this.#available()) return undefined;
    this.#readers.lock.acquireSync();
    return this.#takeAndRelease();
  }

  /**
   * Read up to `max` messages there now, in order, under one taking of the
   * lock, without copying them: `visit` sees each where it lies,
   * bytes[at, at + length), only for the length of the call, and returns
   * false to stop after that one. Returns how many it saw (all consumed).
   * For a reader of many small messages: it pays for the lock once, and
   * allocates nothing per message. `waitForLock` false: 0 when another
   * reader holds the lock, rather than wait (an async read in this very
   * thread may hold it across an await, and would never let go).
   */
  drain(max: number, visit: Visit, waitForLock = true): number {
    if (!this.#available()) return 0;
    if (waitForLock) this.#readers.lock.acquireSync();
    else if (!this.#readLock.tryAcquire()) return 0;
    let count = 0;
    this.#visit = visit;
    try {
      let more = true;
      while (more && count < max) {
        const seen = this.#readLocked(this.#visitInPlace);
        if (seen === undefined) break;
        count++;
        more = seen;
      }
    } finally {
      this.#visit = visitNothing;
      this.#readLock.release();
    }
    if (count > 0) this.#wakeWriters();
    return count;
  }

  /**
   * Call `ready` once a message is there, or once a sleep of PROBE ends
   * without one (look again), for the channel's only reader, which then
   * drains in place and waits again. A loop woken once per message (the
   * pool's results, each a task of tens of milliseconds) spent more on
   * readSteps' generators, its AbortSignal and its copy of the message than
   * on the message; and the waiter thread keeps watching the word between
   * two such waits (native.waitAsync's `linger`). `ready` may be called
   * before this returns. Returns a cancel: true if the wait was still
   * pending, and `ready` is then never called.
   */
  whenReadable(ready: () => void): () => boolean {
    const seq = Atomics.load(this.#words, PUT_SEQ);
    if (this.#available() || this.#spin(seq, SPIN_MS.async)) {
      ready();
      return notPending;
    }
    // The wait itself takes this reader off the count as it ends (see Segment.waitAsync).
    Atomics.add(this.#words, READERS_WAITING, 1);
    return this.#header.waitThen(PUT_SEQ, seq, PROBE, READERS_WAITING, ready, true);
  }

  /**
   * Wait for a message until `deadline`: undefined when it passes. With
   * `endOfStream`, throws EOFError once the ring is empty and every writer
   * has closed or died (pipes).
   */
  *readSteps(deadline: number, endOfStream: boolean, blocking: boolean): Steps<Message | undefined> {
    return yield* this.#counted(this.#until(deadline, endOfStream, spinFor(blocking), () => this.#takeSteps()));
  }

  /**
   * Whether a message is there, or comes within `ms` (at most a blocking
   * spin's length), watched awake. It allocates nothing, where a wait built
   * from steps allocates a few generators: a reader that looks again and
   * again (a manager watching its clients between requests) makes no
   * garbage to collect.
   */
  arrivesWithin(ms: number): boolean {
    const seq = Atomics.load(this.#words, PUT_SEQ);
    if (this.#available()) return true;
    return ms > 0 && this.#spin(seq, Math.min(ms, SPIN_MS.blocking)) && this.#available();
  }

  /** What pollSteps() says with no time left (a message, or the end of the stream), without building the wait. */
  pollNow(): boolean {
    // The clock is read (for a due liveness probe) once in PROBE_EVERY calls: a reader may call this in a tight loop.
    return this.#available() || this.#gone("write", (++this.#pollsNow & (PROBE_EVERY - 1)) === 0 && this.#probeDue());
  }

  #pollsNow = 0;

  /**
   * Wait until there is a message or the end of the stream (true), or
   * `deadline` passes (false); consumes nothing. `spun`: the caller has just
   * watched awake (arrivesWithin), so the wait sleeps at once.
   */
  *pollSteps(deadline: number, blocking: boolean, spun = false): Steps<boolean> {
    return yield* this.#counted(this.#pollSteps(deadline, spun ? 0 : spinFor(blocking)));
  }

  *#pollSteps(deadline: number, spinMs: number): Steps<boolean> {
    const available = () => this.#available();
    try {
      return (yield* this.#until(deadline, true, spinMs, function* () {
        return available() ? true : undefined;
      })) ?? false;
    } catch (err) {
      if (err instanceof EOFError) return true;
      throw err;
    }
  }

  *#takeSteps(): Steps<Message | undefined> {
    if (!this.#available()) return undefined;
    yield this.#readers;
    return this.#takeAndRelease();
  }

  /** Try `attempt` until it gives something, watching awake for `spinMs`, then sleeping on PUT_SEQ, between tries. */
  *#until<R>(deadline: number, endOfStream: boolean, spinMs: number, attempt: () => Steps<R | undefined>): Steps<R | undefined> {
    let probe = false;
    for (;;) {
      const seq = Atomics.load(this.#words, PUT_SEQ);
      const got = yield* attempt();
      if (got !== undefined) return got;
      const left = remaining(deadline);
      // A caller that will not wait gets the liveness check a sleeper gets after each PROBE.
      if (endOfStream && this.#gone("write", probe || (left === 0 && this.#probeDue()))) {
        // The last writer may have written and closed since the attempt above; with no writer left the ring changes no more.
        const last = yield* attempt();
        if (last !== undefined) return last;
        throw new EOFError("the other end of the pipe is closed (or its process died) and nothing is left to read");
      }
      if (left === 0) return undefined;
      if (spinMs > 0 && this.#spin(seq, Math.min(left < 0 ? Infinity : left, spinMs))) continue;
      // The wait itself takes this reader off the count as it ends (see Segment.waitAsync).
      Atomics.add(this.#words, READERS_WAITING, 1);
      let woken = false;
      try {
        const result = yield { segment: this.#header, index: PUT_SEQ, expected: seq, timeout: left < 0 ? PROBE : Math.min(left, PROBE), settles: READERS_WAITING };
        woken = true;
        probe = result === TIMED_OUT;
      } finally {
        // Leaving without a message (an abort) may swallow a wake meant for a message: pass it on.
        if (!woken && this.#available()) this.#wakeReaders();
      }
    }
  }

  /** A short busy wait for a writer that is mid-burst: cheaper than a sleep and a wake. True if the sequence moved. */
  #spin(seq: number, ms: number): boolean {
    const until = performance.now() + ms;
    do {
      for (let i = 0; i < 64; i++) if (Atomics.load(this.#words, PUT_SEQ) !== seq) return true;
    } while (performance.now() < until);
    return false;
  }

  /** Mark one message done (JoinableQueue.taskDone). False if none was unfinished. */
  taskDone(): boolean {
    for (;;) {
      const done = Atomics.load(this.#words, DONE);
      if (((Atomics.load(this.#words, WRITTEN) - done) | 0) <= 0) return false;
      if (Atomics.compareExchange(this.#words, DONE, done, (done + 1) | 0) !== done) continue;
      if (this.unfinished() === 0 && Atomics.load(this.#words, JOINERS_WAITING) > 0) this.#header.wake(DONE, 0x7fffffff);
      return true;
    }
  }

  /** Wait until every message written has been marked done; false if `deadline` passed first. */
  *joinSteps(deadline: number): Steps<boolean> {
    return yield* this.#counted(this.#joinSteps(deadline));
  }

  *#joinSteps(deadline: number): Steps<boolean> {
    for (;;) {
      const done = Atomics.load(this.#words, DONE);
      if (((Atomics.load(this.#words, WRITTEN) - done) | 0) <= 0) return true;
      const left = remaining(deadline);
      if (left === 0) return false;
      Atomics.add(this.#words, JOINERS_WAITING, 1);
      try {
        yield { segment: this.#header, index: DONE, expected: done, timeout: left < 0 ? PROBE : Math.min(left, PROBE) };
      } finally {
        Atomics.sub(this.#words, JOINERS_WAITING, 1);
      }
    }
  }

  // ---- who holds the ends of a pipe ----

  #entry(end: End, index: number): number {
    return TABLE[end] + 2 * index;
  }

  /** The holder tables change under the write lock. */
  #underWriteLock<T>(change: () => T): T {
    this.#writers.lock.acquireSync();
    try {
      return change();
    } finally {
      this.#writeLock.release();
    }
  }

  /** Whether entry word `at` names `who`. */
  #holds(at: number, who: Holder): boolean {
    return this.#words[at] === who.tid && this.#words[at + 1] === who.start;
  }

  /** Whether entry word `at` names a thread that still runs (the start time tells it from a later one with its id). */
  #alive(at: number): boolean {
    const tid = Atomics.load(this.#words, at);
    return tid !== 0 && startTimeOf(tid) === this.#words[at + 1];
  }

  /** Register this thread as a holder of `end`; the entry index. */
  register(end: End): number {
    return this.#underWriteLock(() => this.#claimFree(end, me()));
  }

  #claimFree(end: End, who: Holder): number {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < ENTRIES; i++) {
        const at = this.#entry(end, i);
        if (this.#words[at] === 0) {
          this.#words[at + 1] = who.start;
          Atomics.store(this.#words, at, who.tid);
          Atomics.add(this.#words, OPEN[end], 1);
          return i;
        }
      }
      this.#pruneDead(end);
    }
    throw new Error(`a pipe end has at most ${ENTRIES} live holders (processes or threads that hold it open), and its ${end === "read" ? "reading" : "writing"} end already has them`);
  }

  #pruneDead(end: End): void {
    for (let i = 0; i < ENTRIES; i++) {
      const at = this.#entry(end, i);
      if (this.#words[at] !== 0 && !this.#alive(at)) this.#clear(end, at);
    }
  }

  #clear(end: End, at: number): void {
    Atomics.store(this.#words, at, 0);
    Atomics.sub(this.#words, OPEN[end], 1);
  }

  /** Register a holder entry in this thread's name for the process this channel is being sent to (see adopt). */
  registerTransit(end: End): Transit {
    const who = me();
    return { end, entry: this.register(end), tid: who.tid, start: who.start };
  }

  /** Drop an entry registered for a receiver that never took it over (if it did, the entry is its own now and stays). */
  releaseTransit(transit: Transit): void {
    this.release(transit.end, transit.entry, transit);
  }

  /** Take over the entry the sender registered for us, or register afresh if it is no longer the sender's. */
  adopt(transit: Transit): number {
    const { end, entry } = transit;
    return this.#underWriteLock(() => {
      const at = this.#entry(end, entry);
      const who = me();
      if (!this.#holds(at, transit)) return this.#claimFree(end, who);
      this.#words[at + 1] = who.start;
      Atomics.store(this.#words, at, who.tid);
      return entry;
    });
  }

  /** Drop holder entry `entry` of `end`, if it is still ours, and wake readers so they see an end of stream. */
  release(end: End, entry: number, holder: Holder): void {
    this.#underWriteLock(() => {
      const at = this.#entry(end, entry);
      if (this.#holds(at, holder)) this.#clear(end, at);
      Atomics.add(this.#words, PUT_SEQ, 1);
    });
    this.#header.wake(PUT_SEQ, 0x7fffffff);
  }

  /**
   * Whether every holder of `end` has closed; with `probe`, also whether
   * every one left has died (their entries are then cleared, so that the
   * next look needs no probe).
   *
   * A live entry seen without the lock settles it (that holder was there),
   * but "none alive" does not: entries change while the scan runs. An entry
   * read while its receiver takes it over (adopt) pairs the sender's thread
   * id with the receiver's start time (the /proc read between the two loads
   * takes tens of microseconds), and a holder that sends the end on
   * registers the new entry in a free slot, which may lie behind the scan,
   * before it closes its own. So a scan can find no live entry in a table
   * that always had one; only a look under the write lock, which every
   * change takes, can say that none is left.
   */
  #gone(end: End, probe: boolean): boolean {
    if (Atomics.load(this.#words, OPEN[end]) === 0) return true;
    if (!probe) return false;
    for (let i = 0; i < ENTRIES; i++) if (this.#alive(this.#entry(end, i))) return false;
    return this.#underWriteLock(() => {
      this.#pruneDead(end);
      return Atomics.load(this.#words, OPEN[end]) === 0;
    });
  }

  #lastProbe = 0;

  /** Whether a probe of /proc is due for a caller that does not sleep (at most one every PROBE_MS). */
  #probeDue(): boolean {
    const now = performance.now();
    if (now - this.#lastProbe < PROBE_MS) return false;
    this.#lastProbe = now;
    return true;
  }

  #lastReaderCheck = 0;

  /** Throws BrokenPipeError when no reader is left: every one closed, or (checked at most once a second) died. */
  checkReaders(): void {
    let probe = false;
    if (Atomics.load(this.#words, OPEN.read) > 0) {
      const now = performance.now();
      if (now - this.#lastReaderCheck < READER_CHECK_MS) return;
      this.#lastReaderCheck = now;
      probe = true;
    }
    if (this.#gone("read", probe)) throw new BrokenPipeError("the other end of the pipe is closed (or its process died)");
  }

}
