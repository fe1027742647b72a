/*
 * Shared memory the library's own objects live in (Python's heap.py).
 *
 * A Segment is a nameless memfd mapped by the native addon; another process
 * opens it through /proc/<pid>/fd/<fd> of a process that holds it, so it can
 * travel to a child at start or later (reduction), and a crash leaves
 * nothing in /dev/shm: the kernel frees it with its last descriptor.
 * Small objects (a Lock is a few words) share arenas, each 64-byte slot on
 * its own cache line, so a program with many locks does not hold a file
 * descriptor per lock. Freed slots are not reused: an arena goes away when
 * no process holds anything in it any more.
 *
 * Talks to: native.ts (mapping, futex); synchronize.ts and sharedctypes.ts
 * build on Block.
 */
import { abortError } from "./errors.ts";
import { native } from "./native.ts";
import { abandon, reduce, travelling, type Reduction } from "./reduction.ts";
import { shared } from "./runtime.ts";

/** How another process can open a segment: the descriptors live processes hold it by. */
interface SegmentState {
  size: number;
  /** Names the segment whatever descriptor holds it: a reused descriptor number is refused. */
  inode: number;
  holders: Array<{ pid: number; fd: number }>;
}

const ENOMEM = 12;

/** `result`, or the error its -errno means; `asked`: the bytes the call was about to commit. */
function check(result: number, what: string, asked: number): number {
  if (result >= 0) return result;
  throw -result === ENOMEM ? roomError(asked, what) : segmentError(-result, what);
}

function formatBytes(n: number): string {
  if (n >= 2 ** 60) return "unlimited";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let unit = 0;
  let value = n;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} bytes` : `${value.toFixed(1)} ${units[unit]} (${n} bytes)`;
}

/**
 * The error of a shared allocation larger than what this process may still
 * commit (native/room.c refuses it before any page is taken). `path`: the
 * filesystem whose free space also counted (/dev/shm for SharedMemory).
 */
export function roomError(asked: number, what: string, path: string | null = null): RangeError {
  const room = native().memoryRoom(path);
  const limits = `MemAvailable, this process's memory cgroup limit${path ? ` and the free space of ${path}` : ""}, whichever is lowest`;
  const error = new RangeError(
    `${what}: cannot allocate ${formatBytes(asked)} of shared memory: only ${formatBytes(Math.floor(room))} available (${limits}) (ENOMEM)`,
  );
  return Object.assign(error, { code: "ENOMEM" });
}

function segmentError(errno: number, what: string): Error {
  if (errno === 28) return new Error(`${what}: no space left for shared memory (ENOSPC): /dev/shm or memory is full`);
  if (errno === 24) return new Error(`${what}: too many open files (EMFILE)`);
  if (errno === 116) return new Error(`${what}: the segment is gone (every process that held it has let it go)`);
  return new Error(`${what} failed (errno ${errno})`);
}

export class Segment {
  readonly id: number;
  /** The segment as first seen: all of it, or for a growing segment the part its file had (see window()). */
  readonly buffer: ArrayBuffer;
  readonly int32: Int32Array;
  /** Who else held it when it reached us: tried when our own sender is gone. */
  readonly #holders: Array<{ pid: number; fd: number }>;
  #window: ArrayBuffer;
  /** Every buffer this object made over the mapping: close() gives them all back. */
  readonly #buffers: ArrayBuffer[] = [];

  /** `windowLength` 0: a buffer over the whole mapping. */
  private constructor(id: number, holders: Array<{ pid: number; fd: number }>, windowLength: number) {
    this.id = id;
    const addon = native();
    this.buffer = addon.segmentBuffer(id, windowLength);
    // From here the buffer's reference keeps the mapping; the mapping goes when the buffer is collected, or at close().
    addon.segmentRelease(id);
    this.#window = this.buffer;
    this.#buffers.push(this.buffer);
    this.int32 = new Int32Array(this.buffer);
    this.#holders = [{ pid: process.pid, fd: addon.segmentFd(id) }, ...holders.filter((h) => h.pid !== process.pid)].slice(0, 4);
  }

