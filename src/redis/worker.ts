/*
 * The worker side of the Redis pool (`multiproc worker`): a BullMQ Worker
 * that runs each job's task in a local Pool, so a task that crashes or
 * hangs costs a child process, never the worker (and never its job locks,
 * which this process's event loop keeps renewing while children compute).
 *
 * A job names its function by module (relative to --root) and export, as
 * the pool found it. Outcomes go to the pool's own list (redis/protocol.ts);
 * a job of a pool that is gone is skipped. The pool can cancel jobs (abort,
 * timeout, terminate) over pub/sub: the local call is aborted, which kills
 * the child running it.
 *
 * Talks to: redis/protocol.ts, redis.ts (the pool side), pool/engine.ts (the
 * local pool), spawn/typescript.ts (TypeScript task modules).
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { loadFunction } from "../functionRefs.ts";
import { LocalPool } from "../pool/engine.ts";
import { TaskKind } from "../pool/protocol.ts";
import { cpuCount } from "../process.ts";
import { enableTypeScriptLoader } from "../spawn/typescript.ts";
import { encodeMessage, loads, SerializationError, type Message } from "../reduction.ts";
import {
  cancelChannel,
  DEFAULT_PREFIX,
  DELIVER_SCRIPT,
  encodeOutcome,
  LOCK_DURATION_MS,
  MAX_STALLED_COUNT,
  NOTICE_MAX,
  poolKeys,
  STALLED_INTERVAL_MS,
  type CancelMessage,
  type TaskData,
} from "./protocol.ts";

export interface WorkerOptions {
  url: string;
  queue: string;
  /** Child processes of the local pool; default cpuCount(). */
  processes?: number;
  /** Task modules are resolved against it; default the current directory. */
  root?: string;
  prefix?: string;
  /** Job lock time (ms); the stall check runs every half of it. Default LOCK_DURATION_MS. */
  lockDuration?: number;
  /** One line per event; default stdout. */
  log?: (line: string) => void;
}

type Deliver = (alive: string, results: string, notify: string, message: Buffer, notice: Buffer) => Promise<number>;

const EMPTY = Buffer.alloc(0);
/** See EngineTuning. */
const PROMPT_RESULTS_MS = 2;
/** A pool seen alive is taken to be so for this long (its jobs skip the check). */
const ALIVE_CHECK_MS = 1000;
const ALIVE_REMEMBERED = 1024;

