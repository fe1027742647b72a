/*
 * What a pool and its workers say to each other, and the channels they say
 * it on (Python's pool.py sends tuples over two SimpleQueues). Each worker
 * slot has a task channel of its own, so the parent always knows which
 * tasks a worker holds; all workers share one result channel, which the
 * parent drains in one loop (one wake for many results).
 *
 * Messages carry a small binary header before the serialized body, so that
 * a body that fails to decode still names its sender and the task it
 * answers: that becomes the task's error, never a lost result.
 *
 *   task message   (parent → worker): u32 count, u32 ordinal of its first task
 *                   (the parent numbers each worker's tasks), u32 length of the
 *                   function table, u32 flags (1: say when each task begins,
 *                   for a task whose timeout runs from its start), then
 *                   dumps([id, ref, ...]) and dumps([kind, fnId, payload, ...]);
 *                   count 0 = stop.
 *   result message (worker → parent): i32 slot, generation, kind, arg, then
 *                   a body. Tasks' outcomes (kind Results): arg = how many, the
 *                   outcomes of the worker's oldest unanswered tasks in order;
 *                   each is i32 ok | single << 1 | tag << 8 (single: a one-item
 *                   chunk's value, sent bare), f64 ms the task ran, u32 length,
 *                   and the value as encodeMessage made it (numbers, strings and
 *                   bytes skip structured clone).
 *
 * This module writes and reads both directions; nothing else knows the layout.
 *
 * Talks to: channel.ts, reduction.ts; pool/engine.ts and pool/worker.ts are
 * the two sides.
 */
import { Channel, type ChannelState, type Outgoing } from "../channel.ts";
import { MaybeEncodingError } from "../errors.ts";
import type { FunctionRef } from "../functionRefs.ts";
import { decodeValueAt, DUMPED, dumps, float64sAt, encodeMessage, loads, loadsIfImported, MessageTag, readFloat64, reduce, travelling, writeFloat64, type Message, type Reduction } from "../reduction.ts";

/** What a task asks the worker to do with its function. */
export const TaskKind = {
  /** fn(...args[, kwargs]) */
  Apply: 0,
  /** items.map(fn) */
  Map: 1,
  /** items.map(args => fn(...args)) */
  Starmap: 2,
} as const;
export type TaskKind = (typeof TaskKind)[keyof typeof TaskKind];

/**
 * A task as it travels. payload: the items of a chunk, or for Apply the
 * bytes of dumps({ args, kwargs }), made when the task was submitted so
 * that what cannot travel fails the call.
 */
export interface TaskSpec {
  readonly kind: TaskKind;
  readonly fnId: number;
  readonly payload: unknown;
}

/** Fields per task in the flat task array: kind, fnId, payload. */
const TASK_STRIDE = 3;

export const ResultKind = {
  /** The worker ran its initializer and waits for tasks. */
  Ready: 1,
  /** The initializer threw; body: the error. The worker exits. */
  InitFailed: 2,
  /** The outcomes of the worker's oldest unanswered tasks (see the header comment). */
  Results: 3,
  /** Written by the parent itself after a worker exited; arg: the exit code. Ordered after everything the worker wrote. */
  Exited: 4,
  /** The worker begins a task whose message asked to be told (arg: the task's ordinal). */
  Begun: 5,
} as const;
export type ResultKind = (typeof ResultKind)[keyof typeof ResultKind];

const RESULT_HEADER = 16;
/** An outcome's bytes before its value: arg, ms, length. */
const OUTCOME_HEADER = 16;
/** A worker's buffer of held outcomes starts this large, and goes back to it once it has grown beyond RECORDS_KEPT. */
const RECORDS_START = 4096;
const RECORDS_KEPT = 1 << 20;
const TASK_HEADER = 16;
const REPORT_BEGIN = 1;
/** Pool messages are only read by pool code: one tag for all. */
const TAG = 0;

/** A channel that travels to a worker as a Process argument (queues do the same through their own class). */
export class PoolChannel {
  constructor(readonly channel: Channel) {}

  [reduce](): Reduction {
    return poolChannelTravel(this.channel.state());
  }
}

const poolChannelTravel = travelling<ChannelState>("PoolChannel", import.meta.url, (state) => new PoolChannel(Channel.open(state)));