  /**
   * A new segment of `size` bytes. `reserve` > size maps that much address
   * space for a segment that will grow (grow()); only the part the file
   * covers may be touched, through window(). `what` starts the error
   * message when the machine cannot hold it.
   */
  static create(size: number, reserve = size, what = "creating a shared segment"): Segment {
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`segment size must be a positive integer, got ${size}`);
    return new Segment(check(native().segmentCreate(size, reserve), what, size), [], reserve > size ? size : 0);
  }

  /** Map a segment another process sent; `populate`: fill its page tables now (for one used whole, as an array is); `reserve` as in create(). */
  static open(state: SegmentState, populate = true, reserve = 0): Segment {
    let lastError = -2;
    for (const { pid, fd } of state.holders) {
      const id = native().segmentOpen(pid, fd, state.inode, populate ? 1 : 0, reserve);
      if (id >= 0) return new Segment(id, state.holders, reserve > 0 ? state.size : 0);
      lastError = id;
    }
    throw segmentError(-lastError, `opening a shared segment (every process that held it is gone: ${state.holders.map((h) => h.pid).join(", ")})`);
  }

  /**
   * A buffer over at least the first `length` bytes of a growing segment
   * (its file must cover them). V8 counts a buffer's whole length as memory
   * and collects garbage at once when that count jumps, so a 2 GiB
   * reservation is not handed to it whole: the window grows with the file.
   */
  window(length: number): ArrayBuffer {
    if (this.#window.byteLength < length) {
      this.#window = native().segmentBuffer(this.id, Math.max(length, this.#window.byteLength * 2));
      this.#buffers.push(this.#window);
    }
    return this.#window;
  }

  /*
   * Freeing at close (issue 12). Objects that own a part of the segment (a
   * queue, a pipe end, a shared value) use() it and, when closed, letGo();
   * a wait running on it and a reduction not yet given back (its receiver
   * opens the segment through this process's descriptor) hold() it too (a
   * lock or event closed with a wait pending lets go once the wait has
   * ended: synchronize.ts, Closable).
   * Once something has used it and nothing holds it any more, close().
   * A segment nobody ever used (the pool's channels) is left to garbage
   * collection, as is one whose reduction is never given back.
   */
  #holds = 0;
  #used = false;

  use(): void {
    this.#used = true;
    this.#holds++;
  }

  hold(): void {
    this.#holds++;
  }

  letGo(): void {
    if (--this.#holds === 0 && this.#used) this.close();
  }

  get closed(): boolean {
    return this.#used && this.#buffers.length === 0;
  }

  /**
   * Let go of the mapping now rather than at garbage collection: every buffer
   * this object made is detached (reads see length 0), and with the last
   * reference this process holds, the mapping and the descriptor go. Other
   * processes, and other objects of this one over the same segment, keep
   * theirs.
   */
  close(): void {
    for (const buffer of this.#buffers.splice(0)) native().segmentClose(buffer);
  }

  get size(): number {
    return this.#window.byteLength;
  }

  state(): SegmentState {
    return { size: this.size, inode: native().segmentInode(this.id), holders: this.#holders };
  }

  /** Make the file at least `size` bytes, reserving [from, size); the mapping must cover it (see create). */
  grow(from: number, size: number, what = "growing a shared segment"): void {
    check(native().segmentGrow(this.id, from, size), what, size - from);
  }

  /** Free the pages of [offset, offset + length); they read as zeros until written. */
  discard(offset: number, length: number): void {
    check(native().segmentDiscard(this.id, offset, length), "freeing shared pages", 0);
  }

  /**
   * Block while the word at `index` (an Int32 index) equals `expected`; see
   * native.futexWait. `settles`: the index of a count of sleepers this wait
   * is counted in, decremented once it ends (see waitAsync).
   */
  wait(index: number, expected: number, timeoutMs: number, settles = -1): number {
    const result = native().futexWait(this.id, index * 4, expected, timeoutMs);
    this.#settle(settles);
    return result;
  }

  wake(index: number, count: number): number {
    return native().futexWake(this.id, index * 4, count);
  }

  /**
   * The same wait, asynchronously; resolves with the result, or rejects with
   * the signal's reason. `settles` is decremented by the waiter thread the
   * moment the wait ends, not when this promise's callbacks get to run: a
   * waker that reads the count then knows the sleeper is awake, and does not
   * wake it again for every message it writes meanwhile.
   */
  waitAsync(index: number, expected: number, timeoutMs: number, signal?: AbortSignal, settles = -1): Promise<number> {
    if (signal?.aborted) {
      this.#settle(settles);
      return Promise.reject(abortError(signal));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (cancel()) reject(abortError(signal!));
      };
      let cancel: () => boolean;
      try {
        cancel = this.waitThen(index, expected, timeoutMs, settles, (result) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(result);
        });
      } catch (err) {
        reject(err);
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * The same wait, with a callback rather than a Promise and an AbortSignal,
   * for a loop that waits once per message. Returns a function that cancels
   * the wait (true if it was still pending: `done` is then never called).
   * `linger`: the caller is the word's only sleeper and will wait on it
   * again at once (see native.waitAsync).
   */
  waitThen(index: number, expected: number, timeoutMs: number, settles: number, done: (result: number) => void, linger = false): () => boolean {
    const request = native().waitAsync(this.id, index * 4, expected, timeoutMs, done, settles < 0 ? -1 : settles * 4, linger ? 1 : 0);
    if (request < 0) {
      this.#settle(settles);
      throw new Error(`waiting on a shared word failed (errno ${-request})`);
    }
    return () => native().cancelWait(request);
  }

  #settle(settles: number): void {
    if (settles >= 0) Atomics.sub(this.int32, settles, 1);
  }
}

/** Slot size: one cache line, so words of different objects never share one. */
export const SLOT = 64;
const ARENA_SIZE = 64 * 1024;

/** A run of 64-byte slots in a segment: where one library object keeps its words. */
export class Block {
  constructor(
    readonly segment: Segment,
    /** Byte offset in the segment, a multiple of SLOT. */
    readonly offset: number,
    readonly size: number,
  ) {}

  /** Int32 index of the `n`th word of this block in segment.int32. */
  word(n: number): number {
    return this.offset / 4 + n;
  }

  #closed = false;

  /** The object owning this block is closed: its segment may go once nothing else here holds it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.segment.letGo();
  }

  [reduce](): Reduction {
    const reduction = blockTravel({ segment: this.segment.state(), offset: this.offset, size: this.size });
    this.segment.hold();
    return reduction;
  }

  /** Its receiver has the segment open, or is gone. */
  [abandon](): void {
    this.segment.letGo();
  }
}

interface Arena {
  segment: Segment;
  next: number;
}

const arenas = shared("heap.arenas", () => ({ current: null as Arena | null }));

/** A block its owner will close(): the segment counts it among its users. */
function owned(segment: Segment, offset: number, size: number): Block {
  segment.use();
  return new Block(segment, offset, size);
}

/** `size` bytes of zeroed shared memory, aligned to a cache line; `what` names the object in errors. */
export function allocate(size: number, what = "allocating shared memory"): Block {
  const rounded = Math.ceil(Math.max(size, 1) / SLOT) * SLOT;
  if (rounded > ARENA_SIZE / 4) return owned(Segment.create(rounded, rounded, what), 0, rounded);
  let arena = arenas.current;
  if (!arena || arena.next + rounded > ARENA_SIZE) {
    // The arena holds itself while it is the one allocating: its blocks all closed must not free it yet.
    arena?.segment.letGo();
    arena = { segment: Segment.create(ARENA_SIZE, ARENA_SIZE, what), next: 0 };
    arena.segment.use();
    arenas.current = arena;
  }
  const block = owned(arena.segment, arena.next, rounded);
  arena.next += rounded;
  return block;
}

/** A segment opened once per process however many of its blocks arrive. */
const opened = shared("heap.opened", () => new Map<string, WeakRef<Segment>>());

function openSegment(state: SegmentState): Segment {
  const key = String(state.inode);
  const known = opened.get(key)?.deref();
  if (known && !known.closed) return known;
  const segment = Segment.open(state);
  opened.set(key, new WeakRef(segment));
  return segment;
}

const blockTravel = travelling(
  "Block",
  import.meta.url,
  ({ segment, offset, size }: { segment: SegmentState; offset: number; size: number }) => owned(openSegment(segment), offset, size),
);