/** A running worker; drain() is what SIGTERM does. */
export class RedisWorker {
  readonly #options: Required<WorkerOptions>;
  readonly #conn: Redis;
  readonly #sub: Redis;
  readonly #pool: LocalPool;
  readonly #worker: Worker<TaskData>;
  readonly #running = new Map<string, { pool: string; abort: AbortController }>();
  readonly #name = `${hostname()}:${process.pid}`;
  #draining: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    const lockDuration = options.lockDuration ?? LOCK_DURATION_MS;
    this.#options = {
      prefix: DEFAULT_PREFIX,
      processes: cpuCount(),
      root: process.cwd(),
      log: (line) => process.stdout.write(`${line}\n`),
      ...options,
      lockDuration,
    };
    this.#options.root = resolve(this.#options.root);
    // A task module in TypeScript loads here as in a pool's child: the project's tsx registers itself for it.
    enableTypeScriptLoader();
    const { url, queue, prefix, processes } = this.#options;
    this.#conn = new Redis(url, { maxRetriesPerRequest: null });
    this.#conn.defineCommand("multiprocDeliver", { numberOfKeys: 3, lua: DELIVER_SCRIPT });
    this.#sub = this.#conn.duplicate();
    // This process's event loop only renews job locks meanwhile: it can wait for its children's results awake.
    this.#pool = new LocalPool({ processes }, { promptResultsMs: PROMPT_RESULTS_MS });
    // It waits through a lost connection; it fails only when the worker disconnects first (drained at once).
    void this.#sub.subscribe(cancelChannel(prefix, queue)).catch(() => undefined);
    this.#sub.on("message", (_channel: string, text: string) => this.#onCancel(text));
    this.#worker = new Worker<TaskData>(queue, (job) => this.#run(job), {
      connection: this.#conn,
      prefix,
      // Two jobs per child: one runs while the next one's data is on its way.
      concurrency: processes * 2,
      lockDuration,
      stalledInterval: options.lockDuration === undefined ? STALLED_INTERVAL_MS : Math.ceil(lockDuration / 2),
      maxStalledCount: MAX_STALLED_COUNT,
    });
    this.#worker.on("stalled", (jobId) => this.#log(`job ${jobId} stalled (its worker vanished): handed back to the queue`));
    this.#worker.on("error", (err) => this.#log(`error ${err.message}`));
    for (const connection of [this.#conn, this.#sub]) connection.on("error", (err: Error) => this.#log(`redis error ${err.message}`));
    this.#log(`started queue=${queue} prefix=${prefix} processes=${processes} root=${this.#options.root} lock=${lockDuration}ms`);
  }

  #log(text: string): void {
    this.#options.log(`${new Date().toISOString()} worker ${this.#name} ${text}`);
  }

  async #run(job: Job<TaskData>): Promise<void> {
    const data = job.data;
    const jobId = job.id!;
    const keys = poolKeys(this.#options.prefix, this.#options.queue, data.pool);
    const abort = new AbortController();
    this.#running.set(jobId, { pool: data.pool, abort });
    const started = Date.now();
    this.#log(`job ${jobId} start ${data.module}#${data.name}${job.attemptsStarted > 1 ? ` (run ${job.attemptsStarted})` : ""}`);
    // Whether the pool is still there is asked while the task starts, not before: a round trip less per job;
    // and once a second per pool at most (a pool gone since finds its outcomes dropped by the delivery script).
    // A task of a pool found gone is stopped if it can be (a guarded call), and its outcome dropped either way.
    const poolGone = this.#poolGone(data.pool, keys.alive).then((gone) => {
      if (gone) abort.abort();
      return gone;
    });
    let ok = true;
    let value: unknown;
    try {
      value = await this.#call(data, abort.signal);
    } catch (err) {
      ok = false;
      value = err;
    } finally {
      this.#running.delete(jobId);
    }
    if (await poolGone) {
      this.#log(`job ${jobId} skipped: its pool is gone`);
      return;
    }
    if (abort.signal.aborted) {
      this.#log(`job ${jobId} cancelled by its pool`);
      return;
    }
    let encoded: Message;
    try {
      encoded = encodeMessage(value, "result");
    } catch (err) {
      ok = false;
      encoded = encodeMessage(err instanceof SerializationError ? err : new SerializationError(`the task's result cannot be sent back: ${String(err)}`, "result"));
    }
    const deliver = (this.#conn as unknown as { multiprocDeliver: Deliver }).multiprocDeliver.bind(this.#conn);
    const message = encodeOutcome(jobId, ok, encoded);
    const delivered = await deliver(keys.alive, keys.results, keys.notify, message, message.length <= NOTICE_MAX ? message : EMPTY);
    const how = ok ? "done" : `failed ${value instanceof Error ? `${value.name}: ${value.message}` : String(value)}`;
    this.#log(`job ${jobId} ${how} in ${Date.now() - started} ms${delivered ? "" : " (pool gone: dropped)"}`);
  }

  /** Pools seen alive, and when (Date.now()). */
  readonly #alive = new Map<string, number>();

  async #poolGone(pool: string, aliveKey: string): Promise<boolean> {
    const seen = this.#alive.get(pool);
    if (seen !== undefined && Date.now() - seen < ALIVE_CHECK_MS) return false;
    const gone = (await this.#conn.exists(aliveKey)) === 0;
    // A long-running worker sees pool after pool: forgetting them all now and then only costs a check each.
    if (this.#alive.size >= ALIVE_REMEMBERED) this.#alive.clear();
    if (!gone) this.#alive.set(pool, Date.now());
    return gone;
  }

  /** Task functions by module, name and registration, once loaded (a module is imported once; the lookup took 0.2–0.4 ms per job). */
  readonly #functions = new Map<string, (...args: unknown[]) => unknown>();

  async #function(data: TaskData): Promise<(...args: unknown[]) => unknown> {
    const key = `${data.registered ? "registered" : "export"}\0${data.module}\0${data.name}`;
    let fn = this.#functions.get(key);
    if (!fn) {
      fn = (await loadFunction({
        module: pathToFileURL(resolve(this.#options.root, data.module)).href,
        name: data.name,
        ...(data.registered ? { registered: true as const } : {}),
      })) as (...args: unknown[]) => unknown;
      this.#functions.set(key, fn);
    }
    return fn;
  }

  async #call(data: TaskData, signal: AbortSignal): Promise<unknown> {
    const fn = await this.#function(data);
    const payload = () => new Uint8Array(Buffer.from(data.payload ?? "", "base64"));
    // Only a guarded call can be stopped: the others are not worth the cost of running alone (see TaskData).
    const options = data.guarded ? { signal, ...(data.timeout === null ? {} : { timeout: data.timeout }) } : {};
    // An apply's arguments are encoded as the local pool's are (applyPayload): they go on to the child as they came.
    if (data.kind === TaskKind.Apply) return this.#pool.applyEncoded(fn, payload(), options).get();
    // The job is a chunk already (the caller's chunksize): one local task, one round trip to a child.
    const items = data.integers ?? ((await loads(payload())) as unknown[]);
    const whole = { ...options, chunksize: Math.max(1, items.length) };
    return data.kind === TaskKind.Starmap ? this.#pool.starmap(fn, items as unknown[][], whole) : this.#pool.map(fn, items, whole);
  }

  #onCancel(text: string): void {
    let message: CancelMessage;
    try {
      message = JSON.parse(text) as CancelMessage;
    } catch {
      return;
    }
    for (const [jobId, running] of this.#running) {
      if (running.pool === message.pool && (!message.jobs || message.jobs.includes(jobId))) running.abort.abort();
    }
  }

  /** Stop taking jobs, finish those held, stop the local pool, disconnect. */
  drain(): Promise<void> {
    this.#draining ??= (async () => {
      this.#log(`draining: ${this.#running.size} job(s) running, taking no more`);
      await this.#worker.close();
      this.#pool.close();
      await this.#pool.join();
      this.#sub.disconnect();
      await this.#conn.quit().catch(() => undefined);
      this.#log("stopped");
    })();
    return this.#draining;
  }
}
