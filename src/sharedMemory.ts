/*
 * Named shared memory (Python's multiprocessing.shared_memory):
 * `SharedMemory`, a POSIX shm segment any process can attach by name, and
 * `ShareableList`, a fixed-length list of scalars packed into one.
 *
 * Lifetime. A named segment lives until someone calls unlink(), as in
 * Python, and close() only unmaps. But a segment is also reclaimed once its
 * creating process has ended (exited or died, SIGKILL included) and no
 * process has it mapped any more, so crashes leave nothing in /dev/shm.
 * How (native/shm.c):
 *
 *   - a process that has a segment mapped keeps one descriptor on it holding
 *     a shared flock; the creating process keeps it after close() too, until
 *     it unlinks the segment or ends, so a closed segment stays attachable
 *     while its creator lives, as in Python. The kernel drops the lock with
 *     the process, however it ends. An attacher lets go when its last
 *     mapping does (close(), or the buffer being collected). Worker threads
 *     are part of their process: a thread child that ends does not end the
 *     process's hold on what it created.
 *   - the creator asks a tracker process to watch the segment. There is one
 *     tracker per user, on an abstract unix socket, started detached on
 *     first use (its own session, no stdio, ignores SIGINT/SIGTERM, like
 *     CPython's resource_tracker). Every 0.5 s it tries an exclusive flock on
 *     each watched segment; when that succeeds nobody holds it any more, and
 *     it shm_unlinks the name if the name still refers to that segment. It
 *     exits when it watches nothing and no process is linked to it.
 *   - attachers never register: a segment another program made is never
 *     unlinked by us (CPython's gh-82300, attachers unlinking, cannot happen).
 *
 * Consequences worth knowing: a segment goes about 0.5 s after its creator
 * ends if nobody has it mapped, so a process handing a segment to another
 * must stay alive (or keep it mapped) until the other has attached it. A
 * creator whose segment another process unlinked drops its hold at its next
 * SharedMemory call (or exit), which frees the memory once nobody maps it.
 * If the tracker itself is killed, a process
 * re-registers the segments it created at its next creation once the
 * tracker is gone (one made while the tracker is still exiting goes to it,
 * and counts only at the creation after); those of creators already dead
 * are then left to unlink() by hand.
 *
 * Creation reserves the pages (posix_fallocate): a full /dev/shm fails at
 * once with an ENOSPC error instead of a SIGBUS later. After close(), `buf`
 * throws and views made from it have length 0 (the buffer is detached before
 * the pages are unmapped), never a crash.
 *
 * Both travel to other processes by reference (their name): the receiver
 * attaches. Talks to: native.ts (shm.c), reduction.ts.
 */
import { checkBoolean } from "./errors.ts";
import { roomError } from "./heap.ts";
import { native } from "./native.ts";
import { reduce, travelling, type Reduction } from "./reduction.ts";
import { builtin, shared } from "./runtime.ts";

const { closeSync } = builtin("node:fs");
const { getSystemErrorName } = builtin("node:util");
const { EEXIST, EINVAL, ENOMEM } = builtin("node:os").constants.errno;

export interface SharedMemoryOptions {
  /** The segment's name, without the leading slash; generated (`psm_` + 8 hex digits) when creating without one. */
  name?: string | null;
  /** Create a new segment (an existing name is an EEXIST error); default false: attach an existing one. */
  create?: boolean;
  /** Bytes, required (> 0) when creating; ignored when attaching (the segment's real size is used). */
  size?: number;
}

const NAME_PREFIX = "psm_";
/** Linux NAME_MAX: a name is one file in /dev/shm. */
const NAME_LIMIT = 255;

const systemMessages: Record<string, string> = {
  ENOENT: "No such file or directory",
  EEXIST: "File exists",
  ENOSPC: "No space left on device: /dev/shm (or memory) is full",
  EACCES: "Permission denied",
  EINVAL: "Invalid argument",
  ENAMETOOLONG: "File name too long",
  EMFILE: "Too many open files",
  ENFILE: "Too many open files in system",
  ENOMEM: "Cannot allocate memory",
};

