/*
 * The local pool engine (Python's pool.py): worker processes that run tasks,
 * with Python's whole API (apply, map, imap, starmap and their async forms, close,
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
 *   - Which worker gets which task is the scheduler's (pool/scheduler.ts):
 *     tasks spread over the workers before any worker holds two; when
 *     nothing is left to send and a worker is idle, the tasks a busy (or
 *     still starting) worker has not begun are taken back from its channel
 *     and handed out again. A function travels by reference, named in each
 *     message, loaded once per worker.
 *   - Starting, replacing and stopping workers, and deciding when failing
 *     starts break the pool, is pool/workers.ts's.
 *
 * Talks to: pool/calls.ts (the calls it inherits: apply, map, imap),
 * pool/jobs.ts, pool/scheduler.ts,
 * pool/workers.ts, pool/protocol.ts (the wire format), pool/results.ts (what
 * calls return), pool/options.ts; pool.ts (the public Pool) makes it.
 */
import { Channel, type Visit } from "../channel.ts";
import { abortError, ProcessError, TimeoutError, WorkerLostError } from "../errors.ts";
import { locateFunction } from "../functionRefs.ts";
import { boundProcess, cpuCount, signalName, type Process } from "../process.ts";
import { checkMethod, getStartMethod } from "../startMethod.ts";
import { dumps, SerializationError, type Message } from "../reduction.ts";
import { runSync } from "../synchronize.ts";
import { handled } from "../waiting.ts";
import { Scheduler } from "./scheduler.ts";
import { FunctionTables, PoolChannel, ResultKind, TaskKind, firstOutcomeAt, readInitError, readOutcome, readResult, readResultAt, readTasks, resultHeader, resultMessage, taskMessage, type Outcome, type ResultHeader } from "./protocol.ts";
import { Workers, type Slot } from "./workers.ts";
import type { Job, Task } from "./jobs.ts";
import type { PoolApi } from "./api.ts";
import { PoolCalls } from "./calls.ts";
import { checkCount, checkFunction, type PoolOptions, type PoolStats } from "./options.ts";

/** Results taken from the channel per taking of its lock. */
const DRAIN_BATCH = 256;
// Every worker answers here, a tiny task's result in 48 bytes: while a new pool's parent and workers are still
// compiling their code, 20k results can outrun the parent, and a ring that grows under them costs each process a
// remap and a recompile of its write path (a fresh pool's first 20k-task map took 10% longer with the default 64 KiB).
const RESULT_RING = 1024 * 1024;

const enum State {
  Run,
  Close,
  Terminate,
}

/** What only the library's own code asks of the engine (not a Pool option). */
export interface EngineTuning {
  /**
   * Wait for results awake, this thread blocked, for up to this many ms
   * before sleeping on the event loop: a result is then handled without the
   * event loop's wake (a `multiproc worker`'s one-item task: 0.87 -> 0.6 ms).
   * Only for a process whose event loop has nothing urgent to do meanwhile.
   */
  promptResultsMs?: number;
}

export class LocalPool extends PoolCalls implements PoolApi {
  readonly #processes: number;
  readonly retries: number;
  readonly #results: Channel;
  readonly #workers: Workers;
  #state = State.Run;
  #broken: { error: unknown } | undefined;
  readonly #scheduler: Scheduler;
  readonly #functionTables = new FunctionTables((fnId) => this.functionRef(fnId));
  #pumping = false;
  /** While the result loop sleeps: ends its sleep (to look at its state again). */
  #wakePump: (() => void) | undefined;
  #held = 0;
  #idleWaiters: Array<() => void> = [];
  #terminating: Promise<void> | undefined;
  readonly #stats = { tasksDone: 0, tasksFailed: 0 };
  readonly #onBeforeExit = () => void this.terminate();

  readonly #promptResultsMs: number;

