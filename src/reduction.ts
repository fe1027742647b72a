/*
 * How values cross a process boundary (Python's reduction.py + pickle).
 *
 * The wire format is V8's structured clone (`v8.serialize`), which already
 * carries primitives, BigInt, Date, RegExp, Map, Set, typed arrays, Buffers,
 * plain objects, arrays and cycles. Before it runs, one walk over the value
 * replaces what structured clone cannot carry faithfully with tagged records:
 *
 *   - functions: by reference (module + export), see functionRefs.ts;
 *   - errors: class, name, message, stack, cause and own fields;
 *   - instances of classes registered with registerSerializable;
 *   - library objects (Lock, Queue, ...) that implement `[reduce]()`: they
 *     travel as a small state record and are re-opened on arrival;
 *   - sockets and servers, when the channel can pass OS handles.
 *
 * Anything else that cannot travel (a closure, a symbol, a WeakMap) is
 * refused at the sending call with the path inside the value: `args[1].cb`.
 * The receiver first imports the modules the records name (so classes and
 * rebuilders register themselves), then swaps the records back.
 *
 * Talks to: functionRefs.ts; every class that travels by reference.
 */

import type { Server, Socket } from "node:net";
import type { Outgoing } from "./channel.ts";
import { FunctionLookupError, importModule, isImported, loadFunctionSync, locateFunction, type FunctionRef } from "./functionRefs.ts";
import { libraryErrors, SerializationError } from "./errors.ts";
import { builtin, isLibraryOwn, libraryOwn, sameLibraryVersion, shared } from "./runtime.ts";

export { SerializationError };

const { EventEmitter } = builtin("node:events");
const { serialize, deserialize } = builtin("node:v8");

/**
 * Implemented by library objects that travel by reference. Returns the
 * rebuilder's registered type, the module that registers it, and a state
 * that structured clone can carry (it is itself reduced, so it may hold
 * other library objects).
 */
export const reduce = Symbol.for("multiproc.reduce");

export interface Reduction {
  type: string;
  module: string;
  state: unknown;
}

export interface Reducible {
  [reduce](): Reduction;
}

/**
 * Implemented by library objects whose reduction reserved something for the
 * receiver (a pipe end registers the receiver as a holder in advance):
 * called with that reduction's state once the receiver is gone, so that
 * what it never took over (it died first) is given back.
 */
export const abandon = Symbol.for("multiproc.abandon");

interface Abandonable {
  [abandon](state: unknown): void;
}

type Constructor = abstract new (...args: never[]) => object;
type Rebuilder = (state: unknown) => unknown;

interface Registries {
  classes: Map<string, Constructor>;
  keys: WeakMap<Constructor, string>;
  rebuilders: Map<string, Rebuilder>;
  /** The modules that registered the library's travelling types here: a value naming them needs no import. */
  travelModules: Set<string>;
}

const registries = shared<Registries>("reduction.registries", () => ({
  classes: new Map(),
  keys: new WeakMap(),
  rebuilders: new Map(),
  travelModules: new Set(),
}));

/**
 * Keep the class of user objects (and errors) across the boundary. The
 * class must be registered in both processes, under the same name: call this
 * at the top level of the module that defines it.
 */
export function registerSerializable<C extends Constructor>(cls: C, name: string = cls.name): C {
  if (typeof cls !== "function") throw new TypeError("registerSerializable(cls): cls must be a class");
  if (!name) throw new TypeError("registerSerializable(cls, name): an anonymous class needs an explicit name");
  const existing = registries.classes.get(name);
  if (existing && existing !== cls) {
    if (!sameLibraryVersion(existing, cls)) throw new TypeError(`registerSerializable: another class is already registered as "${name}"`);
    // A second copy of this library (same version) met the first: its instances travel under the same name, and arrive as the first copy's.
    registries.keys.set(cls, name);
    return cls;
  }
  registries.classes.set(name, cls);
  registries.keys.set(cls, name);
  return cls;
}

