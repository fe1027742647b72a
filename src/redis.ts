/*
 * multiproc/redis: the Pool's engine on Redis with BullMQ, so a Pool's tasks
 * run in `multiproc worker` processes on any number of machines.
 *
 *   new Pool({ backend: redis({ url, queue }) })
 *
 * Each task of a call (an apply, or a chunk of a map: Python's chunksize
 * rule) is one BullMQ job on the queue. The calls themselves are the local
 * pool's (pool/jobs.ts), so chunking, ordering, imap's bounded read-ahead,
 * progress and the result classes behave the same.
 *
 * Delivery is at least once: a job whose worker vanished runs once more
 * elsewhere (BullMQ's stalled-job check, redis/protocol.ts has the timings).
 * Outcomes come back through a list of this pool's own (see
 * redis/protocol.ts for why not BullMQ's return values); the first outcome
 * of a job counts, a late duplicate is dropped, so the caller never sees a
 * result twice. The list is read, then trimmed, so an outcome is not lost
 * when the connection drops between the two. A job that stalled twice
 * lands in BullMQ's failed set, which is polled: its call rejects with
 * WorkerLostError.
 *
 * A per-call timeout counts from the call (waiting for a worker included),
 * so a call made while no worker runs ends with TimeoutError; the worker
 * also stops a task that runs past it. Everything the pool created in
 * Redis is gone after close() + join() or terminate().
 *
 * Talks to: pool.ts (the Pool it is an engine of), pool/jobs.ts,
 * redis/protocol.ts, redis/worker.ts (the other side).
 */
import { randomUUID } from "node:crypto";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { abortError, ProcessError, TimeoutError, WorkerLostError } from "./errors.ts";
import { type FunctionRef } from "./functionRefs.ts";
import { checkCount, type PoolOptions, type PoolStats } from "./pool/options.ts";
import type { PoolApi, PoolBackend } from "./pool/api.ts";
import { PoolCalls, type Fn } from "./pool/calls.ts";
import type { Job, Task } from "./pool/jobs.ts";
import { TaskKind } from "./pool/protocol.ts";
import { cpuCount } from "./process.ts";
import { decodeMessage, dumps } from "./reduction.ts";
import { handled } from "./waiting.ts";
import {
  cancelChannel,
  decodeOutcome,
  DEFAULT_PREFIX,
  encodeInput,
  LOCK_DURATION_MS,
  oneByteString,
  POOL_TTL_MS,
  poolKeys,
  STALLED_INTERVAL_MS,
  type CancelMessage,
  type TaskData,
} from "./redis/protocol.ts";

export { LOCK_DURATION_MS, STALLED_INTERVAL_MS, MAX_STALLED_COUNT } from "./redis/protocol.ts";

export interface RedisOptions {
  /** redis://[user:password@]host:port[/db] */
  url: string;
  /** The BullMQ queue the workers take tasks from (`multiproc worker --queue`). */
  queue: string;
  /** BullMQ key prefix; workers must use the same (`--prefix`). Default "multiproc". */
  prefix?: string;
  /** The project root: task modules are named relative to it, as workers resolve them against their `--root`. Default: the current directory. */
  root?: string;
}

/** Select the Redis engine: `new Pool({ backend: redis({ url, queue }) })`. */
export function redis(options: RedisOptions): PoolBackend {
  if (options === null || typeof options !== "object") throw new TypeError("redis(options): options must be an object");
  const { url, queue, prefix = DEFAULT_PREFIX, root = process.cwd() } = options;
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) throw new TypeError(`redis(): url must be a redis:// URL, got ${String(url)}`);
  for (const [name, value] of [["queue", queue], ["prefix", prefix]] as const) {
    if (typeof value !== "string" || value === "" || value.includes(":")) throw new TypeError(`redis(): ${name} must be a non-empty string without ':', got ${String(value)}`);
  }
  if (typeof root !== "string") throw new TypeError("redis(): root must be a directory path");
  const settings = { url, queue, prefix, root: resolve(root) };
  return { kind: "redis", createEngine: (poolOptions) => new RedisPool(settings, poolOptions) };
}

const enum State {
  Run,
  Close,
  Terminate,
}

