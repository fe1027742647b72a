/*
 * What the Redis pool and `multiproc worker` agree on: key names, the job's
 * data, the result message and the script that delivers it, and the lock
 * timings of BullMQ's stalled-job check.
 *
 * Results do not travel as BullMQ return values: those are copied into the
 * queue's event stream, which BullMQ trims (events can be missed) and which
 * would keep them after the pool is gone. A worker appends each outcome to
 * its pool's own list instead, with one script that also checks the pool is
 * still alive, so a worker finishing late never recreates a key of a pool
 * that has closed.
 *
 * Talks to: redis.ts (the pool side), redis/worker.ts (the worker side).
 */
import { TaskKind } from "../pool/protocol.ts";
import type { Message } from "../reduction.ts";

/** BullMQ key prefix unless the caller names another. */
export const DEFAULT_PREFIX = "multiproc";

/**
 * A worker holds a job's lock for LOCK_DURATION_MS, renewing it every half
 * of that; every STALLED_INTERVAL_MS some worker looks for active jobs whose
 * lock lapsed. A job whose worker vanished runs again after about
 * LOCK_DURATION_MS + STALLED_INTERVAL_MS (at most twice that), once; a second
 * stall fails it, and the pool rejects it with WorkerLostError.
 */
export const LOCK_DURATION_MS = 10_000;
export const STALLED_INTERVAL_MS = 5_000;
export const MAX_STALLED_COUNT = 1;

/** The pool's keys expire this long after its process stops renewing them (it died without closing). */
export const POOL_TTL_MS = 60_000;

/** The keys of one pool, all under its queue's prefix and named by the pool's id. */
export function poolKeys(prefix: string, queue: string, poolId: string): { alive: string; results: string; notify: string } {
  const base = `${prefix}:${queue}:mp:${poolId}`;
  return { alive: `${base}:alive`, results: `${base}:results`, notify: `${base}:notify` };
}

/** Where the pool tells workers to stop jobs (pub/sub, one channel per queue). */
export function cancelChannel(prefix: string, queue: string): string {
  return `${prefix}:${queue}:mp:cancel`;
}

export interface CancelMessage {
  pool: string;
  /** These jobs only; absent: every job of the pool. */
  jobs?: string[];
}

/** A BullMQ job's data: one task of a pool call. */
export interface TaskData {
  pool: string;
  /** The function's module relative to the project root, with `/` separators. */
  module: string;
  name: string;
  registered?: true;
  kind: TaskKind;
  /** Milliseconds the task may run on the worker; null: no limit. */
  timeout: number | null;
  /** The call has a timeout or a signal: the worker runs it so that it can be stopped (alone in a child, which costs ~1 ms). */
  guarded: boolean;
  /** Base64 of reduction.dumps: {args, kwargs} for apply, the items for map/starmap; absent when `integers` carries them. */
  payload?: string;
  /**
   * A map chunk of integers, as JSON numbers: BullMQ stores a job's data as
   * JSON, where they take about 6 bytes each against 10.7 for float64s in
   * base64, and adding a job costs by the byte.
   */
  integers?: number[];
}

/**
 * `text` kept one byte a character where it can be. A function's name may
 * reach us as a two-byte string (V8 makes some so when their source file
 * has a character beyond Latin-1 anywhere), and one two-byte string in a
 * job's data makes JSON.stringify write the whole of it two bytes a
 * character: ioredis then takes 0.5 ms, not 10 µs, to measure 75 KB of it,
 * twice per job.
 */
export function oneByteString(text: string): string {
  return /^[\x00-\xff]*$/.test(text) ? Buffer.from(text, "latin1").toString("latin1") : text;
}

/** How a task's input travels (see TaskData): integers as JSON, anything else as base64 of `dumped()`. */
export function encodeInput(kind: TaskKind, payload: unknown, dumped: () => Uint8Array): Pick<TaskData, "payload" | "integers"> {
  const integers = kind === TaskKind.Map && (Array.isArray(payload) || payload instanceof Float64Array) ? integersOf(payload) : undefined;
  return integers ? { integers } : { payload: Buffer.from(dumped()).toString("base64") };
}

/** The items as a plain array when every one is an integer JSON carries exactly (-0 would arrive as 0), else undefined. */
function integersOf(items: ArrayLike<unknown>): number[] | undefined {
  if (items.length === 0) return undefined;
  // One loop, no callback: every() + Array.from took 0.8 ms for 12,500 float64s, this 0.06.
  const out: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (!Number.isSafeInteger(item) || Object.is(item, -0)) return undefined;
    out.push(item as number);
  }
  return out;
}

/**
 * KEYS: alive, results, notify; ARGV: message, notice. Returns 0 when the
 * pool is gone (the outcome is dropped). The notice is the message itself
 * when it is small (NOTICE_MAX): the pool settles the call from it at once,
 * and reads the list (where the outcome is kept until then, for a notice
 * lost while reconnecting) later, off the caller's path. Else it is empty:
 * read the list.
 */
export const DELIVER_SCRIPT = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', KEYS[3], ARGV[2])
return 1`;

/** The largest outcome that travels in its notice too. */
export const NOTICE_MAX = 16 * 1024;

/**
 * One outcome: the BullMQ job id, ok or not, the value's message tag, then
 * the value or error as reduction.encodeMessage made it (a map chunk's
 * numbers as float64s, which decode without structured clone).
 */
export function encodeOutcome(jobId: string, ok: boolean, value: Message): Buffer {
  return Buffer.concat([Buffer.from(`${jobId}\n${ok ? 1 : 0}`), Buffer.of(value.tag), value.payload]);
}

export function decodeOutcome(message: Buffer): { jobId: string; ok: boolean; tag: number; data: Buffer } {
  const newline = message.indexOf(10);
  if (newline < 0 || message.length < newline + 3) throw new Error("malformed outcome from a worker");
  return { jobId: message.toString("utf8", 0, newline), ok: message[newline + 1] === 0x31, tag: message[newline + 2]!, data: message.subarray(newline + 3) };
}