/** Register how to re-open a library object of `type` from its reduced state. */
export function registerRebuilder(type: string, rebuild: Rebuilder): void {
  registries.rebuilders.set(type, rebuild);
}

/** Makes the reduction of one travelling type; `type` names its rebuild. */
export interface Travel<S> {
  (state: S): Reduction;
  readonly type: string;
}

/**
 * Register a travelling type's rebuild and get the function its `[reduce]()`
 * calls, so that the type is named once. `module` is the registering
 * module's URL: the receiver imports it to find the rebuild.
 */
export function travelling<S>(type: string, module: string, rebuild: (state: S) => unknown): Travel<S> {
  registerRebuilder(type, rebuild as Rebuilder);
  registries.travelModules.add(module);
  return Object.assign((state: S): Reduction => ({ type, module, state }), { type });
}

for (const errorClass of libraryErrors) registerSerializable(libraryOwn(errorClass));

const TAG = "\u0000multiproc";

type Tagged =
  | { [TAG]: "fn"; ref: FunctionRef }
  | { [TAG]: "err"; cls?: string; name: string; message: string; stack?: string; cause?: unknown; hasCause: boolean; errors?: unknown; fields: Record<string, unknown> }
  | { [TAG]: "obj"; cls: string; fields: Record<string, unknown> }
  | { [TAG]: "reduce"; type: string; state: unknown }
  | { [TAG]: "handle"; index: number };

/** An OS handle passed beside a message (only where the channel supports it). */
export type Handle = Socket | Server;

export interface Dumped {
  data: Buffer;
  handles: Handle[];
  /**
   * The library objects the message refers to. Keep them alive until the
   * receiver has them open: the receiver re-opens them through this process.
   */
  references: Reducible[];
  /** Call once the receiver is gone: see `abandon`. */
  release(): void;
}

export interface DumpOptions {
  /** Collect sockets/servers here instead of refusing them. */
  acceptHandles?: boolean;
  /** How the root is named in error paths; "" makes top-level keys bare (`args[1]`). */
  root?: string;
}

/** Serialize `value` for another process. Throws SerializationError with the path of what cannot travel. */
export function dumps(value: unknown, options: DumpOptions = {}): Dumped {
  const walker = new Encoder(options.acceptHandles ?? false);
  const root = options.root ?? "value";
  const special = walker.scan(value, root);
  const modules = [...walker.modules];
  const payload = special ? walker.encode(value) : value;
  let data: Buffer;
  try {
    data = serialize([modules, special, payload]);
  } catch (err) {
    throw new SerializationError(`${root} cannot be serialized: ${(err as Error).message}`, root);
  }
  const reductions = walker.reductions;
  const release = () => {
    for (const [object, reduction] of reductions) (object as Partial<Abandonable>)[abandon]?.(reduction.state);
    reductions.clear();
  };
  return { data, handles: walker.handles, references: [...reductions.keys()], release };
}

/**
 * Whether a value naming `module` needs it imported first. Not when the module registered travelling types
 * here: the library's CommonJS build registers them under the names of its ES module files (what a child
 * imports), which jest's CommonJS mode, where that build runs, cannot import.
 */
function needsImport(module: string): boolean {
  return !registries.travelModules.has(module) && !isImported(module);
}

/** Rebuild a value from `dumps`, importing the modules it refers to first. */
export async function loads(data: Uint8Array, handles: readonly Handle[] = []): Promise<unknown> {
  const [modules, special, payload] = deserialize(data) as [string[], boolean, unknown];
  for (const module of modules) if (needsImport(module)) await importModule(module);
  return special ? new Decoder(handles).decode(payload) : payload;
}