/** How often outcomes are read when no notice came (a notice can be missed while reconnecting). */
const POLL_MS = 1000;
/** Long enough for a job held by a dead worker to be noticed by the stall check and handed back. */
const LEFTOVER_WAIT_MS = 2 * (LOCK_DURATION_MS + STALLED_INTERVAL_MS) + 10_000;
/** Jobs per addBulk. */
const ADD_BATCH = 1000;
/** Outcomes read per round trip. */
const READ_BATCH = 1000;

/** A task sent as a BullMQ job, until its first outcome. */
interface Sent {
  readonly task: Task;
  retriesLeft: number;
  timer: NodeJS.Timeout | undefined;
}

class RedisPool extends PoolCalls implements PoolApi {
  readonly retries: number;
  readonly #processes: number;
  readonly #settings: Required<RedisOptions>;
  readonly #id = randomUUID();
  readonly #keys: ReturnType<typeof poolKeys>;
  readonly #conn: Redis;
  readonly #sub: Redis;
  readonly #queue: Queue;
  #state = State.Run;
  #seq = 0;
  readonly #sent = new Map<string, Sent>();
  readonly #jobIds = new Map<Job, Set<string>>();
  readonly #liveJobs = new Set<Job>();
  /** Jobs that may still exist in Redis though their task is settled (finishing on a worker, or cancelled while running). */
  readonly #leftovers = new Set<string>();
  #reading: Promise<void> | undefined;
  #readAgain = false;
  /** Outcomes settled from their notices since the list was last read. */
  #unreadNotices = 0;
  #lastStallCheck = 0;
  #pruning = false;
  readonly #poll: NodeJS.Timeout;
  readonly #keepAlive: NodeJS.Timeout;
  #workers = 0;
  readonly #stats = { tasksDone: 0, tasksFailed: 0, workersReplaced: 0 };
  #idleWaiters: Array<() => void> = [];
  #ending: Promise<void> | undefined;

