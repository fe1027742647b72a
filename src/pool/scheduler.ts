/*
 * Which worker gets which task (the part of Python's pool.py that its
 * shared task queue does for free): no process in here, so tests drive it
 * with fake workers.
 *
 * The rules, and why:
 *   - No task waits while a worker is idle: each task goes to the worker
 *     holding the fewest, so tasks spread before any worker holds two.
 *   - A worker holds more than one task only to keep it busy while the
 *     parent refills it: up to a window of about WINDOW_MS of work (from 2
 *     to MAX_WINDOW tasks), sized by how long each function's tasks took.
 *   - Tasks whose length is not known yet, or is long, travel one per
 *     message: a worker commits to a whole message when it reads it, while
 *     a message still in its channel can be taken back (stealFrom) when
 *     another worker becomes idle. Tiny tasks travel in batches, which is
 *     where the throughput comes from; an idle worker waits at most about
 *     WINDOW_MS behind them.
 *   - Tasks with a timeout or a signal go only to an idle, started worker,
 *     alone, so that killing it to stop them costs no other task.
 *
 * Talks to: pool/jobs.ts (jobs hand out tasks); pool/engine.ts sends what
 * it decides.
 */
import type { Job, Task } from "./jobs.ts";

/** A worker holds about this much work (ms), between 2 and MAX_WINDOW tasks. */
const WINDOW_MS = 2;
// Tiny tasks outrun the parent's refills, so a worker runs dry once per window and each refill costs a
// wake each way: 1,024 rather than 256 took a warm 20k-task map from ~17 to ~10 ms of CPU per worker.
const MAX_WINDOW = 1024;

/** What the scheduler needs to know of a worker. */
export interface WorkerView {
  /** Tasks sent to it and not answered yet, oldest first. */
  readonly held: readonly Task[];
  /** It can take tasks (alive, not stopping). */
  readonly open: boolean;
  /** It has started (ran its initializer). */
  readonly ready: boolean;
  /** Holds a guarded task: nothing else may go to it. */
  readonly exclusive: boolean;
  /** Tasks given to this worker so far (maxtasksperchild counts these). */
  readonly assigned: number;
}

/** Tasks to send to one worker, as one message each. */
export interface Assignment {
  readonly worker: number;
  readonly messages: Task[][];
}

export class Scheduler {
  readonly #maxtasks: number | null;
  /** Tasks to send before any job's (taken back, or from a dead worker), then jobs with tasks to send. */
  #retry: Task[] = [];
  readonly #jobs: Job[] = [];
  readonly #queuedJobs = new Set<Job>();
  #peeked: Task | undefined;
  /** Per function: ms per item, a moving average of what workers report (quick to rise, quick to fall). */
  readonly #itemMs = new Map<number, number>();

  constructor(maxtasks: number | null) {
    this.#maxtasks = maxtasks;
  }