/** Rebuild a value from `dumps` without awaiting: modules it refers to must already be loaded (or be loadable with require). */
export function loadsSync(data: Uint8Array, handles: readonly Handle[] = []): unknown {
  const [, special, payload] = deserialize(data) as [string[], boolean, unknown];
  return special ? new Decoder(handles).decode(payload) : payload;
}

/** loads without awaiting, when every module the value refers to is imported already (the usual case); undefined otherwise. */
export function loadsIfImported(data: Uint8Array): { value: unknown } | undefined {
  const [modules, special, payload] = deserialize(data) as [string[], boolean, unknown];
  if (modules.some(needsImport)) return undefined;
  return { value: special ? new Decoder([]).decode(payload) : payload };
}

let net: typeof import("node:net") | undefined;

/** Sockets and servers are EventEmitters; node:net is only loaded to tell which, when one shows up. */
function isHandle(value: object): value is Handle {
  if (!(value instanceof EventEmitter)) return false;
  net ??= builtin("node:net");
  return value instanceof net.Socket || value instanceof net.Server;
}

function isReducible(value: object): value is Reducible {
  return typeof (value as Partial<Reducible>)[reduce] === "function";
}

function isLeafObject(value: object): boolean {
  return (
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value) ||
    value instanceof Boolean ||
    value instanceof Number ||
    value instanceof String ||
    value instanceof BigInt
  );
}

function refused(value: object): string | undefined {
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) return `a ${value.constructor.name}`;
  if (value instanceof Promise) return "a Promise (await it first)";
  if (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer) return "a SharedArrayBuffer (use SharedArray or SharedMemory to share memory between processes)";
  return undefined;
}

/** Numbers, strings, booleans, undefined, null and bigints travel as they are: a large array of them is checked without a path per element. */
function mayNeedScan(value: unknown): boolean {
  const type = typeof value;
  return type === "object" ? value !== null : type === "function" || type === "symbol";
}

/** Longest array of primitives needsScan() passes over without scanning it. */
const SHORT_ARRAY = 64;

/**
 * Whether the encoder must look into `value`. Not for primitives, nor for a
 * short plain array of them (a map's chunk: scanning thousands of them,
 * each with its path built for error messages, was most of what encoding a
 * pool's batch of tasks cost).
 */
function needsScan(value: unknown): boolean {
  if (!mayNeedScan(value)) return false;
  if (!Array.isArray(value) || value.length > SHORT_ARRAY || Object.getPrototypeOf(value) !== Array.prototype) return true;
  for (let i = 0; i < value.length; i++) if (mayNeedScan(value[i])) return true;
  return false;
}

function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

class Encoder {
  readonly modules = new Set<string>();
  readonly handles: Handle[] = [];
  private readonly scanned = new Set<object>();
  private readonly encoded = new Map<unknown, unknown>();
  private readonly functionRefs = new Map<unknown, FunctionRef>();
  readonly reductions = new Map<Reducible, Reduction>();

  constructor(private readonly acceptHandles: boolean) {}

