/*
 * What a pool and its workers say to each other, and the channels they say
 * it on (Python's pool.py sends tuples over two SimpleQueues). Each worker
 * slot has a task channel of its own, so the parent always knows which
 * tasks a worker holds; all workers share one result channel, which the
 * parent drains in one loop (one wake for many results).
 *
 * Messages carry a small binary header before the serialized body, so that
 * a body that fails to decode still names its sender and how many tasks it
 * answered: that becomes those tasks' error, never a lost result.
 *
 *   task message   (parent → worker): u32 count, u32 length of the function
 *                   table, then dumps([id, ref, ...]) and dumps([tasks]); count 0 = stop.
 *   result message (worker → parent): i32 slot, generation, kind, count,
 *                   then dumps(body).
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
 * items of a chunk, or for Apply the bytes of dumps([args, kwargs]), made
 * when the task was submitted so that what cannot travel fails the call).
 */
export const TASK_STRIDE = 3;

export const ResultKind = {
  /** The worker ran its initializer and waits for tasks. */
  Ready: 1,
  /** The initializer threw; body: the error. The worker exits. */
  InitFailed: 2,
  /** body: [busy ms, then (ok, value) per task, in the order the tasks came]. */
  Results: 3,
  /** Written by the parent itself after a worker exited; count: the exit code. Ordered after everything the worker wrote. */
  Exited: 4,
} as const;
export type ResultKind = (typeof ResultKind)[keyof typeof ResultKind];

const RESULT_HEADER = 16;
const TASK_HEADER = 8;
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
  count: number;
  body: Uint8Array;
}

export function resultMessage(slot: number, generation: number, kind: ResultKind, count: number, body?: Uint8Array): Message {
  const payload = new Uint8Array(RESULT_HEADER + (body?.byteLength ?? 0));
  const header = new Int32Array(payload.buffer, 0, 4);
  header[0] = slot;
  header[1] = generation;
  header[2] = kind;
  header[3] = count;
  if (body) payload.set(body, RESULT_HEADER);
  return { tag: TAG, payload };
}

export function readResult(message: Message): ResultHeader {
  const { payload } = message;
  // The channel hands out fresh, aligned buffers; copy if one ever is not.
  const bytes = payload.byteOffset % 4 === 0 ? payload : payload.slice();
  const header = new Int32Array(bytes.buffer, bytes.byteOffset, 4);
  return { slot: header[0]!, generation: header[1]!, kind: header[2] as ResultKind, count: header[3]!, body: bytes.subarray(RESULT_HEADER) };
}

export function taskMessage(count: number, functions: Uint8Array, tasks: Uint8Array): Message {
  const payload = new Uint8Array(TASK_HEADER + functions.byteLength + tasks.byteLength);
  const view = new DataView(payload.buffer);
  view.setUint32(0, count, true);
  view.setUint32(4, functions.byteLength, true);
  payload.set(functions, TASK_HEADER);
  payload.set(tasks, TASK_HEADER + functions.byteLength);
  return { tag: TAG, payload };
}

export const STOP: Message = { tag: TAG, payload: new Uint8Array(TASK_HEADER) };

export interface TaskBatch {
  count: number;
  functions: Uint8Array;
  tasks: Uint8Array;
}

export function readTasks(message: Message): TaskBatch {
  const { payload } = message;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(0, true);
  const split = TASK_HEADER + view.getUint32(4, true);
  return { count, functions: payload.subarray(TASK_HEADER, split), tasks: payload.subarray(split) };
}
