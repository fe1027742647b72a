/*
 * A pool's workers (Python's Pool._repopulate_pool / _maintain_pool):
 * start them, replace one that exited (a retired one after
 * maxtasksperchild, a dead one), stop and terminate them, and decide when
 * workers failing to start mean the pool cannot run at all.
 *
 * Only failures of the workers' own making count towards that: an
 * initializer that throws or exits, a module that will not load. A worker
 * killed by a signal while it starts (an operator's kill, the OOM killer
 * on a loaded machine) is replaced, however often; a backoff keeps a
 * storm of such deaths from spinning.
 *
 * Talks to: pool/worker.ts (the Process target it starts), pool/protocol.ts
 * (the channels), pool/scheduler.ts (what it knows of a worker),
 * spawn/standby.ts (a worker start's spare waits for an idle core);
 * pool/engine.ts owns it.
 */
import { Channel } from "../channel.ts";
import { ProcessError, WorkerLostError } from "../errors.ts";
import { exitedUnheld, type Process, type Target } from "../process.ts";
import { RawArray } from "../sharedctypes.ts";
import { whileStartingWorkers } from "../spawn/standby.ts";
import type { Task } from "./jobs.ts";
import { PoolChannel, STOP, hasBegun } from "./protocol.ts";
import type { WorkerView } from "./scheduler.ts";
import { poolWorker, type WorkerSetup } from "./worker.ts";

/** Workers that fail on their own before they are ready, this many in a row, break the pool. */
const MAX_START_FAILURES = 3;
/** A worker that died starting is replaced after this, doubled for each such death in a row, up to START_BACKOFF_MAX_MS. */
const START_BACKOFF_MS = 20;
const START_BACKOFF_MAX_MS = 500;
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

export interface WorkersOptions {
  processes: number;
  /** The Process class of the workers (bound to the pool's start method). */
  Process: typeof Process;
  initializer: Target | undefined;
  initargs: unknown[];
  maxtasks: number | null;
  /** Where every worker answers. */
  results: PoolChannel;
  /** A worker exited (`generation`: which worker of the slot). */
  onExit(slot: Slot, generation: number, exitCode: number): void;
}

export class Workers {
  readonly slots: Slot[] = [];
  /** One word per slot: 1 + the ordinal of the last task its worker began (see protocol.ts). */
  readonly #started: RawArray<"i">;
  readonly #options: WorkersOptions;
  #startFailures = 0;
  /** Workers in a row that died before they were ready, whatever killed them (the backoff). */
  #startDeaths = 0;
  #lastStartError: unknown;
  replaced = 0;

  /** Starts every worker; if one cannot start, kills those started and throws (Python's #19675: none left behind). */
  constructor(options: WorkersOptions) {
    this.#options = options;
    this.#started = new RawArray("i", options.processes);
    try {
      for (let i = 0; i < options.processes; i++) {
        const tasks = Channel.create(0);
        // #start fills the worker fields just below; until it has, there is no worker (alive: false).
        const slot: Slot = { index: i, generation: 0, tasks, channelRef: new PoolChannel(tasks), ...workerFields(undefined as unknown as Process), alive: false };
        this.slots.push(slot);
        this.#start(slot);
      }
    } catch (err) {
      this.kill();
      throw err;
    }
  }