  /** Validate the whole value; true when some part needs the tagged encoding. */
  scan(value: unknown, path: string): boolean {
    if (typeof value === "function") {
      try {
        const ref = locateFunction(value, "function");
        this.functionRefs.set(value, ref);
        this.modules.add(ref.module);
      } catch (err) {
        if (!(err instanceof FunctionLookupError)) throw err;
        throw new SerializationError(`${path} cannot be sent to another process: ${err.message}`, path);
      }
      return true;
    }
    if (typeof value === "symbol") throw new SerializationError(`${path} is a symbol, which cannot be sent to another process`, path);
    if (value === null || typeof value !== "object") return false;
    if (this.scanned.has(value)) return false;
    this.scanned.add(value);
    if (isReducible(value)) {
      const reduction = value[reduce]();
      this.reductions.set(value, reduction);
      this.modules.add(reduction.module);
      this.scan(reduction.state, path);
      return true;
    }
    if (isHandle(value)) {
      if (!this.acceptHandles) {
        throw new SerializationError(`${path} is a ${value.constructor.name}: sockets and servers can only be passed as arguments of a spawn Process`, path);
      }
      return true;
    }
    const why = refused(value);
    if (why) throw new SerializationError(`${path} is ${why}, which cannot be sent to another process`, path);
    if (isLeafObject(value)) return false;
    let special = false;
    if (value instanceof Error) {
      this.classModule(value);
      special = true;
      this.scan(value.cause, `${path}.cause`);
      if (value instanceof AggregateError) this.scan(value.errors, `${path}.errors`);
    } else if (registries.keys.has(value.constructor as Constructor)) {
      this.classModule(value);
      special = true;
    }
    if (value instanceof Map) {
      let i = 0;
      for (const [k, v] of value) {
        if (this.scan(k, `${path}.<key ${i}>`)) special = true;
        if (this.scan(v, childPath(path, typeof k === "string" ? k : `<value ${i}>`))) special = true;
        i++;
      }
    } else if (value instanceof Set) {
      let i = 0;
      for (const v of value) if (this.scan(v, `${path}.<element ${i++}>`)) special = true;
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (needsScan(item) && this.scan(item, childPath(path, i))) special = true;
      }
    } else {
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        if (needsScan(item) && this.scan(item, childPath(path, key))) special = true;
      }
    }
    return special;
  }

  private classModule(value: object): void {
    const key = registries.keys.get(value.constructor as Constructor);
    // Every receiver has the library's own classes registered: naming their module would only make it import a file of
    // this copy (one that jest's CommonJS mode cannot import, when this copy is the ES module build).
    if (!key || isLibraryOwn(value.constructor)) return;
    try {
      this.modules.add(locateFunction(value.constructor, "class").module);
    } catch {
      // Registered in both processes by contract; the module hint only helps a receiver that has not loaded it yet.
    }
  }

  /** Build the tagged copy of a value that `scan` accepted. */
  encode(value: unknown): unknown {
    if (typeof value === "function") return { [TAG]: "fn", ref: this.functionRefs.get(value)! } satisfies Tagged;
    if (value === null || typeof value !== "object" || isLeafObject(value)) return value;
    if (this.encoded.has(value)) return this.encoded.get(value);
    const reduction = this.reductions.get(value as Reducible);
    if (reduction) {
      const { type, state } = reduction;
      const tagged: Tagged = { [TAG]: "reduce", type, state: undefined };
      this.encoded.set(value, tagged);
      tagged.state = this.encode(state);
      return tagged;
    }
    if (isHandle(value)) {
      const tagged: Tagged = { [TAG]: "handle", index: this.handles.push(value) - 1 };
      this.encoded.set(value, tagged);
      return tagged;
    }
    if (value instanceof Error) return this.encodeError(value);
    const cls = registries.keys.get(value.constructor as Constructor);
    if (cls) {
      const tagged: Tagged = { [TAG]: "obj", cls, fields: {} };
      this.encoded.set(value, tagged);
      this.encodeFields(value, tagged.fields);
      return tagged;
    }
    if (value instanceof Map) {
      const copy = new Map();
      this.encoded.set(value, copy);
      for (const [k, v] of value) copy.set(this.encode(k), this.encode(v));
      return copy;
    }
    if (value instanceof Set) {
      const copy = new Set();
      this.encoded.set(value, copy);
      for (const v of value) copy.add(this.encode(v));
      return copy;
    }
    if (Array.isArray(value)) {
      const copy: unknown[] = new Array(value.length);
      this.encoded.set(value, copy);
      for (let i = 0; i < value.length; i++) copy[i] = this.encode(value[i]);
      return copy;
    }
    const copy: Record<string, unknown> = {};
    this.encoded.set(value, copy);
    this.encodeFields(value, copy);
    return copy;
  }

  private encodeFields(value: object, into: Record<string, unknown>, skip?: ReadonlySet<string>): void {
    for (const key of Object.keys(value)) {
      if (!skip?.has(key)) into[key] = this.encode((value as Record<string, unknown>)[key]);
    }
  }

  private encodeError(error: Error): Tagged {
    const tagged: Tagged & { [TAG]: "err" } = {
      [TAG]: "err",
      name: error.name,
      message: error.message,
      stack: error.stack,
      hasCause: "cause" in error,
      fields: {},
    };
    const cls = registries.keys.get(error.constructor as Constructor);
    if (cls) tagged.cls = cls;
    this.encoded.set(error, tagged);
    if (tagged.hasCause) tagged.cause = this.encode(error.cause);
    if (error instanceof AggregateError) tagged.errors = this.encode(error.errors);
    this.encodeFields(error, tagged.fields, errorOwnKeys);
    return tagged;
  }
}

