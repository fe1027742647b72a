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
 *                   function table, then dumps([id, ref, ...]) and dumps([tasks]);
 *                   count 0 = stop.
 *   result message (worker → parent): i32 slot, generation, kind, arg, then
 *                   a body. A task's result (kind Results): arg = ok | single << 1
 *                   | tag << 8 (single: a one-item chunk's value, sent bare),
 *                   body = f64 ms the task ran + the value as encodeMessage
 *                   made it (numbers, strings and bytes skip structured clone).
 *
 * Talks to: channel.ts, reduction.ts; pool.ts and pool/worker.ts are the two sides.
 */
import { Channel, type ChannelState } from "../channel.ts";
import { reduce, registerRebuilder, type Message, type Reduction } from "../reduction.ts";

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
 * Fields per task in the flat task array: kind, function id, payload (the
 * items of a chunk, or for Apply the bytes of dumps({ args, kwargs }), made
 * when the task was submitted so that what cannot travel fails the call).
 */
export const TASK_STRIDE = 3;

export const ResultKind = {
  /** The worker ran its initializer and waits for tasks. */
  Ready: 1,
  /** The initializer threw; body: the error. The worker exits. */
  InitFailed: 2,
  /** The outcome of the worker's oldest unanswered task (see the header comment). */
  Results: 3,
  /** Written by the parent itself after a worker exited; arg: the exit code. Ordered after everything the worker wrote. */
  Exited: 4,
} as const;
export type ResultKind = (typeof ResultKind)[keyof typeof ResultKind];

const RESULT_HEADER = 16;
const TASK_HEADER = 12;
/** Pool messages are only read by pool code: one tag for all. */
const TAG = 0;

/** A channel that travels to a worker as a Process argument (queues do the same through their own class). */
export class PoolChannel {
  constructor(readonly channel: Channel) {}

  [reduce](): Reduction {
    return { type: "PoolChannel", module: import.meta.url, state: this.channel.state() };
  }
}

registerRebuilder("PoolChannel", (state) => new PoolChannel(Channel.open(state as ChannelState)));

export interface ResultHeader {
  slot: number;
  generation: number;
  kind: ResultKind;
  /** Depends on the kind (see ResultKind). */
  arg: number;
  body: Uint8Array;
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

export function readResult({ payload }: Message): ResultHeader {
  return {
    slot: readInt32(payload, 0),
    generation: readInt32(payload, 4),
    kind: readInt32(payload, 8) as ResultKind,
    arg: readInt32(payload, 12),
    body: payload.subarray(RESULT_HEADER),
  };
}

const scratchMs = new Float64Array(1);
const scratchMsBytes = new Uint8Array(scratchMs.buffer);

/**
 * A task's outcome as a Results message: how long it ran, whether it
 * succeeded, and its value or error encoded. `single`: the value is the
 * only item of a chunk's results, sent without its array (a chunksize-1 map
 * then skips structured clone for numbers and strings).
 */
export function outcomeMessage(slot: number, generation: number, ok: boolean, single: boolean, ms: number, value: Message): Message {
  const body = new Uint8Array(8 + value.payload.byteLength);
  scratchMs[0] = ms;
  body.set(scratchMsBytes, 0);
  body.set(value.payload, 8);
  return resultMessage(slot, generation, ResultKind.Results, (ok ? 1 : 0) | (single ? 2 : 0) | (value.tag << 8), body);
}

export interface Outcome {
  ok: boolean;
  single: boolean;
  ms: number;
  value: Message;
}

export function readOutcome(header: ResultHeader): Outcome {
  scratchMsBytes.set(header.body.subarray(0, 8));
  const { arg } = header;
  return { ok: (arg & 1) === 1, single: (arg & 2) === 2, ms: scratchMs[0]!, value: { tag: arg >> 8, payload: header.body.subarray(8) } };
}

export function taskMessage(count: number, first: number, functions: Uint8Array, tasks: Uint8Array): Message {
  const payload = new Uint8Array(TASK_HEADER + functions.byteLength + tasks.byteLength);
  const view = new DataView(payload.buffer);
  view.setUint32(0, count, true);
  view.setUint32(4, first >>> 0, true);
  view.setUint32(8, functions.byteLength, true);
  payload.set(functions, TASK_HEADER);
  payload.set(tasks, TASK_HEADER + functions.byteLength);
  return { tag: TAG, payload };
}

export const STOP: Message = { tag: TAG, payload: new Uint8Array(TASK_HEADER) };

export interface TaskBatch {
  count: number;
  /** Ordinal of the first task (wrapping at 2^32). */
  first: number;
  functions: Uint8Array;
  tasks: Uint8Array;
}

export function readTasks(message: Message): TaskBatch {
  const { payload } = message;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(0, true);
  const first = view.getUint32(4, true);
  const split = TASK_HEADER + view.getUint32(8, true);
  return { count, first, functions: payload.subarray(TASK_HEADER, split), tasks: payload.subarray(split) };
}

/** Whether the task numbered `ordinal` has begun, given the worker's published mark (ordinal + 1 of the last task it began); wraps at 2^32. */
export function hasBegun(ordinal: number, mark: number): boolean {
  return ((mark - ordinal - 1) | 0) >= 0;
}