/** An Error shaped like Node's system errors: `code` ('ENOENT', 'EEXIST', ...), negative `errno`, `syscall`, `path`. */
function systemError(result: number, syscall: string, name: string, detail?: string): Error {
  let code: string;
  try {
    code = getSystemErrorName(result);
  } catch {
    code = `E${-result}`;
  }
  const text = detail ?? systemMessages[code] ?? code;
  const error = new Error(`${syscall} '/${name}': ${text} (${code})`) as Error & { code: string; errno: number; syscall: string; path: string };
  error.code = code;
  error.errno = result;
  error.syscall = syscall;
  error.path = `/${name}`;
  return error;
}

function checkName(name: unknown): string {
  if (typeof name !== "string") throw new TypeError(`a shared memory name must be a string, got ${typeof name}`);
  const bare = name.replace(/^\/+/, "");
  if (bare === "") throw new RangeError("a shared memory name cannot be empty");
  if (bare.includes("\0")) throw new RangeError("a shared memory name cannot contain a NUL character");
  if (bare.includes("/")) throw new RangeError(`a shared memory name cannot contain '/' after its first character: ${JSON.stringify(name)}`);
  if (Buffer.byteLength(bare) > NAME_LIMIT) throw new RangeError(`a shared memory name is at most ${NAME_LIMIT} bytes`);
  return bare;
}

