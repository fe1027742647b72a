/*
 * A pool worker's life (Python's pool.worker()): run the initializer, then
 * take batches of tasks from this slot's channel and run them one at a
 * time, in order, answering on the shared result channel.
 *
 * Results leave together, in one message: once FLUSH_MS have passed since
 * the first of them began (so a slow task's at once, with those before
 * it), at the end of a batch, before an asynchronous task waits, and when
 * the worker exits. A message costs the worker a lock, a copy and maybe a
 * wake; one per task was most of a tiny task's cost, and in a fresh worker,
 * whose code for that path is not optimized yet, most of all. Before each
 * task the worker publishes the number of the task it begins (one shared
 * word), so that if it dies the parent can tell the tasks it had begun
 * (reported lost: the one it was running, and any whose results it still
 * held, if it was killed) from those still waiting in its channel (given
 * to another worker).
 *
 * A result that cannot be serialized becomes that task's error
 * (MaybeEncodingError), an error that cannot be its name, message and
 * stack: never a lost worker.
 *
 * Talks to: pool/protocol.ts; pool/engine.ts starts it as a Process target.
 */
import { registerTarget, loadFunction } from "../functionRefs.ts";
import { libraryOwn } from "../runtime.ts";
import { runAsync } from "../synchronize.ts";
import type { RawArray } from "../sharedctypes.ts";
import { whileBootstrapping } from "../process.ts";
import { PoolChannel, ResultKind, TaskKind, encodeError, OutcomeWriter, readApplyPayload, readFunctions, readTaskSpecs, readTasks, resultMessage, type TaskBatch, type TaskSpec } from "./protocol.ts";

/** Results of quick tasks wait at most this long (ms) for others to leave with. */
const FLUSH_MS = 0.5;

type Loaded = { fn: (...args: unknown[]) => unknown } | { error: unknown };

export interface WorkerSetup {
  slot: number;
  generation: number;
  tasks: PoolChannel;
  results: PoolChannel;
  /** One word per slot: 1 + the ordinal of the last task this slot's worker began (see protocol.ts). */
  started: RawArray<"i">;
  initializer?: (...args: unknown[]) => unknown;
  initargs: unknown[];
  maxtasks: number | null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as PromiseLike<unknown>).then === "function";
}

class Worker {
  readonly #setup: WorkerSetup;
  readonly #functions = new Map<number, Loaded>();
  readonly #startedWord: Int32Array;
  /** Results held, not yet sent. */
  readonly #outcomes: OutcomeWriter;
  /** When the task of the oldest held result began (performance.now()): a task that ran FLUSH_MS or longer sends at once. */
  #heldSince = 0;
  #completed = 0;
  /** The function table of the last batch, every function in it loaded (or failed to). */
  #lastTable = new Uint8Array(0);

  constructor(setup: WorkerSetup) {
    this.#setup = setup;
    this.#startedWord = setup.started.view;
    this.#outcomes = new OutcomeWriter(setup.slot, setup.generation);
  }

