/*
 * Pool (Python's pool.py): worker processes that run tasks, with Python's
 * whole API (apply, map, imap, starmap and their async forms, close,
 * terminate, join) and what Python's pool lacks: a worker that dies never
 * hangs it, imap reads its input lazily, and calls take an AbortSignal, a
 * timeout and a progress callback.
 *
 * How it works, and why:
 *   - Each worker has a task channel of its own (pool/protocol.ts), so the
 *     parent knows exactly which tasks each worker holds. When a worker dies
 *     (its exit is watched), the tasks it had begun fail with
 *     WorkerLostError (or run again, with `retries`), those still waiting in
 *     its channel go to another worker, and a new worker takes its slot.
 *   - All workers answer on one result channel, drained by one loop here
 *     (#pump): one wake serves many results. The loop runs only while work
 *     is outstanding, so an idle pool does not keep the program alive; the
 *     parent writes a worker's exit into the same channel, after everything
 *     the worker wrote, so results and deaths are handled in order.
 *   - Tasks are sent in batches, up to a window per worker that follows
 *     how long each function's tasks take (up to 256 in flight for tiny
 *     tasks, 2 for long ones). When nothing is left to send and a worker is
 *     idle, the tasks a busy worker has not begun are taken back for it, so
 *     the last tasks of a call do not wait behind a busy worker. A function
 *     travels by reference, named in each message, loaded once per worker.
 *   - Tasks with a timeout or a signal go only to an idle worker and alone,
 *     so that killing it to stop them costs no other task.
 *
 * Talks to: pool/jobs.ts (the calls: apply, map, imap), pool/protocol.ts,
 * pool/worker.ts (the worker side), pool/results.ts (what calls return);
 * context.ts binds it.
 */
import { Channel } from "./channel.ts";
import { getContext, type Context, type StartMethod } from "./context.ts";
import { abortError, ProcessError, TimeoutError, WorkerLostError } from "./errors.ts";
import { locateFunction, type FunctionRef } from "./functionRefs.ts";
import { cpuCount, exitedUnheld, signalName, type Process, type Target } from "./process.ts";
import { decodeMessageSync, dumps, loads, loadsIfImported, MessageTag, reduce, SerializationError, type Message } from "./reduction.ts";
import { RawArray } from "./sharedctypes.ts";
import { runAsync } from "./synchronize.ts";
import { handled } from "./waiting.ts";
import { PoolChannel, ResultKind, STOP, TaskKind, hasBegun, readOutcome, readResult, readTasks, resultMessage, taskMessage, type ResultHeader } from "./pool/protocol.ts";
import { poolWorker, type WorkerSetup } from "./pool/worker.ts";
import { MapResult, settle, type AsyncResult, type IMapIterator, type ResultCallbacks } from "./pool/results.ts";
import { ApplyJob, IMapJob, MapJob, isAsyncIterable, type Items, type Job, type PoolCore, type Task } from "./pool/jobs.ts";
import type { PoolApi, PoolBackend } from "./pool/api.ts";


export interface PoolOptions {
  /** Number of workers; default cpuCount(). */
  processes?: number;
  /** Run in each worker before its first task (a named, exported function). */
  initializer?: Target;
  initargs?: readonly unknown[];
  /** Replace a worker by a fresh one after this many tasks; default: never. */
  maxtasksperchild?: number | null;
  /** Start method of the workers: a context or its name; default the default context. */
  context?: Context | StartMethod;
  /** Default for every call: how many times a task whose worker died is run again (for idempotent work). */
  retries?: number;
  /** Run the tasks elsewhere (e.g. `redis()` from multiproc/redis); default: worker processes on this machine. */
  backend?: PoolBackend;
}

/** Per-call options every pool call takes. */
export interface TaskOptions {
  /** Abort the call: its queued tasks are dropped, running ones have their worker killed and replaced. */
  signal?: AbortSignal;
  /** Milliseconds from a task's start; a task still running then has its worker killed and fails with TimeoutError. */
  timeout?: number;
  /** How many times a task whose worker died is run again (default: the pool's, 0). */
  retries?: number;
}

export interface ApplyOptions extends TaskOptions {
  /** Passed to the function as one extra, last argument. */
  kwargs?: Record<string, unknown>;
}

export interface ApplyAsyncOptions<R> extends ApplyOptions, ResultCallbacks<R> {}

export interface MapOptions extends TaskOptions {
  /** Items per task; default as Python's (about 4 tasks per worker) for map, 1 for imap. */
  chunksize?: number;
  /** Called as items finish: how many are done, of how many (undefined while an imap input is still being read). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Draw a progress bar on stderr when it is a terminal; a string labels it. */
  progress?: boolean | string;
}

export interface MapAsyncOptions<R> extends MapOptions, ResultCallbacks<R[]> {}

export interface IMapOptions extends MapOptions {
  /** How many tasks may be read from the input and not yet consumed (default 16 per worker). */
  buffersize?: number;
}