function generatedName(): string {
  const bytes = new Uint8Array(4);
  globalThis.crypto.getRandomValues(bytes);
  return NAME_PREFIX + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const trackerState = shared("sharedMemory.tracker", () => ({ warned: false }));

function warnOnce(message: string): void {
  if (trackerState.warned) return;
  trackerState.warned = true;
  process.emitWarning(`${message}: segments of processes that crash may stay in /dev/shm until unlinked by hand`, "MultiprocWarning");
}

/** The tracker's program: the addon's own loop, no TypeScript loader, no library. */
const TRACKER_SCRIPT = "require(process.argv[1]).shmTrackerRun(3)";

/** Make sure this process is linked to a tracker, starting one when none runs. */
function ensureTracker(): void {
  const result = native().shmTrackerConnect();
  if (result > 0) startTracker(result);
  else if (result < 0) warnOnce(`multiproc: cannot reach the shared memory tracker (${getSystemErrorName(result)})`);
}

/** Start a tracker on the listening socket this process bound; what we already sent waits in that socket. */
function startTracker(listener: number): void {
  try {
    const { spawn } = builtin("node:child_process");
    const env: Record<string, string> = {};
    if (process.env.LD_LIBRARY_PATH) env.LD_LIBRARY_PATH = process.env.LD_LIBRARY_PATH;
    const label = process.env.MULTIPROC_SHM_TRACKER || "default";
    const child = spawn(process.execPath, ["-e", TRACKER_SCRIPT, native().shmAddonPath(), "multiproc-shm-tracker", label], {
      stdio: ["ignore", "ignore", "ignore", listener],
      detached: true,
      cwd: "/",
      env,
    });
    child.on("error", (err) => warnOnce(`multiproc: cannot start the shared memory tracker (${err.message})`));
    child.unref();
  } catch (err) {
    warnOnce(`multiproc: cannot start the shared memory tracker (${(err as Error).message})`);
  } finally {
    closeSync(listener);
  }
}

/** A named POSIX shared memory segment (Python's SharedMemory). */
export class SharedMemory implements Disposable {
  /** The segment's name, without the leading slash. */
  readonly name: string;
  /** Its size in bytes (attaching: the segment's real size). */
  readonly size: number;
  #buffer: ArrayBuffer | null;
  #view: Uint8Array | null;

  constructor(options: SharedMemoryOptions = {}) {
    if (options === null || typeof options !== "object") throw new TypeError("new SharedMemory({ name?, create?, size? })");
    checkBoolean(options.create, "create");
    const create = options.create ?? false;
    const size = options.size ?? 0;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new RangeError("'size' must be a positive integer");
    if (create && size === 0) throw new RangeError("'size' must be a positive number different from zero");
    if (!create && options.name == null) throw new RangeError("'name' can only be omitted when create is true");
    const addon = native();
    let name = options.name == null ? generatedName() : checkName(options.name);
    let opened: ReturnType<typeof addon.shmOpen>;
    if (create) {
      ensureTracker();
      for (let attempt = 0; ; attempt++) {
        opened = addon.shmOpen(name, true, size);
        // A generated name that is taken: draw another, as Python does.
        if (opened !== -EEXIST || options.name != null || attempt >= 100) break;
        name = generatedName();
      }
      if (typeof opened !== "number" && !opened.tracked) ensureTracker(); // a tracker died meanwhile: relinking re-registers our segments
    } else {
      opened = addon.shmOpen(name, false, 0);
    }
    if (opened === -ENOMEM && create) throw roomError(size, `creating SharedMemory '${name}'`, "/dev/shm");
    if (typeof opened === "number") {
      const detail = opened === -EINVAL && !create ? "the segment is empty (size 0): not set up, or not made to be attached" : undefined;
      throw systemError(opened, "shm_open", name, detail);
    }
    this.name = name;
    this.#buffer = opened.buffer;
    this.#view = new Uint8Array(opened.buffer);
    this.size = opened.buffer.byteLength;
  }

  /** The whole segment as bytes. Throws after close(). */
  get buf(): Uint8Array {
    if (!this.#view) throw new Error(`SharedMemory '${this.name}' is closed`);
    return this.#view;
  }

  /** Unmap the segment from this object (other objects and processes keep theirs). Idempotent. */
  close(): void {
    const buffer = this.#buffer;
    this.#buffer = null;
    this.#view = null;
    if (buffer) native().shmClose(buffer);
  }

  /**
   * Remove the name: nobody can attach it any more, and its memory goes when
   * the last mapping does. A second unlink throws an ENOENT error.
   */
  unlink(): void {
    const result = native().shmUnlink(this.name);
    if (result < 0) throw systemError(result, "shm_unlink", this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `SharedMemory(${JSON.stringify(this.name)}, size=${this.size})`;
  }

  [reduce](): Reduction {
    return sharedMemoryTravel({ name: this.name });
  }
}

const sharedMemoryTravel = travelling("SharedMemory", import.meta.url, ({ name }: { name: string }) => new SharedMemory({ name }));

/** What a ShareableList slot holds. Numbers are stored as float64 (exact integers up to 2^53); use a BigInt for 64-bit integers. */
export type ShareableValue = number | bigint | boolean | string | Uint8Array | null;

export interface ShareableListOptions {
  /** Create the list under this name, or (with `values` null) attach the list of that name. */
  name?: string | null;
}

/*
 * Layout (little-endian; in the spirit of Python's, not byte-compatible):
 *   0   uint32 count N, uint32 MAGIC
 *   8   (N + 1) uint64 slot offsets into the data area (slot i is [off[i], off[i+1]))
 *   D = 8 + 8 (N + 1): the data area, off[N] bytes; every slot is a multiple of 8 bytes
 *   D + off[N]: N descriptors of 8 bytes: uint8 type code, 3 spare, uint32 byte length (strings and bytes)
 * A number, bigint, boolean or null takes 8 bytes; a string or bytes its
 * UTF-8 / byte length rounded up to a multiple of 8 (at least 8), so any slot
 * can later take any scalar, or a string that fits.
 */
const MAGIC = 0x4c53504d; // "MPSL"
const enum Kind {
  Number = 0,
  BigInt = 1,
  Boolean = 2,
  String = 3,
  Bytes = 4,
  Null = 5,
}
const SLOT = 8;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Encoded {
  kind: Kind;
  value: ShareableValue;
  bytes?: Uint8Array;
}

function encode(value: unknown, where: string): Encoded {
  if (value === null) return { kind: Kind.Null, value };
  switch (typeof value) {
    case "number":
      return { kind: Kind.Number, value };
    case "boolean":
      return { kind: Kind.Boolean, value };
    case "bigint":
      if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`${where}: a BigInt in a ShareableList must fit in 64 bits`);
      return { kind: Kind.BigInt, value };
    case "string":
      return { kind: Kind.String, value, bytes: encoder.encode(value) };
  }
  if (value instanceof Uint8Array) return { kind: Kind.Bytes, value, bytes: value };
  const what = value === undefined ? "undefined (use null)" : typeof value === "object" ? `a ${(value as object).constructor?.name ?? "object"}` : `a ${typeof value}`;
  throw new TypeError(`${where}: a ShareableList holds numbers, BigInts, booleans, strings, Uint8Arrays and null, not ${what}`);
}

function slotSize(item: Encoded): number {
  return item.bytes ? Math.max(SLOT, Math.ceil(item.bytes.length / SLOT) * SLOT) : SLOT;
}

function sameValue(a: ShareableValue, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

const INDEX = /^(?:0|-?[1-9]\d*)$/;

/** `sl[0]`, `sl[1] = 42`, `0 in sl`: index keys go to get/set; everything else to the list itself. */
const indexAccess: ProxyHandler<ShareableList> = {
  get(target, key, receiver) {
    if (typeof key === "string" && INDEX.test(key)) return target.get(Number(key));
    return Reflect.get(target, key, receiver);
  },
  set(target, key, value, receiver) {
    if (typeof key === "string" && INDEX.test(key)) {
      target.set(Number(key), value as ShareableValue);
      return true;
    }
    return Reflect.set(target, key, value, receiver);
  },
  has(target, key) {
    if (typeof key === "string" && INDEX.test(key)) {
      const i = Number(key);
      return i >= -target.length && i < target.length;
    }
    return Reflect.has(target, key);
  },
};

/**
 * A fixed-length list of numbers, BigInts, booleans, strings, bytes and
 * nulls in one SharedMemory segment (Python's ShareableList). Items may be
 * replaced by any value that fits their slot; the length never changes.
 * No locking, as in Python: hold a Lock around updates other processes read.
 */
export class ShareableList implements Iterable<ShareableValue> {
  /** The segment the list lives in. */
  readonly shm: SharedMemory;
  [index: number]: ShareableValue;
  private readonly itemCount: number;
  /** Absolute byte offsets of the N slots, plus the end of the last. */
  private readonly slots: number[];
  /** Absolute byte offset of the descriptors. */
  private readonly descriptors: number;
  private readonly view: DataView;

  constructor(values?: Iterable<ShareableValue> | null, options: ShareableListOptions = {}) {
    // Array.from would take any object for an empty list: `new ShareableList({ name })` would create one instead of attaching.
    if (values != null && typeof (values as Partial<Iterable<unknown>>)[Symbol.iterator] !== "function") {
      const hint = typeof values === "object" && "name" in values ? ": to attach a list by name, write new ShareableList(null, { name })" : "";
      throw new TypeError(`ShareableList's values must be iterable (an array, say), got ${typeof values}${hint}`);
    }
    if (values == null && options.name != null) {
      this.shm = new SharedMemory({ name: options.name });
      this.view = new DataView(this.shm.buf.buffer, this.shm.buf.byteOffset, this.shm.size);
      ({ count: this.itemCount, slots: this.slots, descriptors: this.descriptors } = this.readLayout());
    } else {
      const items = Array.from(values ?? [], (value, i) => encode(value, `item ${i}`));
      const dataStart = SLOT + SLOT * (items.length + 1);
      this.slots = [dataStart];
      for (const item of items) this.slots.push(this.slots[this.slots.length - 1]! + slotSize(item));
      this.itemCount = items.length;
      this.descriptors = this.slots[items.length]!;
      this.shm = new SharedMemory({ name: options.name ?? null, create: true, size: this.descriptors + SLOT * items.length });
      this.view = new DataView(this.shm.buf.buffer, this.shm.buf.byteOffset, this.shm.size);
      this.view.setUint32(0, this.itemCount, true);
      this.view.setUint32(4, MAGIC, true);
      this.slots.forEach((offset, i) => this.view.setBigUint64(SLOT + SLOT * i, BigInt(offset - dataStart), true));
      items.forEach((item, i) => this.write(i, item));
    }
    return new Proxy(this, indexAccess);
  }

  private readLayout(): { count: number; slots: number[]; descriptors: number } {
    const fail = () => new RangeError(`shared memory '${this.shm.name}' does not hold a ShareableList`);
    if (this.shm.size < 2 * SLOT || this.view.getUint32(4, true) !== MAGIC) throw fail();
    const count = this.view.getUint32(0, true);
    const dataStart = SLOT + SLOT * (count + 1);
    if (dataStart + SLOT * count > this.shm.size) throw fail();
    const slots: number[] = [];
    for (let i = 0; i <= count; i++) slots.push(dataStart + Number(this.view.getBigUint64(SLOT + SLOT * i, true)));
    const descriptors = slots[count]!;
    if (descriptors + SLOT * count > this.shm.size || slots.some((s, i) => i > 0 && s < slots[i - 1]!)) throw fail();
    return { count, slots, descriptors };
  }

  get length(): number {
    return this.itemCount;
  }

  private position(index: number, what: string): number {
    if (!Number.isInteger(index)) throw new TypeError(`ShareableList ${what}: index must be an integer, got ${String(index)}`);
    const position = index < 0 ? index + this.itemCount : index;
    if (position < 0 || position >= this.itemCount) throw new RangeError(`ShareableList ${what}: index ${index} out of range (length ${this.itemCount})`);
    return position;
  }

  /** The item at `index` (negative counts from the end). Strings come back as strings, bytes as a Buffer copy. */
  get(index: number): ShareableValue {
    const i = this.position(index, "get");
    const start = this.slots[i]!;
    const descriptor = this.descriptors + SLOT * i;
    const kind = this.view.getUint8(descriptor) as Kind;
    switch (kind) {
      case Kind.Number:
        return this.view.getFloat64(start, true);
      case Kind.BigInt:
        return this.view.getBigInt64(start, true);
      case Kind.Boolean:
        return this.view.getUint8(start) !== 0;
      case Kind.Null:
        return null;
      case Kind.String:
      case Kind.Bytes: {
        const length = Math.min(this.view.getUint32(descriptor + 4, true), this.slots[i + 1]! - start);
        const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + start, length);
        return kind === Kind.String ? decoder.decode(bytes) : Buffer.from(bytes);
      }
      default:
        throw new RangeError(`ShareableList '${this.shm.name}': item ${i} has an unknown type code ${kind as number}`);
    }
  }

  /** Replace the item at `index`. A string or bytes longer than the slot throws, and nothing is written. */
  set(index: number, value: ShareableValue): void {
    const i = this.position(index, "set");
    const item = encode(value, `ShareableList set(${index})`);
    const capacity = this.slots[i + 1]! - this.slots[i]!;
    if (item.bytes && item.bytes.length > capacity) {
      throw new RangeError(`bytes/str item exceeds available storage: ${item.bytes.length} bytes, slot ${index} holds ${capacity}`);
    }
    this.write(i, item);
  }

  private write(i: number, item: Encoded): void {
    const start = this.slots[i]!;
    let length = 0;
    switch (item.kind) {
      case Kind.Number:
        this.view.setFloat64(start, item.value as number, true);
        break;
      case Kind.BigInt:
        this.view.setBigInt64(start, item.value as bigint, true);
        break;
      case Kind.Boolean:
        this.view.setUint8(start, item.value ? 1 : 0);
        break;
      case Kind.String:
      case Kind.Bytes:
        new Uint8Array(this.view.buffer, this.view.byteOffset + start, item.bytes!.length).set(item.bytes!);
        length = item.bytes!.length;
        break;
      case Kind.Null:
        break;
    }
    const descriptor = this.descriptors + SLOT * i;
    this.view.setUint8(descriptor, item.kind);
    this.view.setUint32(descriptor + 4, length, true);
  }

  *[Symbol.iterator](): IterableIterator<ShareableValue> {
    for (let i = 0; i < this.itemCount; i++) yield this.get(i);
  }

  /** How many items equal `value` (bytes compare by content). */
  count(value: ShareableValue): number {
    let n = 0;
    for (const item of this) if (sameValue(item, value)) n++;
    return n;
  }

  /** The first index holding `value`; throws a RangeError when there is none, as Python's ValueError. */
  index(value: ShareableValue): number {
    let i = 0;
    for (const item of this) {
      if (sameValue(item, value)) return i;
      i++;
    }
    throw new RangeError(`${String(value)} is not in this ShareableList`);
  }

  toString(): string {
    const shown = Array.from(this, (v) => (typeof v === "string" ? JSON.stringify(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : typeof v === "bigint" ? `${v}n` : String(v)));
    return `ShareableList([${shown.join(", ")}], name=${JSON.stringify(this.shm.name)})`;
  }

  [reduce](): Reduction {
    return shareableListTravel({ name: this.shm.name });
  }
}

const shareableListTravel = travelling("ShareableList", import.meta.url, ({ name }: { name: string }) => new ShareableList(null, { name }));