  constructor(opts: PoolOptions, tuning: EngineTuning = {}) {
    super();
    this.#promptResultsMs = tuning.promptResultsMs ?? 0;
    this.#processes = opts.processes === undefined || opts.processes === null ? cpuCount() : checkCount("processes", opts.processes, 1);
    if (opts.initializer !== undefined && opts.initializer !== null) {
      checkFunction(opts.initializer, "initializer");
      locateFunction(opts.initializer, "initializer");
    }
    if (opts.initargs !== undefined && !Array.isArray(opts.initargs)) throw new TypeError("initargs must be an array");
    const maxtasks = opts.maxtasksperchild === undefined || opts.maxtasksperchild === null ? null : checkCount("maxtasksperchild", opts.maxtasksperchild, 1);
    this.#scheduler = new Scheduler(maxtasks);
    this.retries = opts.retries === undefined ? 0 : checkCount("retries", opts.retries, 0);
    const { context } = opts;
    let WorkerProcess: typeof Process;
    if (typeof context === "string" || context === undefined) WorkerProcess = boundProcess(checkMethod(context ?? getStartMethod()));
    else if (typeof context?.Process === "function") WorkerProcess = context.Process;
    else throw new TypeError("context must be a Context or a start method name");
    this.#results = Channel.create(0, RESULT_RING);
    // Python (#19675): a pool that cannot start all its workers leaves none behind, and hears nothing of them.
    this.#state = State.Terminate;
    this.#workers = new Workers({
      processes: this.#processes,
      Process: WorkerProcess,
      initializer: opts.initializer ?? undefined,
      initargs: [...(opts.initargs ?? [])],
      maxtasks,
      results: new PoolChannel(this.#results),
      onExit: (slot, generation, code) => {
        if (this.#state === State.Terminate && this.#held === 0) return;
        // After everything the worker wrote, so that its results are handled first.
        this.#results.tryWrite(resultMessage(slot.index, generation, ResultKind.Exited, code), false);
        this.#pump();
      },
    });
    this.#state = State.Run;
    process.prependListener("beforeExit", this.#onBeforeExit);
  }

  // ---- calls: pool/calls.ts ----

  protected get workerCount(): number {
    return this.#processes;
  }

  protected checkRunning(): void {
    if (this.#broken) throw this.#broken.error;
    if (this.#state !== State.Run) throw new ProcessError("Pool not running");
  }

  protected submit(job: Job): void {
    // A signal aborted before the call: nothing runs.
    if (job.signal?.aborted) job.cancel(abortError(job.signal));
    if (job.exhausted) return;
    this.offer(job);
  }

  /** A job has tasks to send (again). */
  offer(job: Job): void {
    this.#scheduler.add(job);
    this.#dispatch();
  }

  // ---- sending tasks ----

  #dispatch(): void {
    if (this.#state === State.Terminate || this.#broken) return;
    this.#sendAssigned();
    const slots = this.#workers.slots;
    const steal = this.#scheduler.stealFrom(this.#workers.views(), (i) => this.#workers.notBegun(slots[i]!));
    if (steal) {
      this.#takeBack(slots[steal.victim]!);
      this.#sendAssigned();
    }
    if (this.#hasWork()) this.#pump();
  }

  #sendAssigned(): void {
    for (const { worker, messages } of this.#scheduler.assign(this.#workers.views())) {
      const slot = this.#workers.slots[worker]!;
      for (const batch of messages) this.#send(slot, batch);
    }
  }

  /** Take back the tasks still waiting in `slot`'s channel, to be handed out again (to an idle worker first). */
  #takeBack(slot: Slot): void {
    // The worker may take a message while we drain: what we got is told by the ordinals in each message.
    const back: Task[] = [];
    for (let message = slot.tasks.tryRead(); message; message = slot.tasks.tryRead()) {
      const batch = readTasks(message);
      const at = slot.held.findIndex((task) => task.ordinal >>> 0 === batch.first);
      if (at >= 0) back.push(...slot.held.splice(at, batch.count));
    }
    if (back.length === 0) return;
    slot.assigned -= back.length;
    if (slot.held.length === 0) slot.exclusive = false;
    back.sort((a, b) => a.ordinal - b.ordinal);
    for (const task of back) this.#release(task);
    this.#scheduler.requeue(back);
  }

  #send(slot: Slot, batch: Task[]): void {
    if (batch[0]!.job.guarded) slot.exclusive = true;
    let message = this.#taskMessage(slot, batch);
    if (!message) {
      // Something in the batch cannot travel: fail those tasks alone, send the rest.
      batch = batch.filter((task) => this.#encodable(task));
      if (batch.length === 0) {
        slot.exclusive = false;
        return;
      }
      message = this.#taskMessage(slot, batch)!;
    }
    for (const task of batch) {
      task.worker = slot;
      task.ordinal = slot.sent++;
      slot.assigned++;
      slot.held.push(task);
      this.#held++;
    }
    slot.tasks.tryWrite(message, false);
  }

  #taskMessage(slot: Slot, batch: Task[]): Message | undefined {
    try {
      // A timeout runs from the task's start, not from its wait in the channel or the loading of its module.
      return taskMessage(slot.sent, batch, this.#functionTables, batch[0]!.job.timeout !== null);
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
    return this.#held > 0 || this.#scheduler.peek() !== undefined;
  }

  #busy(): boolean {
    return this.#state !== State.Terminate && !this.#broken && this.#hasWork();
  }

  async #pumpLoop(): Promise<void> {
    const channel = this.#results;
    try {
      for (;;) {
        if (!(await this.#drainResults())) {
          if (!this.#busy()) return;
          const message = this.#promptResultsMs > 0 ? runSync(channel.readSteps(performance.now() + this.#promptResultsMs, false, true)) : undefined;
          if (!message) {
            await this.#sleepUntilReadable();
            continue;
          }
          const decoding = this.#handle(readResult(message));
          if (decoding) await decoding;
          // And all that came meanwhile.
          await this.#drainResults();
        }
        // Then send what fits, once.
        this.#dispatch();
        this.#settleIdle();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Until a result is there, or #interruptPump() is called. */
  #sleepUntilReadable(): Promise<void> {
    return new Promise((resolve) => {
      let ready = false;
      const cancel = this.#results.whenReadable(() => {
        ready = true;
        this.#wakePump = undefined;
        resolve();
      });
      if (ready) return;
      this.#wakePump = () => {
        this.#wakePump = undefined;
        if (cancel()) resolve();
      };
    });
  }

  /** Wake the result loop if it sleeps, so that it sees there is nothing left to wait for. */
  #interruptPump(): void {
    this.#wakePump?.();
  }

  /** One header and one outcome, reused for every result read in place. */
  readonly #scratchHeader = resultHeader();
  readonly #scratchOutcome: Outcome = { ok: false, ms: 0, value: undefined };
  /** A result being decoded: the ones after it wait. */
  #decoding: Promise<void> | undefined;

  readonly #visitResult: Visit = (_tag, bytes, at, length) => {
    this.#decoding = this.#handle(readResultAt(bytes, at, length, this.#scratchHeader));
    return this.#decoding === undefined;
  };

