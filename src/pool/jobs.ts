/*
 * The calls a pool runs, as the pool sees them (the part of Python's
 * pool.py that makes task generators and fills ApplyResult / MapResult /
 * IMapIterator): a job hands out tasks when the pool has room for them and
 * takes each task's outcome. ApplyJob is one task; MapJob cuts an input in
 * memory into chunks; IMapJob reads its input lazily, at most `buffersize`
 * tasks ahead of the consumer, and delivers in order or as tasks finish.
 *
 * Talks to: pool/engine.ts (PoolCore: where jobs offer tasks), pool/options.ts,
 * pool/results.ts.
 */
import { abortError } from "../errors.ts";
import { isAsyncIterable, type ApplyAsyncOptions, type IMapOptions, type Items, type MapAsyncOptions, type TaskOptions } from "./options.ts";
import type { Slot } from "./workers.ts";
import { TaskKind } from "./protocol.ts";
import { AsyncResult, IMapIterator, MapResult, finish, push, settle } from "./results.ts";
import { progressReporter, type ProgressReporter } from "./progress.ts";

/** One unit of work sent to a worker: a call's apply, or one chunk of its input. */
export interface Task {
  readonly job: Job;
  /** Position of the task's first item in its call's input. */
  readonly index: number;
  /** The task's number in its call (ordered delivery). */
  readonly chunk: number;
  readonly kind: TaskKind;
  readonly fnId: number;
  readonly payload: unknown;
  readonly size: number;
  attempts: number;
  done: boolean;
  worker: Slot | null;
  /** Position in its worker's stream of tasks. */
  ordinal: number;
  timer: NodeJS.Timeout | undefined;
}

/** The parts of the pool its jobs call back. */
export interface PoolCore {
  readonly retries: number;
  /** End `job` now; `killRunning`: also kill the workers running its tasks (abort), rather than let them finish unheard. */
  abortJob(job: Job, error: unknown, killRunning: boolean): void;
  offer(job: Job): void;
}

/**
 * From this many items a chunk of numbers travels as a Float64Array: copied
 * as bytes both ways, with no array of them made in the worker nor for the
 * results on their way back. Past ~16,000 elements V8 gives an array pages
 * of its own, mapped afresh each time: on a VM whose page faults are slow
 * those arrays were a third of a default-chunksize map's time.
 */
const NUMBER_CHUNK = 1024;

/** A map's input: an array, or a typed array (its chunks are slices of it). */
export type MapItems = unknown[] | (ArrayLike<unknown> & { slice(start: number, end: number): ArrayLike<unknown> });

/** One pool call: makes tasks, receives their outcomes. */
export abstract class Job {
  settled = false;
  /**
   * complete() copies a chunk's results out before it returns, so results
   * that are all numbers may reach it as a Float64Array valid only during
   * the call (a view into the channel they arrived on).
   */
  readonly copiesResults: boolean = false;
  readonly guarded: boolean;
  readonly timeout: number | null;
  readonly retries: number;
  readonly signal: AbortSignal | undefined;
  #abort: (() => void) | undefined;