const errorOwnKeys: ReadonlySet<string> = new Set(["name", "message", "stack", "cause"]);

const builtinErrors: Record<string, ErrorConstructor | AggregateErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

function isTagged(value: unknown): value is Tagged {
  return value !== null && typeof value === "object" && TAG in value;
}

class Decoder {
  private readonly decoded = new Map<object, unknown>();

  constructor(private readonly handles: readonly Handle[]) {}

  decode(value: unknown): unknown {
    if (value === null || typeof value !== "object" || isLeafObject(value)) return value;
    if (this.decoded.has(value)) return this.decoded.get(value);
    if (isTagged(value)) return this.decodeTagged(value);
    // Structured clone gave us fresh containers: rebuild tagged parts in place.
    this.decoded.set(value, value);
    if (value instanceof Map) {
      const entries = [...value];
      value.clear();
      for (const [k, v] of entries) value.set(this.decode(k), this.decode(v));
    } else if (value instanceof Set) {
      const items = [...value];
      value.clear();
      for (const v of items) value.add(this.decode(v));
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.decode(value[i]);
    } else {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = this.decode(record[key]);
    }
    return value;
  }

  private decodeTagged(tagged: Tagged): unknown {
    switch (tagged[TAG]) {
      case "fn": {
        const fn = loadFunctionSync(tagged.ref);
        this.decoded.set(tagged, fn);
        return fn;
      }
      case "handle": {
        const handle = this.handles[tagged.index];
        if (!handle) throw new SerializationError(`handle #${tagged.index} did not arrive with its message`, "handle");
        this.decoded.set(tagged, handle);
        return handle;
      }
      case "reduce": {
        const rebuild = registries.rebuilders.get(tagged.type);
        if (!rebuild) throw new SerializationError(`no rebuilder registered for library type "${tagged.type}"`, tagged.type);
        const rebuilt = rebuild(this.decode(tagged.state));
        this.decoded.set(tagged, rebuilt);
        return rebuilt;
      }
      case "obj": {
        const cls = registries.classes.get(tagged.cls);
        if (!cls) {
          throw new SerializationError(`class "${tagged.cls}" is not registered in this process: call registerSerializable(${tagged.cls}) at the top level of its module`, tagged.cls);
        }
        const instance = Object.create(cls.prototype as object) as Record<string, unknown>;
        this.decoded.set(tagged, instance);
        for (const key of Object.keys(tagged.fields)) instance[key] = this.decode(tagged.fields[key]);
        return instance;
      }
      case "err":
        return this.decodeError(tagged);
    }
  }

  private decodeError(tagged: Tagged & { [TAG]: "err" }): Error {
    const cls = (tagged.cls && registries.classes.get(tagged.cls)) || builtinErrors[tagged.name] || Error;
    const error = Object.create(cls.prototype as object) as Error;
    this.decoded.set(tagged, error);
    const hidden = (key: string, value: unknown) =>
      Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: false });
    hidden("message", tagged.message);
    if (tagged.stack !== undefined) hidden("stack", tagged.stack);
    if (error.name !== tagged.name) hidden("name", tagged.name);
    if (tagged.hasCause) hidden("cause", this.decode(tagged.cause));
    if (tagged.errors !== undefined) hidden("errors", this.decode(tagged.errors));
    for (const key of Object.keys(tagged.fields)) (error as unknown as Record<string, unknown>)[key] = this.decode(tagged.fields[key]);
    return error;
  }
}