  #start(slot: Slot): void {
    const { results, initializer, initargs, maxtasks } = this.#options;
    const setup: WorkerSetup = {
      slot: slot.index,
      generation: slot.generation,
      tasks: slot.channelRef,
      results,
      started: this.#started,
      initializer: initializer as WorkerSetup["initializer"],
      initargs,
      maxtasks,
    };
    Atomics.store(this.#started.view, slot.index, 0);
    const worker = new this.#options.Process({ target: poolWorker, args: [setup], daemon: true });
    worker.name = worker.name.replace(/^Process-/, "PoolWorker-");
    whileStartingWorkers(() => worker.start());
    Object.assign(slot, workerFields(worker));
    const generation = slot.generation;
    void worker[exitedUnheld]().then((code) => this.#options.onExit(slot, generation, code));
  }

  /** A new worker in a slot whose worker exited; its channel starts empty (what was left in it was taken back). */
  replace(slot: Slot): void {
    while (slot.tasks.tryRead()) {
      // discard
    }
    slot.generation++;
    this.replaced++;
    this.#start(slot);
  }

  /** The slot's worker ran its initializer and takes tasks. */
  ready(slot: Slot): void {
    slot.ready = true;
    this.#startFailures = 0;
    this.#startDeaths = 0;
  }

  /** What the initializer threw, in a worker that then exits. */
  initFailed(error: unknown): void {
    this.#lastStartError = error;
  }

  /**
   * The slot's worker is gone: whether the pool can go on (and when to
   * replace the worker, in ms), or the error that breaks it.
   */
  exited(slot: Slot, exitCode: number): { replaceIn: number } | { broken: unknown } {
    slot.alive = false;
    slot.exclusive = false;
    if (slot.ready || slot.stopped) return { replaceIn: 0 };
    // Killed by a signal (an operator, the OOM killer): not the worker's fault, never a reason to give up.
    if (exitCode >= 0 && ++this.#startFailures >= MAX_START_FAILURES) {
      const initError = this.#lastStartError;
      if (initError === undefined) return { broken: new WorkerLostError(`pool workers keep dying before they are ready (last exit code ${exitCode})`) };
      return { broken: new ProcessError("the pool's initializer failed in every worker started; the pool cannot run tasks", { cause: initError }) };
    }
    const deaths = this.#startDeaths++;
    return { replaceIn: deaths === 0 ? 0 : Math.min(START_BACKOFF_MAX_MS, START_BACKOFF_MS * 2 ** (deaths - 1)) };
  }

  /** How many of the tasks `slot` holds, counted from its newest, its worker has not begun. */
  notBegun(slot: Slot): number {
    const mark = this.#mark(slot);
    let waiting = 0;
    while (waiting < slot.held.length && !hasBegun(slot.held[slot.held.length - 1 - waiting]!.ordinal, mark)) waiting++;
    return waiting;
  }

  /** Whether the slot's worker had begun `task` (asked once it is gone: begun tasks are lost, the others run elsewhere). */
  begun(slot: Slot, task: Task): boolean {
    return hasBegun(task.ordinal, this.#mark(slot));
  }

  #mark(slot: Slot): number {
    return Atomics.load(this.#started.view, slot.index);
  }

  views(): WorkerView[] {
    return this.slots.map((slot) => ({ held: slot.held, open: slot.alive && !slot.stopped, ready: slot.ready, exclusive: slot.exclusive, assigned: slot.assigned }));
  }

  alive(): Slot[] {
    return this.slots.filter((slot) => slot.alive);
  }

  /** Ask every worker to exit once it has run what it holds. */
  stop(): void {
    for (const slot of this.slots) {
      if (!slot.alive || slot.stopped) continue;
      slot.stopped = true;
      slot.tasks.tryWrite(STOP, false);
    }
  }

  kill(): void {
    for (const slot of this.slots) if (slot.alive) slot.process.kill();
  }

  /** SIGTERM every worker, SIGKILL those still there after a grace period; resolves once all have exited. */
  async terminate(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (!slot.alive) continue;
      const worker = slot.process;
      if (worker.exitCode !== null) continue;
      worker.terminate();
      const timer = setTimeout(() => worker.exitCode === null && worker.kill(), TERMINATE_GRACE_MS);
      exits.push(worker.join().finally(() => clearTimeout(timer)));
    }
    await Promise.all(exits);
    for (const slot of this.slots) slot.alive = false;
  }

  /** Wait for the workers still running to exit. */
  async join(): Promise<boolean> {
    const running = this.slots.filter((slot) => slot.alive && slot.process.exitCode === null).map((slot) => slot.process);
    if (running.length === 0) return false;
    await Promise.all(running.map((worker) => worker.join()));
    return true;
  }
}