  constructor(settings: Required<RedisOptions>, options: PoolOptions) {
    super();
    for (const unsupported of ["initializer", "maxtasksperchild", "context"] as const) {
      if (options[unsupported] !== undefined && options[unsupported] !== null) {
        throw new TypeError(`${unsupported} is not supported by the redis backend: each \`multiproc worker\` runs its own local pool`);
      }
    }
    this.#processes = options.processes === undefined || options.processes === null ? cpuCount() : checkCount("processes", options.processes, 1);
    this.retries = options.retries === undefined ? 0 : checkCount("retries", options.retries, 0);
    this.#settings = settings;
    this.#keys = poolKeys(settings.prefix, settings.queue, this.#id);
    // null: commands wait through a lost connection instead of failing (BullMQ requires it too).
    this.#conn = new Redis(settings.url, { maxRetriesPerRequest: null, lazyConnect: false });
    this.#sub = this.#conn.duplicate();
    this.#queue = new Queue(settings.queue, { connection: this.#conn, prefix: settings.prefix });
    // A lost connection is retried by ioredis; these only keep 'error' from being an uncaught event.
    for (const emitter of [this.#conn, this.#sub, this.#queue]) emitter.on("error", () => undefined);
    // These wait through a lost connection; they fail only when the pool disconnects first (terminated at once).
    void this.#conn.set(this.#keys.alive, "1", "PX", POOL_TTL_MS).catch(() => undefined);
    this.#keepAlive = setInterval(() => void this.#conn.pexpire(this.#keys.alive, POOL_TTL_MS).catch(() => undefined), POOL_TTL_MS / 4).unref();
    void this.#sub.subscribe(this.#keys.notify).catch(() => undefined);
    this.#sub.on("messageBuffer", (_channel: Buffer, notice: Buffer) => this.#onNotice(notice));
    this.#poll = setInterval(() => this.#tick(), POLL_MS).unref();
  }

  // ---- calls: pool/calls.ts ----

  protected get workerCount(): number {
    return this.#processes;
  }

  /** Workers find a function by its module's path relative to the project root. */
  protected override locate(fn: Fn): FunctionRef {
    const ref = super.locate(fn);
    const path = ref.module.startsWith("file:") ? fileURLToPath(ref.module) : ref.module;
    const module = relative(this.#settings.root, path);
    if (module.startsWith("..") || isAbsolute(module)) {
      throw new TypeError(`function ${fn.name}() is in ${path}, outside the project root ${this.#settings.root}: workers find modules relative to their --root; pass redis({ root })`);
    }
    return { ...ref, module: oneByteString(module.split(sep).join("/")), name: oneByteString(ref.name) };
  }

  protected checkRunning(): void {
    if (this.#state !== State.Run) throw new ProcessError("Pool not running");
  }

  protected submit(job: Job): void {
    if (job.signal?.aborted) job.cancel(abortError(job.signal));
    if (job.settled) return;
    this.#liveJobs.add(job);
    this.offer(job);
  }

  // ---- sending ----

  /** A job has tasks to send: each becomes a BullMQ job. */
  offer(job: Job): void {
    if (this.#state === State.Terminate) return;
    const batch: { name: string; data: TaskData; opts: { jobId: string; removeOnComplete: true; removeOnFail: false } }[] = [];
    for (let task = job.take(); task; task = job.take()) {
      let data: TaskData;
      try {
        data = this.#taskData(task);
      } catch (err) {
        job.fail(task, err);
        continue;
      }
      const jobId = this.#track(task, job.retries);
      batch.push({ name: data.name, data, opts: { jobId, removeOnComplete: true, removeOnFail: false } });
    }
    for (let i = 0; i < batch.length; i += ADD_BATCH) {
      const part = batch.slice(i, i + ADD_BATCH);
      // One job alone skips addBulk's transaction (0.19 against 0.25 ms here): an apply's latency.
      const added = part.length === 1 ? this.#queue.add(part[0]!.name, part[0]!.data, part[0]!.opts) : this.#queue.addBulk(part);
      added.catch((err: unknown) => {
        for (const { opts } of part) this.#outcome(opts.jobId, false, new ProcessError("the task could not be queued in Redis", { cause: err }));
      });
    }
    this.#settleIdle(job);
  }

  /** What a worker needs to run `task`; throws SerializationError when its input cannot travel. */
  #taskData(task: Task): TaskData {
    const ref = this.functionRef(task.fnId);
    const { timeout, guarded } = task.job;
    const input = encodeInput(task.kind, task.payload, () => (task.payload instanceof Uint8Array ? task.payload : dumps(task.payload, { root: "items" }).data));
    return { pool: this.#id, module: ref.module, name: ref.name, ...(ref.registered ? { registered: true } : {}), kind: task.kind, timeout, guarded, ...input };
  }

  /** A new BullMQ job id for `task`, with its timeout started. */
  #track(task: Task, retriesLeft: number): string {
    const jobId = `${this.#id}.${++this.#seq}`;
    const sent: Sent = { task, retriesLeft, timer: undefined };
    const { timeout } = task.job;
    if (timeout !== null) {
      sent.timer = setTimeout(() => {
        this.#cancel([jobId]);
        this.#outcome(jobId, false, new TimeoutError(`the task did not finish within ${timeout} ms of the call`));
      }, timeout);
    }
    this.#sent.set(jobId, sent);
    let ids = this.#jobIds.get(task.job);
    if (!ids) this.#jobIds.set(task.job, (ids = new Set()));
    ids.add(jobId);
    return jobId;
  }

  /** The first outcome of a BullMQ job settles its task; later ones (a re-run's) are dropped. */
  #outcome(jobId: string, ok: boolean, value: unknown): void {
    const sent = this.#sent.get(jobId);
    if (!sent) return;
    this.#untrack(jobId, sent);
    const { task } = sent;
    if (ok) {
      this.#stats.tasksDone += task.size;
      task.job.complete(task, value);
    } else {
      this.#stats.tasksFailed += task.size;
      task.job.fail(task, value);
    }
    this.#settleIdle(task.job);
  }

  #untrack(jobId: string, sent: Sent): void {
    clearTimeout(sent.timer);
    this.#sent.delete(jobId);
    this.#jobIds.get(sent.task.job)?.delete(jobId);
    this.#leftovers.add(jobId);
  }

  #settleIdle(job: Job): void {
    if (job.settled) {
      this.#liveJobs.delete(job);
      this.#jobIds.delete(job);
    }
    if (this.#liveJobs.size > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  // ---- outcomes ----

  #tick(): void {
    if (this.#leftovers.size > 0 && !this.#pruning) {
      this.#pruning = true;
      void this.#prune(false)
        .catch(() => undefined)
        .finally(() => (this.#pruning = false));
    }
    if (this.#sent.size === 0 && this.#unreadNotices === 0) return;
    this.#read();
    if (Date.now() - this.#lastStallCheck >= STALLED_INTERVAL_MS) {
      this.#lastStallCheck = Date.now();
      void this.#checkFailed().catch(() => undefined);
    }
  }

  /**
   * A worker delivered an outcome. A small one comes in the notice: it
   * settles its task now, and the list (which keeps it until read, in case a
   * notice is lost) is read later: at the next tick, or once many such
   * notices have come. A large one is read from the list now.
   */
  #onNotice(notice: Buffer): void {
    if (notice.length === 0) {
      this.#read();
      return;
    }
    if (++this.#unreadNotices >= READ_BATCH) this.#read();
    let outcome: ReturnType<typeof decodeOutcome>;
    try {
      outcome = decodeOutcome(notice);
    } catch {
      // Not a worker's: the list has whatever there is.
      this.#read();
      return;
    }
    if (this.#sent.has(outcome.jobId)) void this.#decode(outcome);
  }

  /** The first outcome of a job settles it, once decoded. */
  async #decode({ jobId, ok, tag, data }: ReturnType<typeof decodeOutcome>): Promise<void> {
    let value: unknown;
    try {
      value = await decodeMessage({ tag, payload: data });
    } catch (err) {
      this.#outcome(jobId, false, err);
      return;
    }
    this.#outcome(jobId, ok, value);
  }

  /** Read every outcome waiting in this pool's list; one reader at a time, again if asked meanwhile. */
  #read(): void {
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = (async () => {
      do {
        this.#readAgain = false;
        this.#unreadNotices = 0;
        for (;;) {
          const batch = await this.#conn.lrangeBuffer(this.#keys.results, 0, READ_BATCH - 1);
          if (batch.length === 0) break;
          for (const message of batch) {
            const outcome = decodeOutcome(message);
            if (this.#sent.has(outcome.jobId)) await this.#decode(outcome);
          }
          await this.#conn.ltrim(this.#keys.results, batch.length, -1);
        }
      } while (this.#readAgain && this.#state !== State.Terminate);
    })()
      .catch(() => undefined)
      .finally(() => (this.#reading = undefined));
  }

  /** Jobs BullMQ failed (stalled twice: their workers died): run again if the call allows, else WorkerLostError. */
  async #checkFailed(): Promise<void> {
    const failedKey = `${this.#settings.prefix}:${this.#settings.queue}:failed`;
    const ids = [...this.#sent.keys()];
    const scores = ids.length ? await this.#conn.pipeline(ids.map((id) => ["zscore", failedKey, id])).exec() : [];
    this.#workers = await this.#queue.getWorkersCount();
    for (let i = 0; i < ids.length; i++) {
      if (scores?.[i]?.[1] === null) continue;
      const jobId = ids[i]!;
      const sent = this.#sent.get(jobId);
      if (!sent) continue;
      const reason = (await this.#conn.hget(`${this.#settings.prefix}:${this.#settings.queue}:${jobId}`, "failedReason")) ?? "";
      await this.#queue.remove(jobId);
      this.#leftovers.delete(jobId);
      this.#stats.workersReplaced++;
      const { task } = sent;
      if (sent.retriesLeft > 0 && !task.job.settled && this.#state !== State.Terminate) {
        this.#untrack(jobId, sent);
        this.#leftovers.delete(jobId);
        this.#resend(task, sent.retriesLeft - 1);
        continue;
      }
      const what = task.kind === TaskKind.Apply ? "its task" : task.size === 1 ? `item ${task.index}` : `items ${task.index}..${task.index + task.size - 1}`;
      const error = /stalled/.test(reason)
        ? new WorkerLostError(`the workers running ${what} were lost twice (BullMQ: ${reason})`, { exitCode: null, signal: null, pid: undefined, index: task.index })
        : new ProcessError(`a worker failed ${what}: ${reason}`);
      this.#outcome(jobId, false, error);
    }
  }

  #resend(task: Task, retriesLeft: number): void {
    // It travelled once: its input encodes.
    const data = this.#taskData(task);
    const jobId = this.#track(task, retriesLeft);
    this.#queue.add(data.name, data, { jobId, removeOnComplete: true, removeOnFail: false }).catch((err: unknown) => this.#outcome(jobId, false, err));
  }

  // ---- stopping ----

  /** Take jobs back from the queue; tell workers to stop those already running. */
  #cancel(jobIds: string[]): void {
    if (jobIds.length === 0) return;
    const message: CancelMessage = { pool: this.#id, jobs: jobIds };
    void this.#conn.publish(cancelChannel(this.#settings.prefix, this.#settings.queue), JSON.stringify(message)).catch(() => undefined);
    for (const id of jobIds) {
      this.#leftovers.add(id);
      void this.#queue
        .remove(id)
        .then((removed) => removed === 1 && this.#leftovers.delete(id))
        .catch(() => undefined);
    }
  }

  abortJob(job: Job, error: unknown, killRunning: boolean): void {
    if (job.settled) return;
    const ids = [...(this.#jobIds.get(job) ?? [])];
    for (const id of ids) this.#untrack(id, this.#sent.get(id)!);
    // Without killRunning (imap left early) running tasks may finish; their outcomes are dropped.
    if (killRunning) this.#cancel(ids);
    job.cancel(error);
    this.#settleIdle(job);
  }

  close(): void {
    if (this.#state === State.Run) this.#state = State.Close;
  }

  terminate(): Promise<void> {
    if (this.#state !== State.Terminate) {
      this.#state = State.Terminate;
      const error = new ProcessError("the pool was terminated");
      this.#cancel([...this.#sent.keys()]);
      for (const [id, sent] of [...this.#sent]) this.#untrack(id, sent);
      for (const job of [...this.#liveJobs]) {
        job.cancel(error);
        this.#settleIdle(job);
      }
    }
    this.#ending ??= handled(this.#release());
    return this.#ending;
  }

  async join(): Promise<void> {
    if (this.#state === State.Run) throw new ProcessError("Pool is still running");
    if (this.#state === State.Terminate) return this.terminate();
    while (this.#liveJobs.size > 0 && this.#state === State.Close) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    // terminate() may have been called while we waited.
    if ((this.#state as State) === State.Terminate) return this.terminate();
    this.#ending ??= handled(this.#release());
    return this.#ending;
  }

  /** Remove what this pool made in Redis, then disconnect. */
  async #release(): Promise<void> {
    clearInterval(this.#poll);
    clearInterval(this.#keepAlive);
    // Workers stop delivering as soon as the pool's alive key is gone.
    await this.#conn.del(this.#keys.alive);
    await this.#waitForLeftovers();
    await this.#conn.del(this.#keys.results);
    await this.#queue.close();
    this.#sub.disconnect();
    await this.#conn.quit().catch(() => undefined);
  }

  /** Jobs finishing or cancelled on a worker disappear when it returns; a worker that died leaves them to the stall check. */
  async #waitForLeftovers(): Promise<void> {
    const deadline = Date.now() + LEFTOVER_WAIT_MS;
    while (this.#leftovers.size > 0 && Date.now() < deadline) {
      await this.#prune(true);
      if (this.#leftovers.size > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Forget the leftovers that are gone from Redis (at most a batch); `remove`: also take back those that wait. */
  async #prune(remove: boolean): Promise<void> {
    const ids = [...this.#leftovers].slice(0, READ_BATCH);
    const base = `${this.#settings.prefix}:${this.#settings.queue}:`;
    const exists = await this.#conn.pipeline(ids.map((id) => ["exists", base + id])).exec();
    for (let i = 0; i < ids.length; i++) {
      if (exists?.[i]?.[1] === 0 || (remove && (await this.#queue.remove(ids[i]!)) === 1)) this.#leftovers.delete(ids[i]!);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.terminate();
  }

  stats(): PoolStats {
    let queued = 0;
    for (const job of this.#liveJobs) queued += job.waiting;
    return {
      state: this.#state === State.Run ? "running" : this.#state === State.Close ? "closed" : "terminated",
      processes: this.#processes,
      workers: this.#workers,
      busyWorkers: Math.min(this.#workers, this.#sent.size),
      queued: queued + this.#sent.size,
      pids: [],
      ...this.#stats,
    };
  }

  override toString(): string {
    const state = this.#state === State.Run ? "RUN" : this.#state === State.Close ? "CLOSE" : "TERMINATE";
    return `<multiproc.Pool backend=redis queue=${this.#settings.queue} state=${state}>`;
  }
}