/*
 * Messages on queues and connections: a tag and a payload. The common cheap
 * values (numbers, strings, byte arrays, null, booleans) skip structured
 * clone, which costs a microsecond even for a small int; anything else goes
 * through dumps().
 */
export const MessageTag = {
  Dumped: 0,
  Number: 1,
  String: 2,
  Bytes: 3,
  Buffer: 4,
  Undefined: 5,
  Null: 6,
  True: 7,
  False: 8,
  /** A plain array of numbers, as float64s. */
  Numbers: 9,
} as const;

export interface Message {
  tag: number;
  payload: Uint8Array;
}

const utf8 = new TextEncoder();
/** ES2024's String.prototype.isWellFormed (Node 20 has it; the compiler's lib stops at ES2022). */
type WellFormed = string & { isWellFormed(): boolean };
const fromUtf8 = new TextDecoder();
const EMPTY = new Uint8Array(0);
/** Numbers go through these (a DataView per message costs more than the rest of a queue put). */
const scratchNumber = new Float64Array(1);
const scratchBytes = new Uint8Array(scratchNumber.buffer);

/** The float64 at bytes[at, at + 8), whatever its alignment. */
export function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) scratchBytes[i] = bytes[at + i]!;
  return scratchNumber[0]!;
}

/** Write `value` as a float64 at bytes[at, at + 8), whatever its alignment. */
export function writeFloat64(bytes: Uint8Array, at: number, value: number): void {
  scratchNumber[0] = value;
  for (let i = 0; i < 8; i++) bytes[at + i] = scratchBytes[i]!;
}

/** Encode `value` as one message. Throws SerializationError (path from `root`) for what cannot travel. */
export function encodeMessage(value: unknown, root = "value"): Message {
  switch (typeof value) {
    case "number":
      scratchNumber[0] = value;
      return { tag: MessageTag.Number, payload: scratchBytes.slice() };
    case "string":
      // UTF-8 cannot carry a lone surrogate (it would arrive as U+FFFD): such strings take the general path.
      if ((value as WellFormed).isWellFormed()) return { tag: MessageTag.String, payload: utf8.encode(value) };
      break;
    case "undefined":
      return { tag: MessageTag.Undefined, payload: EMPTY };
    case "boolean":
      return { tag: value ? MessageTag.True : MessageTag.False, payload: EMPTY };
    case "object":
      if (value === null) return { tag: MessageTag.Null, payload: EMPTY };
      if (value instanceof Uint8Array && (value.constructor === Uint8Array || Buffer.isBuffer(value))) {
        return { tag: Buffer.isBuffer(value) ? MessageTag.Buffer : MessageTag.Bytes, payload: value };
      }
      // The constructor copies a plain array in one pass; Float64Array.from goes through its iterator, twice as slow.
      if (isNumberArray(value)) return { tag: MessageTag.Numbers, payload: new Uint8Array(new Float64Array(value).buffer) };
  }
  return { tag: MessageTag.Dumped, payload: dumps(value, { root }).data };
}

/**
 * encodeMessage's string case for a shared-memory channel: the record
 * that writes the string straight into the ring (TextEncoder.encode
 * makes a buffer per call, about 1 µs; encodeInto a tenth of it).
 * Undefined for a string UTF-8 cannot carry. One record serves every
 * write: a channel write fills it at once.
 */
export function stringRecord(value: string): Outgoing | undefined {
  if (!(value as WellFormed).isWellFormed()) return undefined;
  return reusedStringRecord.of(value);
}