export interface PoolStats {
  /** "broken": workers kept failing to start (see the README); every call fails. */
  state: "running" | "closed" | "terminated" | "broken";
  processes: number;
  /** Workers alive now. */
  workers: number;
  /** Workers holding at least one task. */
  busyWorkers: number;
  /** Tasks waiting to be sent to a worker. */
  queued: number;
  tasksDone: number;
  tasksFailed: number;
  workersReplaced: number;
}

type Fn = (...args: never[]) => unknown;

const enum State {
  Run,
  Close,
  Terminate,
}

/** A worker holds enough tasks to cover this much work (ms), between 2 and MAX_WINDOW of them. */
const WINDOW_MS = 2;
const MAX_WINDOW = 256;
/** A worker that keeps dying before it is ready this many times in a row breaks the pool. */
const MAX_START_FAILURES = 3;
/** From SIGTERM to SIGKILL when terminating workers. */
const TERMINATE_GRACE_MS = 1000;
/** A worker place in the pool: its channel, and the worker now in it. */
export interface Slot {
  readonly index: number;
  generation: number;
  process: Process;
  readonly tasks: Channel;
  readonly channelRef: PoolChannel;
  held: Task[];
  /** Ordinal of the next task sent to this worker. */
  sent: number;
  /** Tasks given to this worker and not taken back (maxtasksperchild counts these). */
  assigned: number;
  ready: boolean;
  alive: boolean;
  /** Holds one guarded task: nothing else goes to it. */
  exclusive: boolean;
  stopped: boolean;
}
/** A slot's fields about the worker in it, as that worker starts. */
function workerFields(process: Process): Omit<Slot, "index" | "generation" | "tasks" | "channelRef"> {
  return { process, held: [], sent: 0, assigned: 0, ready: false, alive: true, exclusive: false, stopped: false };
}

export function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  if (value < min) throw new RangeError(`${name} must be at least ${min}, got ${value}`);
  return value;
}

export function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== "function") throw new TypeError(`${what} must be a function, got ${fn === null ? "null" : typeof fn}`);
}