  constructor(
    protected readonly pool: PoolCore,
    readonly fnId: number,
    options: TaskOptions,
  ) {
    this.timeout = options.timeout ?? null;
    this.retries = options.retries ?? pool.retries;
    this.guarded = this.timeout !== null || options.signal !== undefined;
    const signal = options.signal;
    this.signal = signal;
    if (signal && !signal.aborted) {
      const onAbort = () => this.pool.abortJob(this, abortError(signal), true);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#abort = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** The next task ready to send, if any. */
  abstract take(): Task | undefined;
  /** Whether take() may still give tasks, now or later. */
  abstract get exhausted(): boolean;
  abstract complete(task: Task, value: unknown): void;
  abstract fail(task: Task, error: unknown): void;
  /** The whole call ends with this error at once (abort, terminate, broken pool). */
  abstract cancel(error: unknown): void;
  /** Tasks made and not yet sent (for stats). */
  abstract get waiting(): number;

  protected makeTask(index: number, chunk: number, kind: TaskKind, payload: unknown, size: number): Task {
    return { job: this, index, chunk, kind, fnId: this.fnId, payload, size, attempts: 0, done: false, worker: null, ordinal: 0, timer: undefined };
  }

  protected end(): void {
    this.settled = true;
    this.#abort?.();
    this.#abort = undefined;
  }
}

export class ApplyJob<R> extends Job {
  #task: Task | undefined;
  readonly result: AsyncResult<R>;

  constructor(pool: PoolCore, fnId: number, encoded: Uint8Array, options: ApplyAsyncOptions<R>) {
    super(pool, fnId, options);
    this.result = new AsyncResult<R>(options);
    this.#task = this.makeTask(0, 0, TaskKind.Apply, encoded, 1);
  }

  take(): Task | undefined {
    const task = this.#task;
    this.#task = undefined;
    return task;
  }

  get exhausted(): boolean {
    return this.#task === undefined;
  }

  get waiting(): number {
    return this.#task ? 1 : 0;
  }

  complete(_task: Task, value: unknown): void {
    this.end();
    this.result[settle](true, value);
  }

  fail(_task: Task, error: unknown): void {
    this.end();
    this.result[settle](false, error);
  }

  cancel(error: unknown): void {
    this.#task = undefined;
    this.fail(undefined as never, error);
  }
}

/** map, mapAsync, starmap, starmapAsync: the input is in memory, results are in order. */
export class MapJob<R> extends Job {
  readonly result: MapResult<R>;
  override readonly copiesResults = true;
  readonly #items: MapItems;
  /** Made at the first result, of doubles when that result is (no change of element kind halfway). */
  #values: R[] | undefined;
  readonly #chunksize: number;
  readonly #kind: TaskKind;
  readonly #progress: ProgressReporter | undefined;
  #next = 0;
  #remaining: number;
  #done = 0;
  #firstError: { error: unknown } | undefined;

  constructor(pool: PoolCore, fnId: number, kind: TaskKind, items: MapItems, chunksize: number, options: MapAsyncOptions<R>) {
    super(pool, fnId, options);
    this.result = new MapResult<R>(options);
    this.#items = items;
    this.#chunksize = chunksize;
    this.#kind = kind;
    this.#remaining = Math.ceil(items.length / chunksize);
    this.#progress = progressReporter(options, items.length);
    if (this.#remaining === 0) this.#end();
  }

  take(): Task | undefined {
    if (this.#next >= this.#items.length || this.settled) return undefined;
    const start = this.#next;
    const end = Math.min(start + this.#chunksize, this.#items.length);
    const chunk = (this.#kind === TaskKind.Map && numbersFrom(this.#items, start, end)) || this.#items.slice(start, end);
    this.#next = end;
    return this.makeTask(start, start / this.#chunksize, this.#kind, chunk, end - start);
  }

  get exhausted(): boolean {
    return this.settled || this.#next >= this.#items.length;
  }

  get waiting(): number {
    return this.exhausted ? 0 : Math.ceil((this.#items.length - this.#next) / this.#chunksize);
  }

  complete(task: Task, value: unknown): void {
    const values = value as ArrayLike<R>;
    this.#values ??= value instanceof Float64Array ? (new Array<number>(this.#items.length).fill(0.5) as R[]) : new Array<R>(this.#items.length);
    for (let i = 0; i < values.length; i++) this.#values[task.index + i] = values[i]!;
    this.#chunkDone(task);
  }

  fail(task: Task, error: unknown): void {
    this.#firstError ??= { error };
    this.#chunkDone(task);
  }

  #chunkDone(task: Task): void {
    this.#done += task.size;
    this.#progress?.update(this.#done);
    if (--this.#remaining === 0) this.#end();
  }

  #end(): void {
    this.end();
    this.#progress?.stop();
    if (this.#firstError) this.result[settle](false, this.#firstError.error);
    else this.result[settle](true, this.#values ?? []);
  }

  cancel(error: unknown): void {
    this.end();
    this.#progress?.stop();
    this.result[settle](false, error);
  }
}

/** imap and imapUnordered: the input is read lazily, at most `buffersize` tasks ahead of the consumer. */
export class IMapJob<R> extends Job {
  readonly iterator: IMapIterator<R>;
  readonly #input: Iterator<unknown> | AsyncIterator<unknown>;
  readonly #async: boolean;
  readonly #chunksize: number;
  readonly #kind: TaskKind;
  readonly #ordered: boolean;
  /** In items: read from the input and not yet consumed. */
  readonly #limit: number;
  readonly #progress: ProgressReporter | undefined;
  #ready: Task[] = [];
  /** Items read for the next task, until there are chunksize of them. */
  #gathering: unknown[] = [];
  #read = 0;
  #consumed = 0;
  #chunks = 0;
  #inputDone = false;
  #reading = false;
  /** Ordered delivery: outcomes of later tasks wait for earlier ones. */
  readonly #parked = new Map<number, { ok: boolean; value: unknown; size: number }>();
  #nextChunk = 0;
  #delivered = 0;
  #doneItems = 0;

  constructor(pool: PoolCore, fnId: number, kind: TaskKind, input: Items<unknown>, ordered: boolean, chunksize: number, buffersize: number, options: IMapOptions) {
    super(pool, fnId, options);
    this.#kind = kind;
    this.#ordered = ordered;
    this.#chunksize = chunksize;
    this.#limit = buffersize * chunksize;
    this.#progress = progressReporter(options, undefined);
    this.iterator = new IMapIterator<R>(
      (count) => {
        this.#consumed += count;
        this.#readMore();
      },
      () => this.pool.abortJob(this, undefined, false),
    );
    if (isAsyncIterable(input)) {
      this.#input = input[Symbol.asyncIterator]();
      this.#async = true;
    } else {
      this.#input = (input as Iterable<unknown>)[Symbol.iterator]();
      this.#async = false;
    }
    this.#readMore();
  }

  take(): Task | undefined {
    return this.settled ? undefined : this.#ready.shift();
  }

  get exhausted(): boolean {
    return this.settled || (this.#inputDone && this.#ready.length === 0);
  }

  get waiting(): number {
    return this.#ready.length;
  }

  /** Read input while the consumer is not too far behind. */
  #readMore(): void {
    if (this.#reading || this.#inputDone || this.settled) return;
    if (this.#async) {
      void this.#readAsync();
      return;
    }
    const input = this.#input as Iterator<unknown>;
    let added = false;
    try {
      while (this.#read - this.#consumed < this.#limit) {
        const next = input.next();
        added = (next.done ? this.#endInput() : this.#gather(next.value)) || added;
        if (next.done) break;
      }
    } catch (err) {
      this.#inputFailed(err);
      return;
    }
    this.#afterRead(added);
  }

  async #readAsync(): Promise<void> {
    this.#reading = true;
    const input = this.#input as AsyncIterator<unknown>;
    try {
      while (this.#read - this.#consumed < this.#limit && !this.settled) {
        const next = await input.next();
        if (next.done ? this.#endInput() : this.#gather(next.value)) this.pool.offer(this);
        if (next.done) break;
      }
    } catch (err) {
      this.#reading = false;
      this.#inputFailed(err);
      return;
    }
    this.#reading = false;
    this.#afterRead(false);
    // The consumer may have caught up while we awaited the input.
    if (!this.#inputDone && this.#read - this.#consumed < this.#limit) this.#readMore();
  }

  /** One input item into the chunk being gathered; true when that completes a task. */
  #gather(item: unknown): boolean {
    this.#gathering.push(item);
    this.#read++;
    if (this.#gathering.length < this.#chunksize) return false;
    this.#addChunk(this.#gathering);
    this.#gathering = [];
    return true;
  }

  /** The input is done: what was gathered is the last, shorter task; true if there is one. */
  #endInput(): boolean {
    this.#inputDone = true;
    if (this.#gathering.length === 0) return false;
    this.#addChunk(this.#gathering);
    this.#gathering = [];
    return true;
  }

  #afterRead(added: boolean): void {
    if (this.#inputDone) this.#progress?.total(this.#read);
    if (added) this.pool.offer(this);
    this.#maybeFinish();
  }

  #addChunk(items: unknown[]): void {
    const index = this.#read - items.length;
    this.#ready.push(this.makeTask(index, this.#chunks++, this.#kind, items, items.length));
  }

  /** An error from the input itself ends the results at its place (Python's _guarded_task_generation). */
  #inputFailed(error: unknown): void {
    this.#inputDone = true;
    this.#progress?.total(this.#read);
    const chunk = this.#chunks++;
    this.#deliver(chunk, false, error, 0);
  }

  complete(task: Task, value: unknown): void {
    this.#deliver(task.chunk, true, value, task.size);
  }

  fail(task: Task, error: unknown): void {
    this.#deliver(task.chunk, false, error, task.size);
  }

  #deliver(chunk: number, ok: boolean, value: unknown, size: number): void {
    if (this.settled) return;
    // A failed task reaches the consumer as one error standing for its items: count them all as taken then.
    if (!ok && size > 1) this.#consumed += size - 1;
    this.#doneItems += size;
    this.#progress?.update(this.#doneItems);
    if (!this.#ordered) {
      this.#emit(ok, value);
    } else {
      this.#parked.set(chunk, { ok, value, size });
      for (let next = this.#parked.get(this.#nextChunk); next; next = this.#parked.get(this.#nextChunk)) {
        this.#parked.delete(this.#nextChunk++);
        this.#emit(next.ok, next.value);
      }
    }
    this.#delivered++;
    this.#maybeFinish();
  }

  #emit(ok: boolean, value: unknown): void {
    if (!ok) {
      this.iterator[push]({ ok: false, error: value });
      return;
    }
    for (const item of value as R[]) this.iterator[push]({ ok: true, value: item });
  }

  #maybeFinish(): void {
    if (this.settled || !this.#inputDone || this.#reading || this.#delivered < this.#chunks) return;
    this.end();
    this.#progress?.stop();
    this.iterator[finish]();
  }

  cancel(error: unknown): void {
    if (this.settled) return;
    this.#ready = [];
    if (error !== undefined) this.iterator[push]({ ok: false, error });
    this.end();
    this.#progress?.stop();
    this.iterator[finish]();
    const input = this.#input;
    if (input.return) void Promise.resolve(input.return()).catch(() => undefined);
  }
}

/** items[start, end) as a Float64Array when they are that many numbers, else undefined. */
function numbersFrom(items: MapItems, start: number, end: number): Float64Array | undefined {
  if (end - start < NUMBER_CHUNK) return undefined;
  for (let i = start; i < end; i++) if (typeof items[i] !== "number") return undefined;
  const numbers = new Float64Array(end - start);
  for (let i = start; i < end; i++) numbers[i - start] = items[i] as number;
  return numbers;
}