class StringRecord implements Outgoing {
  readonly tag = MessageTag.String;
  length = 0;
  #value = "";

  of(value: string): this {
    this.#value = value;
    this.length = Buffer.byteLength(value);
    return this;
  }

  fill(bytes: Uint8Array, at: number): void {
    utf8.encodeInto(this.#value, bytes.subarray(at, at + this.length));
    this.#value = "";
  }
}

const reusedStringRecord = new StringRecord();

/**
 * A plain array with only numbers in it (no holes): such arrays travel as
 * float64s, 5-10x cheaper than structured clone both ways. (Named
 * properties set on an array are not carried; no library path uses them.)
 */
function isNumberArray(value: object): value is number[] {
  if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype || value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== "number") return false;
  return true;
}

/** bytes[at, end) as float64s: a view over them where they are aligned (a channel's records are), else over a copy. */
export function float64sAt(bytes: Uint8Array, at: number, end: number): Float64Array {
  const aligned = (bytes.byteOffset + at) % 8 === 0;
  // Uint8Array's slice copies; a Buffer's own slice() would be a view, as unaligned as the bytes.
  const source = aligned ? bytes : Uint8Array.prototype.slice.call(bytes, at, end);
  return new Float64Array(source.buffer, source.byteOffset + (aligned ? at : 0), (end - at) / 8);
}

/** What decodeValueAt returns for a dumped message (it needs loads()). */
export const DUMPED: unique symbol = Symbol("dumped");

/**
 * The value of a message in bytes[at, end) that needs no module loaded, or
 * DUMPED. `owned`: the bytes are the message's own, and the value may keep
 * them as its memory; else (a reader looking into a ring) what it keeps is
 * copied. Allocates nothing but the value.
 */
export function decodeValueAt(tag: number, bytes: Uint8Array, at: number, end: number, owned: boolean): unknown {
  switch (tag) {
    case MessageTag.Number:
      return readFloat64(bytes, at);
    case MessageTag.String:
      return fromUtf8.decode(bytes.subarray(at, end));
    case MessageTag.Bytes:
      return owned && at === 0 && end === bytes.length ? bytes : bytes.slice(at, end);
    case MessageTag.Buffer: {
      const own = owned ? bytes : bytes.slice(at, end);
      const offset = owned ? at : 0;
      return Buffer.from(own.buffer, own.byteOffset + offset, end - at);
    }
    case MessageTag.Undefined:
      return undefined;
    case MessageTag.Null:
      return null;
    case MessageTag.True:
      return true;
    case MessageTag.False:
      return false;
    case MessageTag.Numbers: {
      const numbers = float64sAt(bytes, at, end);
      // Filled with a double first, the array keeps unboxed doubles: 3x faster than Array.from.
      const value = new Array<number>(numbers.length).fill(0.5);
      for (let i = 0; i < numbers.length; i++) value[i] = numbers[i]!;
      return value;
    }
    case MessageTag.Dumped:
      return DUMPED;
    default:
      throw new SerializationError(`not a multiproc message (tag ${tag})`, "message");
  }
}

/** The value of a message that needs no module loaded; undefined for a dumped one. The payload becomes the value's memory. */
function decodeCheap({ tag, payload }: Message): { value: unknown } | undefined {
  const value = decodeValueAt(tag, payload, 0, payload.length, true);
  return value === DUMPED ? undefined : { value };
}

/** Rebuild a message from encodeMessage, importing the modules it refers to first. */
export function decodeMessage(message: Message): Promise<unknown> {
  const cheap = decodeCheap(message);
  return cheap ? Promise.resolve(cheap.value) : loads(message.payload);
}

/** The same without awaiting: modules the message refers to must already be loaded (or be loadable with require). */
export function decodeMessageSync(message: Message): unknown {
  return (decodeCheap(message) ?? { value: loadsSync(message.payload) }).value;
}