export function checkTaskOptions(options: TaskOptions): void {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const { timeout, signal, retries } = options;
  if (timeout !== undefined && (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0)) {
    throw new TypeError(`timeout must be a number of milliseconds >= 0, got ${String(timeout)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
  if (retries !== undefined) checkCount("retries", retries, 0);
}

export function checkIterable(value: unknown): void {
  const iterable =
    value !== null &&
    value !== undefined &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === "function" || isAsyncIterable(value));
  if (!iterable) throw new TypeError(`iterable must be an Iterable or AsyncIterable, got ${value === null ? "null" : typeof value}`);
}
/** The local engine: worker processes on this machine. */
export class LocalPool implements PoolCore, PoolApi {
  readonly #context: Context;
  readonly #processes: number;
  readonly #initializer: Target | undefined;
  readonly #initargs: unknown[];
  readonly #maxtasks: number | null;
  readonly retries: number;
  readonly #results: Channel;
  readonly #resultsRef: PoolChannel;
  readonly #started: RawArray<"i">;
  readonly #slots: Slot[] = [];
  #state = State.Run;
  #broken: { error: unknown } | undefined;
  /** Tasks to send before any job's (taken back from dead workers), and jobs with tasks to send. */
  #retry: Task[] = [];
  readonly #jobs: Job[] = [];
  readonly #queuedJobs = new Set<Job>();
  /** Functions by object, and their references by id (id - 1). */
  readonly #functions = new Map<Fn, number>();
  readonly #functionRefs: FunctionRef[] = [];
  #pumping = false;
  #pumpAbort: AbortController | undefined;
  /** Per function: ms per item, a moving average of what workers report (quick to rise, slow to fall). */
  readonly #itemMs = new Map<number, number>();
  #held = 0;
  #startFailures = 0;
  #lastStartError: unknown;
  #idleWaiters: Array<() => void> = [];
  #terminating: Promise<void> | undefined;
  readonly #stats = { tasksDone: 0, tasksFailed: 0, workersReplaced: 0 };
  readonly #onBeforeExit = () => void this.terminate();

  constructor(options: PoolOptions | number = {}) {
    const opts: PoolOptions = typeof options === "number" ? { processes: options } : options;
    if (opts === null || typeof opts !== "object") throw new TypeError("new Pool(options): options must be an object or a number of processes");
    this.#processes = opts.processes === undefined || opts.processes === null ? cpuCount() : checkCount("processes", opts.processes, 1);
    if (opts.initializer !== undefined && opts.initializer !== null) {
      checkFunction(opts.initializer, "initializer");
      locateFunction(opts.initializer, "initializer");
    }
    this.#initializer = opts.initializer ?? undefined;
    if (opts.initargs !== undefined && !Array.isArray(opts.initargs)) throw new TypeError("initargs must be an array");
    this.#initargs = [...(opts.initargs ?? [])];
    this.#maxtasks = opts.maxtasksperchild === undefined || opts.maxtasksperchild === null ? null : checkCount("maxtasksperchild", opts.maxtasksperchild, 1);
    this.retries = opts.retries === undefined ? 0 : checkCount("retries", opts.retries, 0);
    this.#context = typeof opts.context === "string" || opts.context === undefined ? getContext(opts.context) : opts.context;
    if (typeof this.#context?.Process !== "function") throw new TypeError("context must be a Context or a start method name");
    this.#results = Channel.create(0);
    this.#resultsRef = new PoolChannel(this.#results);
    this.#started = new RawArray("i", this.#processes);
    process.prependListener("beforeExit", this.#onBeforeExit);
    try {
      for (let i = 0; i < this.#processes; i++) {
        const tasks = Channel.create(0);
        // #startWorker fills the worker fields just below; until it has, there is no worker (alive: false).
        const slot: Slot = { index: i, generation: 0, tasks, channelRef: new PoolChannel(tasks), ...workerFields(undefined as unknown as Process), alive: false };
        this.#slots.push(slot);
        this.#startWorker(slot);
      }
    } catch (err) {
      // Python (#19675): a pool that cannot start all its workers leaves none behind.
      this.#state = State.Terminate;
      process.off("beforeExit", this.#onBeforeExit);
      for (const slot of this.#slots) if (slot.alive) slot.process.kill();
      throw err;
    }
  }

  /** How many workers the pool keeps. */
  get processes(): number {
    return this.#processes;
  }

  // ---- calls ----

  /** Run fn(...args) in a worker and wait for its value (Python's apply). */
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options: ApplyOptions = {}): Promise<Awaited<R>> {
    try {
      return this.applyAsync(fn, args, options).get();
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  /** Start fn(...args) in a worker; the AsyncResult settles with its value. */
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options: ApplyAsyncOptions<Awaited<R>> = {}): AsyncResult<Awaited<R>> {
    this.#checkRunning();
    checkTaskOptions(options);
    const callArgs = args ?? ([] as unknown as A);
    if (!Array.isArray(callArgs)) throw new TypeError("args must be an array");
    const { kwargs } = options;
    if (kwargs !== undefined && (kwargs === null || typeof kwargs !== "object")) throw new TypeError("kwargs must be an object");
    const fnId = this.#functionId(fn);
    // Paths in errors read as the caller wrote them: args[1].cb, kwargs.cb.
    const encoded = dumps({ args: callArgs, kwargs }, { root: "" }).data;
    const job = new ApplyJob<Awaited<R>>(this, fnId, encoded, options);
    this.#submit(job);
    return job.result;
  }

  /** fn over every item, in parallel; the values in input order (Python's map). */
  map<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#mapCall(TaskKind.Map, fn as Fn, iterable, options);
  }

  /** map as an AsyncResult, with callback / errorCallback. */
  mapAsync<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#mapAsyncCall(TaskKind.Map, fn as Fn, iterable, options);
  }

  /** fn(...args) for every args array of the input (Python's starmap). */
  starmap<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#mapCall(TaskKind.Starmap, fn as Fn, iterable, options);
  }

  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#mapAsyncCall(TaskKind.Starmap, fn as Fn, iterable, options);
  }

  /** fn over the input, read lazily; values in input order as they become available. */
  imap<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#imapCall(fn as Fn, iterable, true, options) as IMapIterator<Awaited<R>>;
  }

  /** As imap, values in the order they finish. */
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#imapCall(fn as Fn, iterable, false, options) as IMapIterator<Awaited<R>>;
  }

  #mapCall<R>(kind: TaskKind, fn: Fn, iterable: Items<unknown>, options: MapOptions | number | undefined): Promise<R[]> {
    try {
      return this.#mapAsyncCall<R>(kind, fn, iterable, options).get();
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  /** What every map-like call checks first; the options, and the function's id. */
  #prepareCall<O extends MapOptions>(fn: Fn, iterable: Items<unknown>, options: O | number | undefined): { opts: O; fnId: number } {
    this.#checkRunning();
    const opts = (typeof options === "number" ? { chunksize: options } : (options ?? {})) as O;
    checkTaskOptions(opts);
    checkIterable(iterable);
    const fnId = this.#functionId(fn);
    if (opts.chunksize !== undefined) checkCount("chunksize", opts.chunksize, 1);
    return { opts, fnId };
  }

  #mapAsyncCall<R>(kind: TaskKind, fn: Fn, iterable: Items<unknown>, options: MapAsyncOptions<R> | number | undefined): MapResult<R> {
    const { opts, fnId } = this.#prepareCall(fn, iterable, options);
    if (!isAsyncIterable(iterable)) {
      const items = Array.isArray(iterable) ? iterable : [...iterable];
      const job = new MapJob<R>(this, fnId, kind, items, opts.chunksize ?? this.#defaultChunksize(items.length), opts);
      this.#submit(job);
      return job.result;
    }
    // An async input is read whole first, as Python reads a map's input (map needs its length).
    // The result returned now has the callbacks; the job made once the input is read settles it.
    const { callback, errorCallback, ...jobOptions } = opts;
    const result = new MapResult<R>({ callback, errorCallback });
    void (async () => {
      const items: unknown[] = [];
      for await (const item of iterable) items.push(item);
      if (this.#state !== State.Run) throw new ProcessError("Pool not running");
      const job = new MapJob<R>(this, fnId, kind, items, opts.chunksize ?? this.#defaultChunksize(items.length), jobOptions);
      this.#submit(job);
      result[settle](true, await job.result);
    })().catch((error: unknown) => result[settle](false, error));
    return result;
  }

  #imapCall(fn: Fn, iterable: Items<unknown>, ordered: boolean, options: IMapOptions | number | undefined): IMapIterator<unknown> {
    const { opts, fnId } = this.#prepareCall(fn, iterable, options);
    const buffersize = opts.buffersize === undefined ? 16 * this.#processes : checkCount("buffersize", opts.buffersize, 1);
    const job = new IMapJob<unknown>(this, fnId, TaskKind.Map, iterable, ordered, opts.chunksize ?? 1, buffersize, opts);
    this.#submit(job);
    return job.iterator;
  }

  /** Python's rule: about four tasks per worker. */
  #defaultChunksize(length: number): number {
    if (length === 0) return 1;
    return Math.ceil(length / (this.#processes * 4));
  }

  #functionId(fn: Fn): number {
    checkFunction(fn, "func");
    let id = this.#functions.get(fn);
    if (id === undefined) {
      this.#functionRefs.push(locateFunction(fn, "function"));
      id = this.#functionRefs.length;
      this.#functions.set(fn, id);
    }
    return id;
  }

  #checkRunning(): void {
    if (this.#broken) throw this.#broken.error;
    if (this.#state !== State.Run) throw new ProcessError("Pool not running");
  }

  #submit(job: Job): void {
    // A signal aborted before the call: nothing runs.
    if (job.signal?.aborted) job.cancel(abortError(job.signal));
    if (job.exhausted) return;
    this.offer(job);
  }

  /** A job has tasks to send (again). */
  offer(job: Job): void {
    if (!job.settled && !this.#queuedJobs.has(job)) {
      this.#queuedJobs.add(job);
      this.#jobs.push(job);
    }
    this.#dispatch();
  }

  // ---- sending tasks ----

  #peeked: Task | undefined;

  #peekTask(): Task | undefined {
    for (;;) {
      const peeked = this.#peeked;
      if (peeked) {
        if (!peeked.job.settled && !peeked.done) return peeked;
        this.#peeked = undefined;
      }
      const retry = this.#retry.shift();
      if (retry) {
        this.#peeked = retry;
        continue;
      }
      const job = this.#jobs[0];
      if (!job) return undefined;
      const task = job.take();
      if (task) {
        this.#peeked = task;
        continue;
      }
      this.#jobs.shift();
      this.#queuedJobs.delete(job);
    }
  }

  /** How many tasks like `task` a worker may hold: about WINDOW_MS of them, at least 2, 2 until its function has been timed. */
  #window(task: Task): number {
    const itemMs = this.#itemMs.get(task.fnId);
    if (itemMs === undefined) return 2;
    return Math.max(2, Math.min(MAX_WINDOW, Math.floor(WINDOW_MS / Math.max(itemMs * task.size, 1e-6))));
  }

  #learn(task: Task, ms: number): void {
    const perItem = ms / task.size;
    const before = this.#itemMs.get(task.fnId);
    // Longer tasks shrink the window at once (the last tasks of a call must not queue behind a busy worker).
    this.#itemMs.set(task.fnId, before === undefined || perItem > before ? perItem : before * 0.8 + perItem * 0.2);
  }

  #dispatch(): void {
    if (this.#state === State.Terminate || this.#broken) return;
    let progress = true;
    while (progress && this.#peekTask()) {
      progress = false;
      for (const slot of this.#slots) {
        if (this.#fill(slot)) progress = true;
        if (!this.#peekTask()) break;
      }
    }
    if (!this.#peeked) this.#stealForIdle();
    if (this.#held > 0 || this.#peeked) this.#pump();
  }

  /**
   * Nothing left to send, a worker idle, and another with tasks it has not
   * begun waiting in its channel: take those back and give them to the idle
   * one, so that the last tasks of a call do not wait behind a busy worker.
   */
  #stealForIdle(): void {
    const idle = this.#slots.find((slot) => slot.alive && slot.ready && !slot.stopped && slot.held.length === 0);
    if (!idle) return;
    let victim: Slot | undefined;
    let most = 0;
    for (const slot of this.#slots) {
      if (!slot.alive || slot.stopped) continue;
      const mark = Atomics.load(this.#started.view, slot.index);
      let waiting = 0;
      while (waiting < slot.held.length && !hasBegun(slot.held[slot.held.length - 1 - waiting]!.ordinal, mark)) waiting++;
      // Only from a worker busy with a task of its own: taking its only task would just move it.
      if (waiting > most && slot.held.length > waiting) [victim, most] = [slot, waiting];
    }
    if (!victim) return;
    // The worker may take a message while we drain: what we got is told by the ordinals in each message.
    const back: Task[] = [];
    for (let message = victim.tasks.tryRead(); message; message = victim.tasks.tryRead()) {
      const batch = readTasks(message);
      const at = victim.held.findIndex((task) => task.ordinal >>> 0 === batch.first);
      if (at >= 0) back.push(...victim.held.splice(at, batch.count));
    }
    if (back.length === 0) return;
    victim.assigned -= back.length;
    if (victim.held.length === 0) victim.exclusive = false;
    back.sort((a, b) => a.ordinal - b.ordinal);
    for (const task of back) this.#release(task);
    this.#retry.unshift(...back);
    this.#fill(idle);
  }

  /** Send `slot` what fits in its window (see #window); true if it took anything. */
  #fill(slot: Slot): boolean {
    if (!slot.alive || slot.stopped || slot.exclusive) return false;
    const next = this.#peekTask();
    if (!next) return false;
    const window = this.#window(next);
    const held = slot.held.length;
    if (held * 2 > window && held > 0) return false;
    let room = window - held;
    if (this.#maxtasks !== null) room = Math.min(room, this.#maxtasks - slot.assigned);
    const batch: Task[] = [];
    while (room > 0) {
      const task = this.#peekTask();
      if (!task) break;
      if (task.job.guarded) {
        if (batch.length > 0 || held > 0 || !slot.ready) break;
        slot.exclusive = true;
        batch.push(this.#takePeeked());
        break;
      }
      batch.push(this.#takePeeked());
      room--;
    }
    if (batch.length === 0) return false;
    this.#send(slot, batch);
    return true;
  }

  #takePeeked(): Task {
    const task = this.#peeked!;
    this.#peeked = undefined;
    return task;
  }

  #send(slot: Slot, batch: Task[]): void {
    let tasks = this.#encodeTasks(batch);
    if (!tasks) {
      // Something in the batch cannot travel: fail those tasks alone, send the rest.
      batch = batch.filter((task) => this.#encodable(task));
      if (batch.length === 0) {
        slot.exclusive = false;
        return;
      }
      tasks = this.#encodeTasks(batch)!;
    }
    // Every message names its functions (a worker loads each once): a message taken back then never strands a later one.
    const table: unknown[] = [];
    const named = new Set<number>();
    for (const task of batch) {
      if (named.has(task.fnId)) continue;
      named.add(task.fnId);
      table.push(task.fnId, this.#functionRefs[task.fnId - 1]);
    }
    const functions = dumps(table).data;
    for (const task of batch) {
      task.worker = slot;
      task.ordinal = slot.sent++;
      slot.assigned++;
      slot.held.push(task);
      task.job.running.add(task);
      this.#held++;
      if (task.job.timeout !== null) task.timer = setTimeout(() => this.#timedOut(task), task.job.timeout);
    }
    slot.tasks.tryWrite(taskMessage(batch.length, batch[0]!.ordinal, functions, tasks), false);
  }

  #encodeTasks(batch: Task[]): Uint8Array | undefined {
    const flat: unknown[] = [];
    for (const task of batch) flat.push(task.kind, task.fnId, task.payload);
    try {
      return dumps(flat).data;
    } catch (err) {
      if (err instanceof SerializationError) return undefined;
      throw err;
    }
  }

  /** False (and the task failed with the reason) when its items cannot be sent. */
  #encodable(task: Task): boolean {
    if (task.kind === TaskKind.Apply) return true;
    const items = task.payload as unknown[];
    try {
      for (let i = 0; i < items.length; i++) dumps(items[i], { root: `iterable[${task.index + i}]` });
      return true;
    } catch (err) {
      this.#outcome(task, false, err);
      return false;
    }
  }

  // ---- receiving ----

  /** Run the result loop unless it runs already. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    void this.#pumpLoop().catch((err: unknown) => {
      // A bug here must not hang callers: fail everything outstanding with it.
      this.#breakPool(err);
    });
  }

  /** Tasks held by workers, or waiting to be sent. */
  #hasWork(): boolean {
    return this.#held > 0 || this.#peekTask() !== undefined;
  }

  #busy(): boolean {
    return this.#state !== State.Terminate && !this.#broken && this.#hasWork();
  }

  async #pumpLoop(): Promise<void> {
    const channel = this.#results;
    try {
      for (;;) {
        let message: Message | undefined = channel.tryRead();
        if (!message) {
          if (!this.#busy()) return;
          this.#pumpAbort ??= new AbortController();
          try {
            message = await runAsync(channel.readSteps(Infinity, false, false), this.#pumpAbort.signal);
          } catch (err) {
            if (!this.#pumpAbort?.signal.aborted) throw err;
            this.#pumpAbort = undefined;
            continue;
          }
        }
        // This message and all that came meanwhile, then send what fits, once.
        do {
          const decoding = this.#handle(readResult(message!));
          if (decoding) await decoding;
          message = channel.tryRead();
        } while (message);
        this.#dispatch();
        this.#settleIdle();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Stop waiting for results if nothing is outstanding (the loop re-checks and ends). */
  #settleIdle(): void {
    if (this.#hasWork()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    if (this.#state === State.Close) this.#stopWorkers();
    this.#pumpAbort?.abort();
  }

  /** Handle one message; a Promise only when its body needs modules imported first. */
  #handle(header: ResultHeader): Promise<void> | undefined {
    const slot = this.#slots[header.slot];
    if (!slot || slot.generation !== header.generation) return undefined;
    switch (header.kind) {
      case ResultKind.Ready:
        slot.ready = true;
        this.#startFailures = 0;
        return undefined;
      case ResultKind.InitFailed:
        return loads(header.body).then(
          (error) => void (this.#lastStartError = error),
          (error: unknown) => void (this.#lastStartError = error),
        );
      case ResultKind.Exited:
        this.#workerExited(slot, header.arg);
        return undefined;
      case ResultKind.Results:
        return this.#onResults(slot, header);
    }
    return undefined;
  }

  #onResults(slot: Slot, header: ResultHeader): Promise<void> | undefined {
    const { ok, single, ms, value } = readOutcome(header);
    const task = slot.held[0];
    if (task) this.#learn(task, ms);
    try {
      const ready = value.tag === MessageTag.Dumped ? loadsIfImported(value.payload) : { value: decodeMessageSync(value) };
      if (ready) {
        this.#settleNext(slot, ok, single ? [ready.value] : ready.value);
        return undefined;
      }
    } catch (err) {
      // It cannot be rebuilt here (a class this process lacks...): that is the task's error.
      this.#settleNext(slot, false, err);
      return undefined;
    }
    return loads(value.payload).then(
      (rebuilt) => this.#settleNext(slot, ok, single ? [rebuilt] : rebuilt),
      (err: unknown) => this.#settleNext(slot, false, err),
    );
  }

  /** The outcome of the oldest task `slot` holds (a worker answers its tasks in order). */
  #settleNext(slot: Slot, ok: boolean, value: unknown): void {
    const task = slot.held.shift();
    if (!task) return;
    this.#release(task);
    if (!task.done) this.#outcome(task, ok, value);
    if (slot.held.length === 0) slot.exclusive = false;
  }

  /** A task leaves its worker. */
  #release(task: Task): void {
    this.#held--;
    task.job.running.delete(task);
    if (task.timer) clearTimeout(task.timer);
    task.timer = undefined;
  }

  #outcome(task: Task, ok: boolean, value: unknown): void {
    task.done = true;
    if (ok) this.#stats.tasksDone++;
    else this.#stats.tasksFailed++;
    if (task.job.settled) return;
    if (ok) task.job.complete(task, value);
    else task.job.fail(task, value);
  }

  // ---- workers ----

  #startWorker(slot: Slot): void {
    const setup: WorkerSetup = {
      slot: slot.index,
      generation: slot.generation,
      tasks: slot.channelRef,
      results: this.#resultsRef,
      started: this.#started,
      initializer: this.#initializer as WorkerSetup["initializer"],
      initargs: this.#initargs,
      maxtasks: this.#maxtasks,
    };
    Atomics.store(this.#started.view, slot.index, 0);
    const worker = new this.#context.Process({ target: poolWorker, args: [setup], daemon: true });
    worker.name = worker.name.replace(/^Process-/, "PoolWorker-");
    worker.start();
    Object.assign(slot, workerFields(worker));
    const generation = slot.generation;
    void worker[exitedUnheld]().then((code) => {
      if (this.#state === State.Terminate && this.#held === 0) return;
      // After everything the worker wrote, so that its results are handled first.
      this.#results.tryWrite(resultMessage(slot.index, generation, ResultKind.Exited, code), false);
      this.#pump();
    });
  }

  #workerExited(slot: Slot, exitCode: number): void {
    if (!slot.alive) return;
    slot.alive = false;
    const wasReady = slot.ready;
    const mark = Atomics.load(this.#started.view, slot.index);
    const held = slot.held;
    slot.held = [];
    slot.exclusive = false;
    const again: Task[] = [];
    for (const task of held) {
      this.#release(task);
      if (task.done || task.job.settled) continue;
      if (!hasBegun(task.ordinal, mark)) {
        again.push(task);
        continue;
      }
      if (task.attempts < task.job.retries) {
        task.attempts++;
        again.push(task);
        continue;
      }
      this.#outcome(task, false, this.#lostError(slot, exitCode, task));
    }
    // They were sent before anything still waiting here: they go first.
    if (this.#peeked && again.length > 0) again.push(this.#takePeeked());
    this.#retry.unshift(...again);
    if (!wasReady && !slot.stopped) {
      this.#startFailures++;
      if (this.#startFailures >= MAX_START_FAILURES) {
        const cause = this.#lastStartError ?? new WorkerLostError(`pool workers keep dying before they are ready (last exit code ${exitCode})`);
        this.#breakPool(this.#lastStartError !== undefined ? startError(cause) : cause);
        return;
      }
    }
    if (this.#state === State.Run || (this.#state === State.Close && this.#hasWork())) {
      this.#replace(slot);
    }
    this.#dispatch();
    this.#settleIdle();
  }

  #replace(slot: Slot): void {
    // Tasks left in its channel were taken back above: the new worker starts from an empty one.
    while (slot.tasks.tryRead()) {
      // discard
    }
    slot.generation++;
    this.#stats.workersReplaced++;
    try {
      this.#startWorker(slot);
    } catch (err) {
      this.#breakPool(err);
    }
  }

  #lostError(slot: Slot, exitCode: number, task: Task): WorkerLostError {
    const signal = exitCode < 0 ? signalName(-exitCode) : null;
    const pid = slot.process.pid;
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const what = task.kind === TaskKind.Apply ? "its task" : task.size === 1 ? `item ${task.index}` : `items ${task.index}..${task.index + task.size - 1}`;
    return new WorkerLostError(`pool worker ${slot.process.name} (pid ${pid}) ${how} while running ${what}`, { exitCode, signal, pid, index: task.index });
  }

  #timedOut(task: Task): void {
    task.timer = undefined;
    if (task.done) return;
    const slot = task.worker;
    this.#outcome(task, false, new TimeoutError(`the task did not finish within ${task.job.timeout} ms; its worker was killed`));
    this.#killHolder(slot, task);
  }

  /** Kill the worker that holds `task`, to stop it (its death is then handled as any other). */
  #killHolder(slot: Slot | null, task: Task): void {
    if (slot?.alive && slot.held.includes(task)) slot.process.kill();
  }

  abortJob(job: Job, error: unknown, killRunning: boolean): void {
    if (job.settled) return;
    for (const task of job.running) {
      task.done = true;
      if (killRunning) this.#killHolder(task.worker, task);
    }
    job.cancel(error);
    this.#settleIdle();
  }

  /** Nothing more can run: every outstanding and future call fails with `error`. */
  #breakPool(error: unknown): void {
    if (this.#broken) return;
    this.#broken = { error };
    this.#failAll(error);
    for (const slot of this.#slots) if (slot.alive) slot.process.kill();
  }

  #failAll(error: unknown): void {
    const jobs = new Set<Job>(this.#jobs);
    for (const task of this.#retry) jobs.add(task.job);
    if (this.#peeked) jobs.add(this.#peeked.job);
    for (const slot of this.#slots) for (const task of slot.held) jobs.add(task.job);
    this.#retry = [];
    this.#peeked = undefined;
    this.#jobs.length = 0;
    this.#queuedJobs.clear();
    for (const slot of this.#slots) {
      for (const task of slot.held) {
        this.#release(task);
        task.done = true;
      }
      slot.held = [];
    }
    for (const job of jobs) job.cancel(error);
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    this.#pumpAbort?.abort();
  }

  #stopWorkers(): void {
    for (const slot of this.#slots) {
      if (!slot.alive || slot.stopped) continue;
      slot.stopped = true;
      slot.tasks.tryWrite(STOP, false);
    }
  }

  // ---- lifecycle ----

  /** No more calls; workers exit once the work already given is done (Python's close). */
  close(): void {
    if (this.#state !== State.Run) return;
    this.#state = State.Close;
    this.#settleIdle();
  }

  /** Stop now: workers are killed, calls not finished fail. */
  terminate(): Promise<void> {
    this.#terminating ??= handled(this.#terminate());
    return this.#terminating;
  }

  async #terminate(): Promise<void> {
    this.#state = State.Terminate;
    process.off("beforeExit", this.#onBeforeExit);
    this.#failAll(new ProcessError("the pool was terminated"));
    const exits: Promise<void>[] = [];
    for (const slot of this.#slots) {
      if (!slot.alive) continue;
      const worker = slot.process;
      if (worker.exitCode !== null) continue;
      worker.terminate();
      const timer = setTimeout(() => worker.exitCode === null && worker.kill(), TERMINATE_GRACE_MS);
      exits.push(worker.join().finally(() => clearTimeout(timer)));
    }
    await Promise.all(exits);
    for (const slot of this.#slots) slot.alive = false;
  }

  /** Wait for the workers to exit; only after close() or terminate() (Python's join). */
  async join(): Promise<void> {
    if (this.#state === State.Run) throw new ProcessError("Pool is still running");
    if (this.#state === State.Terminate) return this.terminate();
    for (;;) {
      if (this.#hasWork()) {
        await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
        continue;
      }
      this.#stopWorkers();
      const running = this.#slots.filter((slot) => slot.alive && slot.process.exitCode === null).map((slot) => slot.process);
      if (running.length === 0 || this.#broken) break;
      await Promise.all(running.map((worker) => worker.join()));
      // Let the exit notices be handled: a worker that died with work left is replaced, and waited for in turn.
      await new Promise((resolve) => setImmediate(resolve));
    }
    process.off("beforeExit", this.#onBeforeExit);
  }

  /** `await using pool = new Pool()`: terminates at the end of the scope, as Python's `with`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }

  stats(): PoolStats {
    let queued = this.#retry.length + (this.#peeked ? 1 : 0);
    for (const job of this.#jobs) queued += job.waiting;
    return {
      state: this.#broken && this.#state !== State.Terminate ? "broken" : this.#state === State.Run ? "running" : this.#state === State.Close ? "closed" : "terminated",
      processes: this.#processes,
      workers: this.#slots.filter((slot) => slot.alive).length,
      busyWorkers: this.#slots.filter((slot) => slot.alive && slot.held.length > 0).length,
      queued,
      ...this.#stats,
    };
  }

  toString(): string {
    const state = this.#state === State.Run ? "RUN" : this.#state === State.Close ? "CLOSE" : "TERMINATE";
    return `<multiproc.Pool state=${state} pool_size=${this.#processes}>`;
  }
}

/** The public pool: a thin class over its engine, local unless `backend` names another. */
export class Pool implements PoolApi {
  readonly #engine: PoolApi;

  constructor(options: PoolOptions | number = {}) {
    const backend = typeof options === "object" && options !== null ? options.backend : undefined;
    if (backend !== undefined && (backend === null || typeof backend.createEngine !== "function")) {
      throw new TypeError("backend must be a PoolBackend, such as redis({ url, queue }) from multiproc/redis");
    }
    this.#engine = backend ? backend.createEngine(options as PoolOptions) : new LocalPool(options);
  }

  /** How many workers the pool keeps. */
  get processes(): number {
    return this.#engine.stats().processes;
  }

  /** Run fn(...args) in a worker and wait for its value (Python's apply). */
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: ApplyOptions): Promise<Awaited<R>> {
    return this.#engine.apply(fn, args, options);
  }

  /** Start fn(...args) in a worker; the AsyncResult settles with its value. */
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: ApplyAsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>> {
    return this.#engine.applyAsync(fn, args, options);
  }

  /** fn over every item, in parallel; the values in input order (Python's map). */
  map<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#engine.map(fn, iterable, options);
  }

  /** map as an AsyncResult, with callback / errorCallback. */
  mapAsync<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#engine.mapAsync(fn, iterable, options);
  }

  /** fn(...args) for every args array of the input (Python's starmap). */
  starmap<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapOptions | number): Promise<Awaited<R>[]> {
    return this.#engine.starmap(fn, iterable, options);
  }

  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, iterable: Items<A>, options?: MapAsyncOptions<Awaited<R>> | number): MapResult<Awaited<R>> {
    return this.#engine.starmapAsync(fn, iterable, options);
  }

  /** fn over the input, read lazily; values in input order as they become available. */
  imap<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#engine.imap(fn, iterable, options);
  }

  /** As imap, values in the order they finish. */
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Items<T>, options?: IMapOptions | number): IMapIterator<Awaited<R>> {
    return this.#engine.imapUnordered(fn, iterable, options);
  }

  /** No more calls; workers exit once the work already given is done (Python's close). */
  close(): void {
    this.#engine.close();
  }

  /** Stop now: workers are killed, calls not finished fail. */
  terminate(): Promise<void> {
    return this.#engine.terminate();
  }

  /** Wait for the workers to exit; only after close() or terminate() (Python's join). */
  join(): Promise<void> {
    return this.#engine.join();
  }

  /** `await using pool = new Pool()`: terminates at the end of the scope, as Python's `with`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#engine[Symbol.asyncDispose]();
  }

  stats(): PoolStats {
    return this.#engine.stats();
  }

  /** A pool belongs to the process that made it (Python refuses to pickle one too). */
  [reduce](): never {
    throw new SerializationError("a Pool cannot be sent to another process: pass what its tasks need instead", "pool");
  }

  toString(): string {
    return this.#engine.toString();
  }
}

function startError(cause: unknown): Error {
  return new ProcessError("the pool's initializer failed in every worker started; the pool cannot run tasks", { cause });
}