  #send(kind: ResultKind, body?: Uint8Array, arg = 0): void {
    this.#flush();
    this.#setup.results.channel.tryWrite(resultMessage(this.#setup.slot, this.#setup.generation, kind, arg, body), false);
  }

  async run(): Promise<void> {
    const { initializer, initargs, tasks } = this.#setup;
    if (initializer) {
      try {
        await initializer(...initargs);
      } catch (err) {
        this.#send(ResultKind.InitFailed, encodeError(err));
        throw err;
      }
    }
    this.#send(ResultKind.Ready);
    // A task that calls process.exit() ends the worker: the results held so far still go.
    process.once("exit", () => this.#flush());
    const channel = tasks.channel;
    for (;;) {
      const message = channel.tryRead() ?? (await runAsync(channel.readSteps(Infinity, false, true)))!;
      const batch = readTasks(message);
      if (batch.count === 0) return;
      await this.#runBatch(batch);
      if (this.#setup.maxtasks !== null && this.#completed >= this.#setup.maxtasks) return;
    }
  }

  async #runBatch(batch: TaskBatch): Promise<void> {
    let list: TaskSpec[];
    try {
      // Nearly every message names the same functions as the one before, in the same bytes: decoding them again
      // was tens of microseconds of each long task's turnaround.
      if (!sameBytes(batch.functions, this.#lastTable)) await whileBootstrapping(() => this.#loadFunctions(batch));
      list = await readTaskSpecs(batch);
    } catch (err) {
      // Nothing of this batch can run: every task in it fails with the reason.
      for (let i = 0; i < batch.count; i++) {
        this.#begin(batch.first + i);
        this.#hold(false, err, 0, false, 0);
      }
      this.#flush();
      return;
    }
    for (let i = 0; i < batch.count; i++) {
      const task = list[i]!;
      this.#begin(batch.first + i);
      if (batch.reportBegin) this.#send(ResultKind.Begun, undefined, batch.first + i);
      const start = performance.now();
      let ok = true;
      let value: unknown;
      try {
        value = this.#runTask(task.kind, task.fnId, task.payload);
        if (isThenable(value)) {
          this.#flush();
          value = await value;
        }
      } catch (err) {
        ok = false;
        value = err;
      }
      const end = performance.now();
      this.#hold(ok, value, end - start, task.kind !== TaskKind.Apply, start);
      if (i === batch.count - 1 || end - this.#heldSince >= FLUSH_MS) this.#flush();
    }
  }

  async #loadFunctions(batch: TaskBatch): Promise<void> {
    for (const [id, ref] of await readFunctions(batch)) {
      if (this.#functions.has(id)) continue;
      try {
        this.#functions.set(id, { fn: (await loadFunction(ref)) as (...args: unknown[]) => unknown });
      } catch (error) {
        this.#functions.set(id, { error });
      }
    }
    this.#lastTable = batch.functions.slice();
  }

  /** Run a task; a Promise only when something in it is asynchronous (tiny sync tasks skip a microtask each). */
  #runTask(kind: TaskKind, id: number, payload: unknown): unknown {
    const loaded = this.#functions.get(id);
    if (!loaded) throw new Error(`pool worker: function #${id} was never sent`);
    if ("error" in loaded) throw loaded.error;
    const fn = loaded.fn;
    if (kind === TaskKind.Apply) {
      return readApplyPayload(payload as Uint8Array).then(({ args, kwargs }) => (kwargs === undefined ? fn(...args) : fn(...args, kwargs)));
    }
    if (payload instanceof Float64Array) return this.#runNumbers(fn, payload);
    // Filled by push, not preallocated: V8 serializes a holey array element by element, several times slower.
    return this.#runFrom(fn, kind === TaskKind.Starmap, payload as unknown[], [], 0);
  }

  /** A chunk's calls from `from` on, results pushed on `out`; a Promise once one of them is asynchronous. */
  #runFrom(fn: (...args: unknown[]) => unknown, spread: boolean, items: ArrayLike<unknown>, out: unknown[], from: number): unknown {
    for (let i = from; i < items.length; i++) {
      const result = spread ? fn(...(items[i] as unknown[])) : fn(items[i]);
      if (isThenable(result)) return this.#finishAsync(fn, spread, items, out, i, result);
      out.push(result);
    }
    return out;
  }

  /** A chunk of numbers (see jobs.ts NUMBER_CHUNK): while the results are numbers too, they go into a Float64Array. */
  #runNumbers(fn: (...args: unknown[]) => unknown, items: Float64Array): unknown {
    const numbers = new Float64Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const result = fn(items[i]);
      if (typeof result === "number") {
        numbers[i] = result;
        continue;
      }
      const out: unknown[] = Array.from(numbers.subarray(0, i));
      if (isThenable(result)) return this.#finishAsync(fn, false, items, out, i, result);
      out.push(result);
      return this.#runFrom(fn, false, items, out, i + 1);
    }
    return numbers;
  }

  /** The rest of a chunk once one of its calls returned a Promise. */
  async #finishAsync(fn: (...args: unknown[]) => unknown, spread: boolean, items: ArrayLike<unknown>, out: unknown[], at: number, pending: PromiseLike<unknown>): Promise<unknown[]> {
    out.push(await pending);
    for (let i = at + 1; i < items.length; i++) {
      const result = spread ? fn(...(items[i] as unknown[])) : fn(items[i]);
      out.push(isThenable(result) ? await result : result);
    }
    return out;
  }

  /** Publish that the task numbered `ordinal` begins (see the header comment). */
  #begin(ordinal: number): void {
    Atomics.store(this.#startedWord, this.#setup.slot, (ordinal + 1) | 0);
  }

  /** Hold a task's outcome, and how long it ran (the parent sizes its batches by it), to send with others. */
  #hold(ok: boolean, value: unknown, ms: number, chunk: boolean, began: number): void {
    this.#completed++;
    if (this.#outcomes.count === 0) this.#heldSince = began;
    this.#outcomes.add(ok, value, ms, chunk);
  }

  /** Send the results held, in one message. */
  #flush(): void {
    if (this.#outcomes.count === 0) return;
    this.#setup.results.channel.tryWrite(this.#outcomes, false);
    this.#outcomes.clear();
  }
}

/** The Process target of every pool worker. */
export async function poolWorker(setup: WorkerSetup): Promise<void> {
  await new Worker(setup).run();
  // Whatever the initializer left open (a server, a timer) must not keep a retired worker alive.
  process.exit(0);
}

registerTarget(import.meta, libraryOwn(poolWorker));