  /** Handle every result there now, in order, where it lies in the channel; whether there was any. */
  async #drainResults(): Promise<boolean> {
    let any = false;
    while (this.#results.drain(DRAIN_BATCH, this.#visitResult) > 0) {
      any = true;
      const decoding = this.#decoding;
      this.#decoding = undefined;
      if (decoding) await decoding;
    }
    return any;
  }

  /** Stop waiting for results if nothing is outstanding (the loop re-checks and ends). */
  #settleIdle(): void {
    if (this.#hasWork()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    if (this.#state === State.Close) this.#workers.stop();
    this.#interruptPump();
  }

  /** Handle one message; a Promise only when its body needs modules imported first. */
  #handle(header: ResultHeader): Promise<void> | undefined {
    const slot = this.#workers.slots[header.slot];
    if (!slot || slot.generation !== header.generation) return undefined;
    switch (header.kind) {
      case ResultKind.Ready:
        this.#workers.ready(slot);
        return undefined;
      case ResultKind.InitFailed:
        return readInitError(header).then(
          (error) => this.#workers.initFailed(error),
          (error: unknown) => this.#workers.initFailed(error),
        );
      case ResultKind.Begun: {
        const task = slot.held.find((held) => (held.ordinal | 0) === header.arg);
        if (task && !task.done && task.job.timeout !== null) task.timer = setTimeout(() => this.#timedOut(task), task.job.timeout);
        return undefined;
      }
      case ResultKind.Exited:
        this.#workerExited(slot, header.arg);
        return undefined;
      case ResultKind.Results:
        return this.#onResults(slot, header);
    }
    return undefined;
  }

  #onResults(slot: Slot, header: ResultHeader): Promise<void> | undefined {
    return this.#settleOutcomes(slot, header.bytes, firstOutcomeAt(header), header.end, header.arg);
  }

  /** Settle the oldest tasks `slot` holds with the `count` outcomes in bytes[at, end). */
  #settleOutcomes(slot: Slot, bytes: Uint8Array, at: number, end: number, count: number): Promise<void> | undefined {
    const outcome = this.#scratchOutcome;
    for (let left = count; left > 0; left--) {
      const task = slot.held[0];
      at = readOutcome(bytes, at, outcome, task?.job.copiesResults);
      if (task) this.#scheduler.learn(task, outcome.ms);
      const { ok, value } = outcome;
      if (!(value instanceof Promise)) {
        this.#settleNext(slot, ok, value);
        continue;
      }
      // Modules must be imported first (and if it still cannot be rebuilt here, that is the task's error). The outcomes
      // after it wait for it, copied out of the ring they lie in.
      const rest = bytes.slice(at, end);
      return value
        .then(
          (rebuilt) => this.#settleNext(slot, ok, rebuilt),
          (err: unknown) => this.#settleNext(slot, false, err),
        )
        .then(() => this.#settleOutcomes(slot, rest, 0, rest.length, left - 1));
    }
    return undefined;
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

  #workerExited(slot: Slot, exitCode: number): void {
    if (!slot.alive) return;
    const held = slot.held;
    slot.held = [];
    // The slot takes nothing more from here on: settling a lost task below runs the caller's code (an imap consumer
    // that reads on), which may hand out tasks at once, and one given to this slot would vanish with it.
    const next = this.#workers.exited(slot, exitCode);
    const again: Task[] = [];
    for (const task of held) {
      this.#release(task);
      if (task.done || task.job.settled) continue;
      if (!this.#workers.begun(slot, task)) {
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
    this.#scheduler.requeue(again);
    if ("broken" in next) {
      this.#breakPool(next.broken);
      return;
    }
    if (next.replaceIn === 0) this.#replaceIfNeeded(slot);
    else {
      setTimeout(() => {
        this.#replaceIfNeeded(slot);
        this.#dispatch();
        // An idle pool never keeps the program alive, not even while it waits to replace a worker.
      }, next.replaceIn).unref();
    }
    this.#dispatch();
    this.#settleIdle();
  }

  #replaceIfNeeded(slot: Slot): void {
    if (slot.alive || this.#broken) return;
    if (this.#state !== State.Run && !(this.#state === State.Close && this.#hasWork())) return;
    try {
      this.#workers.replace(slot);
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
    // Aborts are rare: the workers' lists are searched rather than each job keeping its own, which every task would pay for.
    for (const slot of this.#workers.slots) {
      for (const task of slot.held) {
        if (task.job !== job) continue;
        task.done = true;
        if (killRunning) this.#killHolder(slot, task);
      }
    }
    job.cancel(error);
    this.#settleIdle();
  }

  /** Nothing more can run: every outstanding and future call fails with `error`. */
  #breakPool(error: unknown): void {
    if (this.#broken) return;
    this.#broken = { error };
    this.#failAll(error);
    this.#workers.kill();
  }

  #failAll(error: unknown): void {
    const jobs = this.#scheduler.clear();
    const slots = this.#workers.slots;
    for (const slot of slots) for (const task of slot.held) jobs.add(task.job);
    for (const slot of slots) {
      for (const task of slot.held) {
        this.#release(task);
        task.done = true;
      }
      slot.held = [];
    }
    for (const job of jobs) job.cancel(error);
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    this.#interruptPump();
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
    await this.#workers.terminate();
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
      this.#workers.stop();
      if (this.#broken || !(await this.#workers.join())) break;
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
    return {
      state: this.#broken && this.#state !== State.Terminate ? "broken" : this.#state === State.Run ? "running" : this.#state === State.Close ? "closed" : "terminated",
      processes: this.#processes,
      workers: this.#workers.alive().length,
      busyWorkers: this.#workers.alive().filter((slot) => slot.held.length > 0).length,
      queued: this.#scheduler.queued,
      ...this.#stats,
      workersReplaced: this.#workers.replaced,
      pids: this.#workers.alive().map((slot) => slot.process.pid!),
    };
  }

  override toString(): string {
    const state = this.#state === State.Run ? "RUN" : this.#state === State.Close ? "CLOSE" : "TERMINATE";
    return `<multiproc.Pool state=${state} pool_size=${this.#processes}>`;
  }
}