  /** A job has tasks to hand out (again). */
  add(job: Job): void {
    if (job.settled || this.#queuedJobs.has(job)) return;
    this.#queuedJobs.add(job);
    this.#jobs.push(job);
  }

  /** Tasks to send first, in this order (taken back from a worker, or to run again). */
  requeue(tasks: Task[]): void {
    if (tasks.length === 0) return;
    // They were handed out before the one peeked at: they go before it.
    if (this.#peeked) tasks.push(this.#takePeeked());
    this.#retry.unshift(...tasks);
  }

  /** The next task to send, if any. */
  peek(): Task | undefined {
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

  /** Tasks waiting to be sent (for stats). */
  get queued(): number {
    let queued = this.#retry.length + (this.#peeked ? 1 : 0);
    for (const job of this.#jobs) queued += job.waiting;
    return queued;
  }

  /** Forget every waiting task; the jobs they belong to. */
  clear(): Set<Job> {
    const jobs = new Set<Job>(this.#jobs);
    for (const task of this.#retry) jobs.add(task.job);
    if (this.#peeked) jobs.add(this.#peeked.job);
    this.#retry = [];
    this.#peeked = undefined;
    this.#jobs.length = 0;
    this.#queuedJobs.clear();
    return jobs;
  }

  /** A worker reports how long `task` ran. */
  learn(task: Task, ms: number): void {
    const perItem = ms / task.size;
    const before = this.#itemMs.get(task.fnId);
    // Longer tasks shrink the window at once; shorter ones grow it within a few results (a cold first task must not hold it small).
    this.#itemMs.set(task.fnId, before === undefined || perItem > before ? perItem : before * 0.5 + perItem * 0.5);
  }

  /** Tasks per message for tasks like `task`: 1 until its function is known to be quick. */
  #batch(task: Task): number {
    const itemMs = this.#itemMs.get(task.fnId);
    if (itemMs === undefined) return 1;
    return Math.max(1, Math.min(MAX_WINDOW, Math.floor(WINDOW_MS / Math.max(itemMs * task.size, 1e-6))));
  }

  /** Decide what to send now: each task to the open worker holding the fewest, within its window. */
  assign(workers: readonly WorkerView[]): Assignment[] {
    const held = workers.map((worker) => worker.held.length);
    const messages: Task[][][] = workers.map(() => []);
    // A worker past half its window waits to be refilled in one message, rather than one task at a time.
    const refill = workers.map((worker, i) => worker.open && !worker.exclusive && (held[i] === 0 || held[i]! * 2 <= this.#window(worker.held[0])));
    const exclusive = workers.map((worker) => worker.exclusive);
    // Tasks come in runs of one function and size: their batch is worked out once per run.
    let runFn = -1;
    let runSize = -1;
    let batch = 1;
    for (let task = this.peek(); task; task = this.peek()) {
      if (task.fnId !== runFn || task.size !== runSize) {
        [runFn, runSize, batch] = [task.fnId, task.size, this.#batch(task)];
      }
      const at = this.#pick(workers, held, refill, exclusive, task, Math.max(2, batch));
      if (at === undefined) break;
      this.#takePeeked();
      held[at]!++;
      const list = messages[at]!;
      const last = list[list.length - 1];
      if (task.job.guarded) {
        exclusive[at] = true;
        list.push([task]);
      } else if (last && last.length < batch && !last[0]!.job.guarded) {
        last.push(task);
      } else {
        list.push([task]);
      }
    }
    const out: Assignment[] = [];
    for (let i = 0; i < workers.length; i++) if (messages[i]!.length > 0) out.push({ worker: i, messages: messages[i]! });
    return out;
  }

  /** The worker for `task`: open, with room in its `window`, holding the fewest; undefined when none may take it now. */
  #pick(workers: readonly WorkerView[], held: number[], refill: boolean[], exclusive: boolean[], task: Task, window: number): number | undefined {
    let best: number | undefined;
    for (let i = 0; i < workers.length; i++) {
      const worker = workers[i]!;
      if (!refill[i] || exclusive[i] || held[i]! >= window) continue;
      if (this.#maxtasks !== null && worker.assigned + held[i]! - worker.held.length >= this.#maxtasks) continue;
      if (task.job.guarded && (held[i]! > 0 || !worker.ready)) continue;
      // Between workers holding as many, a started one: a task taken back from one still starting must not go straight back.
      if (best === undefined || held[i]! < held[best]! || (held[i] === held[best] && worker.ready && !workers[best]!.ready)) best = i;
    }
    return best;
  }

  /** How many tasks like `task` a worker may hold. */
  #window(task: Task | undefined): number {
    return task ? Math.max(2, this.#batch(task)) : MAX_WINDOW;
  }

  /**
   * Nothing left to send and a worker idle: the worker whose tasks not yet
   * begun should be taken back for it (`waiting(i)`: how many of worker i's
   * last held tasks it has not begun), or undefined.
   */
  stealFrom(workers: readonly WorkerView[], waiting: (worker: number) => number): { idle: number; victim: number } | undefined {
    if (this.peek()) return undefined;
    const idle = workers.findIndex((worker) => worker.open && worker.ready && !worker.exclusive && worker.held.length === 0);
    if (idle < 0) return undefined;
    let victim: number | undefined;
    let most = 0;
    for (let i = 0; i < workers.length; i++) {
      const worker = workers[i]!;
      if (!worker.open || i === idle) continue;
      // A started worker that has begun none of its tasks is about to: moving its first would gain nothing.
      const movable = worker.ready && waiting(i) === worker.held.length ? waiting(i) - 1 : waiting(i);
      if (movable > most) [victim, most] = [i, movable];
    }
    return victim === undefined ? undefined : { idle, victim };
  }

  #takePeeked(): Task {
    const task = this.#peeked!;
    this.#peeked = undefined;
    return task;
  }
}