/** A result message's header; its body is bytes[at + 16, end) (the message may lie in the channel's ring: read it at once). */
export interface ResultHeader {
  slot: number;
  generation: number;
  kind: ResultKind;
  /** Depends on the kind (see ResultKind). */
  arg: number;
  bytes: Uint8Array;
  at: number;
  end: number;
}

function readInt32(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

function writeInt32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >> 8;
  bytes[at + 2] = value >> 16;
  bytes[at + 3] = value >> 24;
}

export function resultMessage(slot: number, generation: number, kind: ResultKind, arg: number, body?: Uint8Array): Message {
  const payload = new Uint8Array(RESULT_HEADER + (body?.byteLength ?? 0));
  writeInt32(payload, 0, slot);
  writeInt32(payload, 4, generation);
  writeInt32(payload, 8, kind);
  writeInt32(payload, 12, arg);
  if (body) payload.set(body, RESULT_HEADER);
  return { tag: TAG, payload };
}

/** The header of the result message in bytes[at, at + length), written into `into` (a reader of many reuses one). */
export function readResultAt(bytes: Uint8Array, at: number, length: number, into: ResultHeader): ResultHeader {
  into.slot = readInt32(bytes, at);
  into.generation = readInt32(bytes, at + 4);
  into.kind = readInt32(bytes, at + 8) as ResultKind;
  into.arg = readInt32(bytes, at + 12);
  into.bytes = bytes;
  into.at = at;
  into.end = at + length;
  return into;
}

/** A header to read into. */
export function resultHeader(): ResultHeader {
  return { slot: 0, generation: 0, kind: ResultKind.Ready, arg: 0, bytes: new Uint8Array(0), at: 0, end: 0 };
}

export function readResult({ payload }: Message): ResultHeader {
  return readResultAt(payload, 0, payload.length, resultHeader());
}

function bodyOf(header: ResultHeader): Uint8Array {
  return header.bytes.subarray(header.at + RESULT_HEADER, header.end);
}

/**
 * A worker's task outcomes as one Results message, written in place in the
 * result channel (one writer per worker, emptied after each write: number
 * results allocate nothing). Each carries how long its task ran, whether it
 * succeeded, and its value or error encoded. A chunk's results of one item
 * travel without their array (`single`: a chunksize-1 map then skips
 * structured clone for numbers and strings). A value that cannot be
 * serialized becomes the task's error (MaybeEncodingError), an error that
 * cannot, its name, message and stack: never a lost result.
 */
export class OutcomeWriter implements Outgoing {
  readonly tag = TAG;
  #records = new Uint8Array(RECORDS_START);
  #size = 0;
  #count = 0;

  constructor(
    readonly slot: number,
    readonly generation: number,
  ) {}

  get length(): number {
    return RESULT_HEADER + this.#size;
  }

  /** Outcomes held, not yet written. */
  get count(): number {
    return this.#count;
  }

  /** Hold one more outcome (`chunk`: value is a chunk's array of results). */
  add(ok: boolean, value: unknown, ms: number, chunk: boolean): void {
    const single = ok && chunk && (value as unknown[]).length === 1;
    const sent = single ? (value as unknown[])[0] : value;
    if (typeof sent === "number") {
      const at = this.#record(ok, single, MessageTag.Number, ms, 8);
      writeFloat64(this.#records, at, sent);
      return;
    }
    let tag: number;
    let encoded: Uint8Array;
    if (sent instanceof Float64Array && chunk && ok) {
      // A chunk's results that were all numbers (worker.ts): as a plain array of numbers would travel.
      tag = MessageTag.Numbers;
      encoded = new Uint8Array(sent.buffer, sent.byteOffset, sent.byteLength);
    } else {
      let message: Message;
      try {
        message = encodeMessage(sent, "result");
      } catch (reason) {
        message = encodeMessage(ok ? new MaybeEncodingError(reason, sent) : plainError(sent, reason));
        ok = false;
      }
      tag = message.tag;
      encoded = message.payload;
    }
    const at = this.#record(ok, single, tag, ms, encoded.length);
    this.#records.set(encoded, at);
  }

  /** Room for one more outcome, its header written: where its `length` bytes of value go in #records (which it may replace). */
  #record(ok: boolean, single: boolean, tag: number, ms: number, length: number): number {
    const at = this.#size;
    const end = at + OUTCOME_HEADER + length;
    if (end > this.#records.length) {
      const grown = new Uint8Array(Math.max(end, this.#records.length * 2));
      grown.set(this.#records.subarray(0, at));
      this.#records = grown;
    }
    writeInt32(this.#records, at, (ok ? 1 : 0) | (single && ok ? 2 : 0) | (tag << 8));
    writeFloat64(this.#records, at + 4, ms);
    writeInt32(this.#records, at + 12, length);
    this.#size = end;
    this.#count++;
    return at + OUTCOME_HEADER;
  }

  fill(bytes: Uint8Array, at: number): void {
    writeInt32(bytes, at, this.slot);
    writeInt32(bytes, at + 4, this.generation);
    writeInt32(bytes, at + 8, ResultKind.Results);
    writeInt32(bytes, at + 12, this.#count);
    bytes.set(this.#records.subarray(0, this.#size), at + RESULT_HEADER);
  }

  /** Forget what was held (once written). */
  clear(): void {
    this.#size = 0;
    this.#count = 0;
    // One large result must not keep its size of memory in the worker for good.
    if (this.#records.length > RECORDS_KEPT) this.#records = new Uint8Array(RECORDS_START);
  }
}

export interface Outcome {
  ok: boolean;
  ms: number;
  /** The value (a chunk's: its array of results), or a Promise when modules must be imported first (a promise never travels as a value). */
  value: unknown;
}

/** Where the first outcome of a Results message starts (`header.arg` of them follow one another to `header.end`). */
export function firstOutcomeAt(header: ResultHeader): number {
  return header.at + RESULT_HEADER;
}

/**
 * The outcome whose bytes start at bytes[at], read into `into` (the parent
 * reads one per task of a chunksize-1 map: nothing is allocated here but
 * the value); returns where the next one starts. `value` throws, or is a
 * Promise that rejects, when it cannot be rebuilt here (a class this
 * process lacks...). `numbersInPlace`: a chunk's results that are all
 * numbers come as a Float64Array over the message, for a reader that
 * copies them out at once (Job.copiesResults).
 */
export function readOutcome(bytes: Uint8Array, at: number, into: Outcome, numbersInPlace = false): number {
  const arg = readInt32(bytes, at);
  const single = (arg & 2) === 2;
  into.ok = (arg & 1) === 1;
  into.ms = readFloat64(bytes, at + 4);
  const start = at + OUTCOME_HEADER;
  const end = start + readInt32(bytes, at + 12);
  const tag = arg >> 8;
  try {
    let value = numbersInPlace && tag === MessageTag.Numbers ? float64sAt(bytes, start, end) : decodeValueAt(tag, bytes, start, end, false);
    if (value === DUMPED) {
      const payload = bytes.subarray(start, end);
      const ready = loadsIfImported(payload);
      if (!ready) {
        into.value = loads(payload).then((rebuilt) => (single ? [rebuilt] : rebuilt));
        return end;
      }
      value = ready.value;
    }
    into.value = single ? [value] : value;
  } catch (error) {
    into.value = Promise.reject(error);
  }
  return end;
}

/** An apply task's payload: its arguments, encoded once when the call is made (so that what cannot travel fails the call). */
export function applyPayload(args: unknown[], kwargs: Record<string, unknown> | undefined): Uint8Array {
  // Paths in errors read as the caller wrote them: args[1].cb, kwargs.cb.
  return dumps({ args, kwargs }, { root: "" }).data;
}

export async function readApplyPayload(payload: Uint8Array): Promise<{ args: unknown[]; kwargs: Record<string, unknown> | undefined }> {
  return (await loads(payload)) as { args: unknown[]; kwargs: Record<string, unknown> | undefined };
}

/** The error of an InitFailed message (what the initializer threw). */
export function readInitError(header: ResultHeader): Promise<unknown> {
  return loads(bodyOf(header));
}

/** An error as an InitFailed body. */
export function encodeError(err: unknown): Uint8Array {
  try {
    return dumps(err, { root: "error" }).data;
  } catch (reason) {
    return dumps(plainError(err, reason)).data;
  }
}

/** A task error that will not serialize as it is: its name, message and stack, or else why it would not. */
function plainError(value: unknown, reason: unknown): Error {
  if (value instanceof Error) {
    const copy = new Error(value.message);
    copy.name = value.name;
    copy.stack = value.stack;
    return copy;
  }
  return new MaybeEncodingError(reason, value);
}

/**
 * A batch of tasks for one worker, its first numbered `first`, naming every
 * function its tasks use (a worker loads each once; a message taken back
 * then never strands a later one). Throws SerializationError when a task
 * cannot travel.
 */
export function taskMessage(first: number, tasks: readonly TaskSpec[], functions: FunctionTables, reportBegin: boolean): Message {
  const flat: unknown[] = [];
  const only = tasks[0]!.fnId;
  let named: Set<number> | undefined;
  for (const task of tasks) {
    flat.push(task.kind, task.fnId, task.payload);
    if (task.fnId !== only) (named ??= new Set([only])).add(task.fnId);
  }
  const encoded = dumps(flat).data;
  const table = named ? functions.encode([...named]) : functions.encodeOne(only);
  const payload = new Uint8Array(TASK_HEADER + table.byteLength + encoded.byteLength);
  const view = new DataView(payload.buffer);
  view.setUint32(0, tasks.length, true);
  view.setUint32(4, first >>> 0, true);
  view.setUint32(8, table.byteLength, true);
  view.setUint32(12, reportBegin ? REPORT_BEGIN : 0, true);
  payload.set(table, TASK_HEADER);
  payload.set(encoded, TASK_HEADER + table.byteLength);
  return { tag: TAG, payload };
}

/**
 * The function tables of task messages, for one pool: id and reference of
 * each function. Nearly every message names one function, the same as the
 * one before: its table is encoded once.
 */
export class FunctionTables {
  readonly #refOf: (fnId: number) => FunctionRef;
  readonly #single = new Map<number, Uint8Array>();

  constructor(refOf: (fnId: number) => FunctionRef) {
    this.#refOf = refOf;
  }

  encodeOne(fnId: number): Uint8Array {
    let table = this.#single.get(fnId);
    if (!table) this.#single.set(fnId, (table = this.encode([fnId])));
    return table;
  }

  encode(fnIds: readonly number[]): Uint8Array {
    return dumps(fnIds.flatMap((fnId) => [fnId, this.#refOf(fnId)])).data;
  }
}

export const STOP: Message = { tag: TAG, payload: new Uint8Array(TASK_HEADER) };

export interface TaskBatch {
  count: number;
  /** Ordinal of the first task (wrapping at 2^32). */
  first: number;
  functions: Uint8Array;
  tasks: Uint8Array;
  /** Send a Begun message as each task begins. */
  reportBegin: boolean;
}

/** A task message's header: which tasks it carries (the bodies are read by the two functions below). */
export function readTasks(message: Message): TaskBatch {
  const { payload } = message;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(0, true);
  const first = view.getUint32(4, true);
  const split = TASK_HEADER + view.getUint32(8, true);
  const reportBegin = (view.getUint32(12, true) & REPORT_BEGIN) !== 0;
  return { count, first, functions: payload.subarray(TASK_HEADER, split), tasks: payload.subarray(split), reportBegin };
}

/** The functions a batch names: id and reference, each. */
export async function readFunctions(batch: TaskBatch): Promise<Array<[number, FunctionRef]>> {
  const entries = (await loads(batch.functions)) as unknown[];
  const out: Array<[number, FunctionRef]> = [];
  for (let i = 0; i < entries.length; i += 2) out.push([entries[i] as number, entries[i + 1] as FunctionRef]);
  return out;
}

export async function readTaskSpecs(batch: TaskBatch): Promise<TaskSpec[]> {
  const flat = (await loads(batch.tasks)) as unknown[];
  const out: TaskSpec[] = [];
  for (let at = 0; at < flat.length; at += TASK_STRIDE) out.push({ kind: flat[at] as TaskKind, fnId: flat[at + 1] as number, payload: flat[at + 2] });
  return out;
}

/** Whether the task numbered `ordinal` has begun, given the worker's published mark (ordinal + 1 of the last task it began); wraps at 2^32. */
export function hasBegun(ordinal: number, mark: number): boolean {
  return ((mark - ordinal - 1) | 0) >= 0;
}
