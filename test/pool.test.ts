/*
 * Pool (src/pool.ts and src/pool/*): Python's _TestPool, _TestPoolWorkerErrors,
 * _TestPoolWorkerLifetime, TestInitializers and TestPoolNotLeakOnFailure, and
 * what Python's pool gets wrong (a dead worker hangs it; imap reads its whole
 * input): here a dead worker fails only its task, imap reads lazily, calls take
 * a timeout and an AbortSignal. Both start methods. Targets live in
 * fixtures/poolTargets.ts (they travel to workers by reference).
 */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AsyncResult,
  Event,
  FunctionLookupError,
  IMapIterator,
  Lock,
  MapResult,
  MaybeEncodingError,
  Pool,
  ProcessError,
  Queue,
  SerializationError,
  SharedArray,
  TimeoutError,
  Value,
  WorkerLostError,
  activeChildren,
  getContext,
  type Process,
  type StartMethod,
} from "../src/index.ts";
import * as targets from "./fixtures/poolTargets.ts";
import { KeyError, SayWhenError, ValueError, type DeathHow, type DeathItem } from "./fixtures/poolTargets.ts";
import { pidRunning, runProgram, tempDir, waitUntil } from "./helpers.ts";

const methods: StartMethod[] = ["spawn", "thread"];
const HANG = { timeout: 60_000 };

/** Python's exception_throwing_generator: yields 0.. and throws SayWhenError at `when` (-1: before the first). */
function* throwingInput(total: number, when: number): Generator<number> {
  if (when === -1) throw new SayWhenError("Somebody said when");
  for (let i = 0; i < total; i++) {
    if (i === when) throw new SayWhenError("Somebody said when");
    yield i;
  }
}

async function* asyncThrowingInput(total: number, when: number): AsyncGenerator<number> {
  for (const value of throwingInput(total, when)) {
    await sleep(0);
    yield value;
  }
}

async function* asyncRange(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    await sleep(0);
    yield i;
  }
}

/** Every value of an async iterable (Array.fromAsync is newer than Node 20). */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Drain an IMapIterator with next(), going on past items that fail (as Python's next() does). */
async function drainOutcomes<T>(it: IMapIterator<T>, limit = 10_000): Promise<Outcome<T>[]> {
  const outcomes: Outcome<T>[] = [];
  for (let i = 0; i < limit; i++) {
    try {
      const step = await it.next(30_000);
      if (step.done) return outcomes;
      outcomes.push({ ok: true, value: step.value });
    } catch (error) {
      outcomes.push({ ok: false, error });
    }
  }
  throw new Error(`more than ${limit} outcomes: the iterator never ended`);
}

/** The pool workers alive now that were not in `before`. */
function newWorkers(before: ReadonlySet<Process>): Process[] {
  return activeChildren().filter((child) => !before.has(child) && child.name.startsWith("PoolWorker-"));
}

/** Throws unless `pid` no longer exists (process.kill(pid, 0) fails with ESRCH). */
function assertNoProcess(pid: number): void {
  assert.throws(() => process.kill(pid, 0), (err: NodeJS.ErrnoException) => err.code === "ESRCH", `worker pid ${pid} is still there`);
}

/** Wait until the pool has replaced `count` more workers than `from` (a killed worker's exit is noticed a moment later). */
async function replacedAtLeast(pool: Pool, from: number, count: number): Promise<void> {
  await waitUntil(() => pool.stats().workersReplaced >= from + count && pool.stats().workers === pool.processes, 30_000, `${count} workers to be replaced`);
}

/** How a worker of this start method can end itself mid-task. */
function deathsFor(method: StartMethod): DeathHow[] {
  return method === "spawn" ? ["exit", "sigkill", "throw"] : ["exit", "throw"];
}

function expectedLoss(how: DeathHow): { exitCode: number; signal: string | null } {
  if (how === "exit") return { exitCode: 3, signal: null };
  if (how === "sigkill") return { exitCode: -9, signal: "SIGKILL" };
  return { exitCode: 1, signal: null };
}

/** A worker identity that changes when a worker is replaced: the pid for processes, the thread id for threads. */
function identityOf(method: StartMethod, who: { pid: number; threadId: number }): number {
  return method === "spawn" ? who.pid : who.threadId;
}

describe("Pool options (Python's _TestPool, _TestPoolWorkerLifetime, TestInitializers)", () => {
  test("processes 0, -1 and 1.5 are refused and start no worker", () => {
    const before = new Set(activeChildren());
    assert.throws(() => new Pool(0), RangeError);
    assert.throws(() => new Pool(-1), RangeError);
    assert.throws(() => new Pool({ processes: 0 }), RangeError);
    assert.throws(() => new Pool({ processes: 1.5 }), TypeError);
    assert.throws(() => new Pool({ processes: "2" as unknown as number }), TypeError);
    assert.throws(() => new (getContext("thread").Pool)(-1), RangeError);
    assert.deepEqual(newWorkers(before), []);
  });

  test("maxtasksperchild 0, -1, 0.5 and \"12\" are refused", () => {
    for (const bad of [0, -1, 0.5, "12"]) {
      assert.throws(() => new Pool({ processes: 1, maxtasksperchild: bad as number }), (err: Error) => err instanceof RangeError || err instanceof TypeError, String(bad));
    }
  });

  test("retries must be a whole number >= 0", () => {
    assert.throws(() => new Pool({ processes: 1, retries: -1 }), RangeError);
    assert.throws(() => new Pool({ processes: 1, retries: 0.5 }), TypeError);
  });

  test("an initializer that is not a function is a TypeError; a closure cannot travel", () => {
    assert.throws(() => new Pool({ processes: 1, initializer: 42 as never }), TypeError);
    assert.throws(() => new Pool({ processes: 1, initializer: "setInitValue" as never }), TypeError);
    assert.throws(() => new Pool({ processes: 1, initializer: () => undefined }), FunctionLookupError);
    assert.throws(() => new Pool({ processes: 1, initializer: targets.setInitValue, initargs: "x" as never }), TypeError);
  });

  test("a context that is neither a Context nor a start method name is refused", () => {
    assert.throws(() => new Pool({ processes: 1, context: "fork" as StartMethod }), ProcessError);
    assert.throws(() => new Pool({ processes: 1, context: {} as never }), TypeError);
  });

  test("a Context object as the context option", HANG, async () => {
    const pool = new Pool({ processes: 1, context: getContext("thread") });
    try {
      const who = await pool.apply(targets.whoAmI);
      assert.equal(who.pid, process.pid, "the thread context's workers are threads of this process");
      assert.notEqual(who.threadId, 0);
    } finally {
      await pool.terminate();
    }
  });

  test("Pool(3) has 3 workers, named PoolWorker-N, shown by activeChildren()", HANG, async () => {
    const before = new Set(activeChildren());
    const pool = new Pool(3);
    try {
      assert.equal(pool.processes, 3);
      const stats = pool.stats();
      assert.equal(stats.processes, 3);
      assert.equal(stats.workers, 3);
      assert.equal(stats.state, "running");
      const workers = newWorkers(before);
      assert.equal(workers.length, 3);
      for (const worker of workers) assert.equal(worker.daemon, true, "pool workers are daemons");
      assert.match(String(pool), /Pool state=RUN pool_size=3/);
    } finally {
      await pool.terminate();
    }
  });

  test("a worker that fails to start takes the pool down with it, leaving no worker alive (TestPoolNotLeakOnFailure)", HANG, async () => {
    const ctx = getContext("spawn");
    targets.failingStarts.failAt = 3;
    const started = targets.failingStarts.started;
    const broken = Object.create(ctx, { Process: { value: targets.FailingStartProcess } }) as typeof ctx;
    assert.throws(() => new Pool({ processes: 4, context: broken }), /cannot start worker number 3/);
    assert.equal(started.length, 2);
    await waitUntil(() => started.every((worker) => !pidRunning(worker.pid!)), 30_000, "the started workers to end");
  });
});

for (const method of methods) {
  describe(`Pool(4) over ${method} (Python's _TestPool)`, () => {
    let pool: Pool;
    let initial: Set<Process>;

    before(async () => {
      initial = new Set(activeChildren());
      pool = new (getContext(method).Pool)(4);
      await pool.apply(targets.sqr, [0]);
    });

    after(async () => {
      await pool?.terminate();
    });

    test("apply(fn, args) and apply with kwargs (passed as one last argument)", HANG, async () => {
      assert.equal(await pool.apply(targets.sqr, [5]), 25);
      assert.equal(await pool.apply(targets.mul, [6, 7]), 42);
      assert.deepEqual(await pool.apply(targets.echoArgs, [1, "two"], { kwargs: { c: 3 } }), [1, "two", { c: 3 }]);
      assert.deepEqual(await pool.apply(targets.echoArgs, [], { kwargs: { only: true } }), [{ only: true }]);
      assert.deepEqual(await pool.apply(targets.echoArgs), []);
    });

    test("map, starmap and their async forms equal Array.map, with the default chunksize and chunksize 20", HANG, async () => {
      const items = range(100);
      const squares = items.map((x) => x * x);
      assert.deepEqual(await pool.map(targets.sqrSync, items), squares);
      assert.deepEqual(await pool.map(targets.sqrSync, items, { chunksize: 20 }), squares);
      assert.deepEqual(await pool.map(targets.sqrSync, items, 20), squares);
      assert.deepEqual(await pool.map(targets.sqr, new Set(range(10))), range(10).map((x) => x * x), "any iterable, async targets");
      const pairs = items.map((x) => [x, x + 1] as [number, number]);
      const products = items.map((x) => x * (x + 1));
      assert.deepEqual(await pool.starmap(targets.mul, pairs), products);
      assert.deepEqual(await pool.starmap(targets.mul, pairs, { chunksize: 20 }), products);
      const mapped = pool.mapAsync(targets.sqrSync, items);
      assert.ok(mapped instanceof MapResult);
      assert.deepEqual(await mapped.get(), squares);
      assert.deepEqual(await pool.starmapAsync(targets.mul, pairs, 7).get(), products);
    });

    test("map and imap take an async iterable", HANG, async () => {
      assert.deepEqual(await pool.map(targets.sqrSync, asyncRange(20)), range(20).map((x) => x * x));
      const got: number[] = [];
      for await (const value of pool.imap(targets.sqrSync, asyncRange(20), { chunksize: 3 })) got.push(value);
      assert.deepEqual(got, range(20).map((x) => x * x));
    });

    test("mapAsync calls callback once with the whole list, or errorCallback once with the error", HANG, async () => {
      const calls: Array<[string, unknown]> = [];
      const ok = pool.mapAsync(targets.toInt, ["1"], { callback: (v) => calls.push(["callback", v as unknown]), errorCallback: (e) => calls.push(["errorCallback", e as unknown]) });
      assert.deepEqual(await ok.get(30_000), [1]);
      assert.deepEqual(calls, [["callback", [1]]]);
      calls.length = 0;
      const bad = pool.mapAsync(targets.toInt, ["a"], { callback: (v) => calls.push(["callback", v as unknown]), errorCallback: (e) => calls.push(["errorCallback", e as unknown]) });
      await assert.rejects(bad.get(30_000), ValueError);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]![0], "errorCallback");
      assert.ok(calls[0]![1] instanceof ValueError);
      assert.equal(bad.successful(), false);
    });

    test("applyAsync: get() waits for the value; get(ms) throws TimeoutError while the task runs; wait, ready, successful", HANG, async () => {
      const slow = pool.applyAsync(targets.sqr, [7, 1500]);
      assert.ok(slow instanceof AsyncResult);
      assert.equal(slow.ready(), false);
      assert.throws(() => slow.successful(), /not ready/);
      await assert.rejects(slow.get(50), TimeoutError);
      await assert.rejects(slow.get({ timeout: 50 }), TimeoutError);
      await slow.wait(20);
      assert.equal(slow.ready(), false, "wait(ms) returns after ms without the result");
      const stopWaiting = new AbortController();
      const waiting = slow.get({ signal: stopWaiting.signal });
      stopWaiting.abort();
      await assert.rejects(waiting, (err: unknown) => (err as Error).name === "AbortError");
      assert.equal(await slow.get(), 49);
      assert.equal(await slow, 49, "an AsyncResult is a thenable");
      assert.equal(slow.ready(), true);
      assert.equal(slow.successful(), true);
      const failed = pool.applyAsync(targets.raiseKeyError);
      await failed.wait();
      assert.equal(failed.ready(), true);
      assert.equal(failed.successful(), false);
      await assert.rejects(failed.get(), KeyError);
    });

    test("a task's error comes back with its class, message and the worker's stack", HANG, async () => {
      const error = await pool.apply(targets.raiseRangeError, [3]).then(
        () => assert.fail("the task should have failed"),
        (err: unknown) => err,
      );
      assert.ok(error instanceof RangeError);
      assert.equal((error as Error).message, "out of range: 3");
      assert.match((error as Error).stack ?? "", /poolTargets\.ts/);
      await assert.rejects(pool.apply(targets.raiseKeyError), (err: unknown) => err instanceof KeyError && err.message === "key" && err.name === "KeyError");
      await assert.rejects(pool.map(targets.toInt, ["1", "x", "3"]), (err: unknown) => err instanceof ValueError && /'x'/.test(err.message));
    });

    test("applyAsync's errorCallback receives the KeyError and get() rejects with it (_TestPoolWorkerErrors)", HANG, async () => {
      const seen: unknown[] = [];
      const result = pool.applyAsync(targets.raiseKeyError, [], { errorCallback: (err) => seen.push(err), callback: () => seen.push("callback") });
      await assert.rejects(result.get(30_000), KeyError);
      assert.equal(seen.length, 1);
      assert.ok(seen[0] instanceof KeyError);
    });

    test("a result that cannot be sent fails with MaybeEncodingError, 20 times over, and loses no worker", HANG, async () => {
      const replaced = pool.stats().workersReplaced;
      for (let i = 0; i < 20; i++) {
        const seen: unknown[] = [];
        const result = pool.applyAsync(targets.returnClosure, [], { errorCallback: (err) => seen.push(err) });
        const error = await result.get(30_000).then(
          () => assert.fail("a closure cannot come back"),
          (err: unknown) => err,
        );
        assert.ok(error instanceof MaybeEncodingError, String(error));
        assert.equal(typeof error.exc, "string");
        assert.equal(typeof error.value, "string");
        assert.match(error.value, /Function/);
        assert.match(error.exc, /function/i);
        assert.equal(seen.length, 1);
        assert.ok(seen[0] instanceof MaybeEncodingError);
      }
      await assert.rejects(pool.map(targets.returnClosure, [1, 2]), MaybeEncodingError);
      assert.equal(pool.stats().workersReplaced, replaced);
      assert.equal(await pool.apply(targets.sqr, [4]), 16);
    });

    test("what cannot travel fails the call with the path of the value, and the pool goes on", HANG, async () => {
      await assert.rejects(pool.apply(targets.identity, [() => 1]), (err: unknown) => err instanceof SerializationError && /args\[0\]/.test(err.message));
      assert.throws(() => pool.applyAsync(targets.echoArgs, [1], { kwargs: { cb: () => 1 } }), SerializationError);
      await assert.rejects(pool.map(targets.identity, [1, 2, () => 3]), (err: unknown) => err instanceof SerializationError && /iterable\[2\]/.test(err.message));
      await assert.rejects(pool.apply(() => 1), FunctionLookupError);
      await assert.rejects(pool.map((x: number) => x, [1]), FunctionLookupError);
      assert.throws(() => pool.imap((x: number) => x, [1]), FunctionLookupError);
      await assert.rejects(pool.apply(42 as never), TypeError);
      assert.deepEqual(await pool.map(targets.sqrSync, [1, 2, 3]), [1, 4, 9]);
    });

    test("a pool cannot be passed to its own tasks (Python: pool objects cannot be pickled)", HANG, async () => {
      await assert.rejects(pool.apply(targets.identity, [pool]), SerializationError);
    });

    test("map over an input that throws (first element, mid-way, async) rejects with that error; the pool goes on", HANG, async () => {
      await assert.rejects(pool.map(targets.sqrSync, throwingInput(1, -1)), SayWhenError);
      await assert.rejects(pool.map(targets.sqrSync, throwingInput(10, 0)), SayWhenError);
      await assert.rejects(pool.map(targets.sqrSync, throwingInput(10, 5)), SayWhenError);
      await assert.rejects(pool.mapAsync(targets.sqrSync, asyncThrowingInput(10, 5)).get(30_000), SayWhenError);
      await assert.rejects(pool.starmap(targets.mul, asyncThrowingInput(10, 5) as never), SayWhenError);
      assert.deepEqual(await pool.map(targets.sqrSync, range(5)), [0, 1, 4, 9, 16]);
    });

    test("over an empty input, map, starmap, mapAsync, imap and imapUnordered give []", HANG, async () => {
      assert.deepEqual(await pool.map(targets.sqrSync, []), []);
      assert.deepEqual(await pool.starmap(targets.mul, []), []);
      const mapped = pool.mapAsync(targets.sqrSync, [], 1);
      assert.deepEqual(await mapped.get(1000), []);
      assert.deepEqual(await pool.mapAsync(targets.sqrSync, asyncRange(0)).get(30_000), []);
      assert.deepEqual(await collect(pool.imap(targets.sqrSync, [])), []);
      assert.deepEqual(await collect(pool.imapUnordered(targets.sqrSync, [])), []);
      assert.deepEqual(await collect(pool.imap(targets.sqrSync, asyncRange(0))), []);
    });

    test("imap yields in order and then is done, also with chunksize 100 over 1000 items", HANG, async () => {
      const it = pool.imap(targets.sqrSync, range(10));
      for (let i = 0; i < 10; i++) assert.deepEqual(await it.next(), { value: i * i, done: false });
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      assert.deepEqual(await it.next(), { value: undefined, done: true });
      const big: number[] = [];
      for await (const value of pool.imap(targets.sqrSync, range(1000), { chunksize: 100 })) big.push(value);
      assert.deepEqual(big, range(1000).map((x) => x * x));
    });

    test("many tiny tasks: every value lands at its own place, run after run (imap, imapUnordered, map)", HANG, async () => {
      const input = range(1000);
      const squares = input.map((x) => x * x);
      for (let run = 0; run < 15; run++) {
        const ordered = await collect(pool.imap(targets.sqrSync, input, 7));
        const misplaced = ordered.map((v, i) => [i, v]).filter(([i, v]) => v !== i! * i!);
        assert.deepEqual(misplaced.slice(0, 5), [], `imap run ${run}: ${misplaced.length} values misplaced ([index, value])`);
        const unordered = await collect(pool.imapUnordered(targets.sqrSync, input, 7));
        assert.deepEqual(unordered.sort((a, b) => a - b), squares, `imapUnordered run ${run}`);
        assert.deepEqual(await pool.map(targets.sqrSync, input, 7), squares, `map run ${run}`);
      }
    });

    test("imapUnordered yields every result once, with and without chunksize", HANG, async () => {
      for (const chunksize of [1, 53]) {
        const got = await collect(pool.imapUnordered(targets.sqrSync, range(200), { chunksize }));
        assert.deepEqual(got.sort((a, b) => a - b), range(200).map((x) => x * x));
      }
      const slowFirst = await collect(pool.imapUnordered(targets.sleepItem, [800, 1, 2, 3]));
      assert.deepEqual([...slowFirst].sort((a, b) => a - b), [1, 2, 3, 800]);
    });

    test("imap over an input that throws gives the results before it, then the error (chunksize 1, 2, 4)", HANG, async () => {
      for (const [total, when, chunksize, good] of [
        [10, 3, 1, 3],
        [20, 7, 2, 6],
        [20, 7, 4, 4],
        [10, 0, 1, 0],
      ] as const) {
        const outcomes = await drainOutcomes(pool.imap(targets.sqrSync, throwingInput(total, when), chunksize));
        const label = `throw at ${when}, chunksize ${chunksize}`;
        assert.deepEqual(
          outcomes.slice(0, good).map((o) => (o.ok ? o.value : o.error)),
          range(good).map((x) => x * x),
          label,
        );
        assert.equal(outcomes.length, good + 1, label);
        const last = outcomes[good]!;
        assert.ok(!last.ok && last.error instanceof SayWhenError, label);
      }
      const fromAsync = await drainOutcomes(pool.imap(targets.sqrSync, asyncThrowingInput(10, 3)));
      assert.deepEqual(fromAsync.slice(0, 3), [0, 1, 4].map((value) => ({ ok: true, value })));
      assert.equal(fromAsync.length, 4);
      assert.ok(!fromAsync[3]!.ok && fromAsync[3]!.error instanceof SayWhenError);
    });

    test("imapUnordered over an input that throws ends with the error, every value before it valid", HANG, async () => {
      const expected = range(10).map((x) => x * x);
      const outcomes = await drainOutcomes(pool.imapUnordered(targets.sqrSync, throwingInput(10, 3)));
      const errors = outcomes.filter((o) => !o.ok);
      assert.equal(errors.length, 1);
      assert.ok(errors[0]!.error instanceof SayWhenError);
      for (const o of outcomes) if (o.ok) assert.ok(expected.includes(o.value as number));
    });

    test("imap: a failed task throws at its place and next() goes on with the rest", HANG, async () => {
      const outcomes = await drainOutcomes(pool.imap(targets.toInt, ["1", "a", "3", "b", "5"]));
      assert.equal(outcomes.length, 5);
      assert.deepEqual(outcomes.filter((o) => o.ok).map((o) => (o as { value: number }).value), [1, 3, 5]);
      assert.ok(!outcomes[1]!.ok && outcomes[1]!.error instanceof ValueError);
      assert.ok(!outcomes[3]!.ok && outcomes[3]!.error instanceof ValueError);
      const unordered = await drainOutcomes(pool.imapUnordered(targets.toInt, ["1", "a", "3"]));
      assert.equal(unordered.length, 3);
      assert.equal(unordered.filter((o) => !o.ok).length, 1);
    });

    test("imap's next(ms) throws TimeoutError while the next result is not there, and a later next() gets it", HANG, async () => {
      const it = pool.imap(targets.sleepItem, [1500, 1]);
      await assert.rejects(it.next(50), TimeoutError);
      await assert.rejects(it.next({ timeout: 50 }), TimeoutError);
      assert.deepEqual(await it.next(30_000), { value: 1500, done: false });
      assert.deepEqual(await it.next(30_000), { value: 1, done: false });
      assert.deepEqual(await it.next(30_000), { value: undefined, done: true });
    });

    test("imap reads its input lazily: at most buffersize tasks ahead of the consumer", HANG, async () => {
      let read = 0;
      function* counted(): Generator<number> {
        for (let i = 0; i < 1000; i++) {
          read++;
          yield i;
        }
      }
      const it = pool.imap(targets.sqrSync, counted(), { buffersize: 4 });
      for (let i = 0; i < 3; i++) assert.deepEqual(await it.next(30_000), { value: i * i, done: false });
      // Give the pool every chance to read too far ahead.
      await waitUntil(() => pool.stats().busyWorkers === 0, 30_000, "the pool to settle");
      await sleep(100);
      assert.ok(read <= 3 + 4, `read ${read} items with 3 consumed and buffersize 4`);
      const rest: number[] = [];
      for await (const value of it) rest.push(value);
      assert.equal(rest.length, 997);
      assert.equal(rest[996], 999 * 999);

      let readChunked = 0;
      function* countedChunked(): Generator<number> {
        for (let i = 0; i < 1000; i++) {
          readChunked++;
          yield i;
        }
      }
      const chunked = pool.imapUnordered(targets.sqrSync, countedChunked(), { chunksize: 5, buffersize: 2 });
      await chunked.next(30_000);
      await waitUntil(() => pool.stats().busyWorkers === 0, 30_000, "the pool to settle");
      await sleep(100);
      assert.ok(readChunked <= 1 + 2 * 5, `read ${readChunked} items with 1 consumed, chunksize 5 and buffersize 2`);
      await chunked.return();

      let readAsync = 0;
      async function* countedAsync(): AsyncGenerator<number> {
        for (let i = 0; i < 1000; i++) {
          readAsync++;
          await sleep(0);
          yield i;
        }
      }
      const fromAsync = pool.imap(targets.sqrSync, countedAsync(), { buffersize: 3 });
      assert.deepEqual(await fromAsync.next(30_000), { value: 0, done: false });
      await waitUntil(() => pool.stats().busyWorkers === 0, 30_000, "the pool to settle");
      await sleep(100);
      assert.ok(readAsync <= 1 + 3, `read ${readAsync} items of an async input with 1 consumed and buffersize 3`);
      await fromAsync.return();
    });

    test("leaving a for-await over imap early stops the work and the input", HANG, async () => {
      let read = 0;
      function* counted(): Generator<number> {
        for (let i = 0; i < 1000; i++) {
          read++;
          yield 20;
        }
      }
      const done = pool.stats().tasksDone;
      let taken = 0;
      for await (const value of pool.imap(targets.sleepItem, counted(), { buffersize: 8 })) {
        assert.equal(value, 20);
        if (++taken === 3) break;
      }
      await waitUntil(() => pool.stats().busyWorkers === 0 && pool.stats().queued === 0, 30_000, "the pool to stop the imap");
      const readAfterBreak = read;
      assert.ok(readAfterBreak <= 3 + 8, `read ${readAfterBreak} items`);
      await sleep(100);
      assert.equal(read, readAfterBreak, "the input was read after the consumer left");
      assert.ok(pool.stats().tasksDone - done < 3 + 8 + 1, "tasks kept running after the consumer left");
      assert.deepEqual(await pool.map(targets.sqrSync, [3]), [9]);
    });

    test("onProgress reports (done, total) as items finish, ending at (n, n)", HANG, async () => {
      const calls: Array<[number, number | undefined]> = [];
      await pool.map(targets.sqrSync, range(20), { chunksize: 5, onProgress: (done, total) => calls.push([done, total]) });
      assert.ok(calls.length >= 1);
      assert.deepEqual(calls.at(-1), [20, 20]);
      for (let i = 1; i < calls.length; i++) assert.ok(calls[i]![0] >= calls[i - 1]![0], "done never goes back");
      assert.ok(calls.every(([, total]) => total === 20));
      const imapCalls: Array<[number, number | undefined]> = [];
      await collect(pool.imap(targets.sqrSync, range(12), { chunksize: 4, onProgress: (done, total) => imapCalls.push([done, total]) }));
      assert.equal(imapCalls.at(-1)![0], 12);
      assert.equal(imapCalls.at(-1)![1], 12, "the total is known once the input ended");
      assert.throws(() => pool.mapAsync(targets.sqrSync, [1], { onProgress: 5 as never }), TypeError);
      // A bar is drawn only on a terminal: here (a pipe) asking for one changes nothing.
      assert.deepEqual(await pool.map(targets.sqrSync, range(5), { progress: "squares" }), [0, 1, 4, 9, 16]);
      assert.deepEqual(await collect(pool.imap(targets.sqrSync, range(5), { progress: true })), [0, 1, 4, 9, 16]);
    });

    test("bad per-call options are refused: chunksize 0, buffersize 0, negative timeout, non-array args", HANG, async () => {
      await assert.rejects(pool.map(targets.sqrSync, [1], { chunksize: 0 }), RangeError);
      assert.throws(() => pool.mapAsync(targets.sqrSync, [1], 0), RangeError);
      assert.throws(() => pool.imap(targets.sqrSync, [1], { chunksize: 0 }), RangeError);
      assert.throws(() => pool.imap(targets.sqrSync, [1], { buffersize: 0 }), RangeError);
      await assert.rejects(pool.apply(targets.sqr, [1], { timeout: -1 }), TypeError);
      await assert.rejects(pool.apply(targets.sqr, 1 as never), TypeError);
      await assert.rejects(pool.map(targets.sqrSync, 5 as never), TypeError);
      assert.throws(() => pool.imap(targets.sqrSync, null as never), TypeError);
    });

    test("library objects travel as task arguments: Queue, Value with its lock, Lock with a SharedArray, Event", HANG, async () => {
      const queue = new Queue<string>();
      const puts = range(4).map((i) => pool.apply(targets.putInto, [queue, `item ${i}`]));
      assert.deepEqual((await Promise.all(puts)).sort(), ["item 0", "item 1", "item 2", "item 3"]);
      const got: string[] = [];
      for (let i = 0; i < 4; i++) got.push(await queue.get(30_000));
      assert.deepEqual(got.sort(), ["item 0", "item 1", "item 2", "item 3"]);

      const counter = new Value("i", 0);
      await Promise.all(range(4).map(() => pool.apply(targets.incrementValue, [counter, 250])));
      assert.equal(counter.value, 1000);

      const lock = new Lock();
      const cells = new SharedArray("i", 2);
      await pool.starmap(targets.bumpUnderLock, range(8).map((i) => [lock, cells, i % 2, 100] as [Lock, SharedArray<"i">, number, number]), 1);
      assert.deepEqual(cells.toArray(), [400, 400]);

      const event = new Event();
      const waiting = pool.applyAsync(targets.waitForEvent, [event, 30_000]);
      const items = range(3).map((i) => ({ i, event }));
      const mapped = pool.map(targets.waitOrValue, items, 1);
      await sleep(20);
      event.set();
      assert.equal(await waiting.get(30_000), true);
      assert.deepEqual(await mapped, [0, 1, 2]);
    });

    test("a result nobody awaits never becomes an unhandled rejection", HANG, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        const a = pool.applyAsync(targets.raiseKeyError);
        const m = pool.mapAsync(targets.toInt, ["x"]);
        const it = pool.imap(targets.toInt, ["y"]);
        await a.wait(30_000);
        await m.wait(30_000);
        await waitUntil(() => pool.stats().busyWorkers === 0, 30_000, "the tasks to finish");
        await sleep(50);
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(unhandled, []);
        await it.return();
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    });

    test("stats() tells the state, the workers and how many tasks were done and failed", HANG, async () => {
      const start = pool.stats();
      await pool.map(targets.sqrSync, range(8), 1);
      await assert.rejects(pool.apply(targets.raiseKeyError), KeyError);
      const stats = pool.stats();
      assert.equal(stats.state, "running");
      assert.equal(stats.processes, 4);
      assert.equal(stats.workers, 4);
      assert.equal(stats.busyWorkers, 0);
      assert.equal(stats.queued, 0);
      assert.equal(stats.tasksDone - start.tasksDone, 8);
      assert.equal(stats.tasksFailed - start.tasksFailed, 1);
      assert.equal(typeof stats.workersReplaced, "number");
    });

    test("the pool's workers show in activeChildren() while it runs, started by the context's method", HANG, async () => {
      const workers = newWorkers(initial);
      assert.equal(workers.length, 4);
      assert.ok(workers.every((worker) => worker.isAlive()));
      const who = await pool.apply(targets.whoAmI);
      assert.match(who.name, /^PoolWorker-\d+$/);
      if (method === "spawn") assert.notEqual(who.pid, process.pid);
      else assert.equal(who.pid, process.pid, "a thread worker runs in this process");
    });
  });
}

for (const method of methods) {
  describe(`workers that die, time out or are aborted (${method})`, () => {
    let pool: Pool;
    let dir: string;

    before(async () => {
      dir = tempDir();
      pool = new Pool({ processes: 2, context: method });
      await pool.apply(targets.sqr, [0]);
    });

    after(async () => {
      await pool?.terminate();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const how of deathsFor(method)) {
      test(`a worker that dies mid-task (${how}) rejects only its task with WorkerLostError and is replaced`, HANG, async () => {
        const oldWorkers = newWorkers(new Set());
        const replaced = pool.stats().workersReplaced;
        const others = range(6).map((i) => pool.applyAsync(targets.sleepThen, [30, i]));
        const error = await pool.apply(targets.die, [how]).then(
          () => assert.fail("the task's worker died: it cannot succeed"),
          (err: unknown) => err,
        );
        assert.ok(error instanceof WorkerLostError, String(error));
        const expected = expectedLoss(how);
        assert.equal(error.exitCode, expected.exitCode);
        assert.equal(error.signal, expected.signal);
        assert.equal(error.index, 0);
        assert.equal(typeof error.pid, "number");
        if (method === "spawn") assert.ok(oldWorkers.some((worker) => worker.pid === error.pid), "the error names a pool worker's pid");
        assert.deepEqual(await Promise.all(others.map((r) => r.get(30_000))), range(6));
        await replacedAtLeast(pool, replaced, 1);
        assert.equal(pool.stats().workersReplaced, replaced + 1, "one death, one replacement");
        if (method === "spawn") {
          await waitUntil(() => !pidRunning(error.pid!), 30_000, "the dead worker to be gone");
          const pids = new Set(newWorkers(new Set()).map((worker) => worker.pid));
          assert.ok(!pids.has(error.pid), "the dead worker's pid is still among the pool's workers");
        }
        assert.deepEqual(await pool.map(targets.sqrSync, range(10)), range(10).map((x) => x * x));
      });
    }

    test("map: a worker that dies fails the map with WorkerLostError at that item, after every other item finished", HANG, async () => {
      const how: DeathHow = method === "spawn" ? "sigkill" : "exit";
      const replaced = pool.stats().workersReplaced;
      const items: DeathItem[] = range(12).map((x) => ({ x, ms: 10, ...(x === 7 ? { die: how } : {}) }));
      const progress: number[] = [];
      const error = await pool.map(targets.deathItem, items, { chunksize: 1, onProgress: (done) => progress.push(done) }).then(
        () => assert.fail("item 7's worker died"),
        (err: unknown) => err,
      );
      assert.ok(error instanceof WorkerLostError, String(error));
      assert.equal(error.index, 7);
      assert.match(error.message, /item 7\b/);
      assert.equal(progress.at(-1), 12, "the map settled before all its items were done (fail-fast)");
      assert.deepEqual(await pool.map(targets.sqrSync, [2]), [4]);
      await replacedAtLeast(pool, replaced, 1);
    });

    test("imap: only the item whose worker died fails, at its place; every other value arrives", HANG, async () => {
      // Item 1 is the second task of the first batch one worker gets: item 0's value must not be lost with it.
      const replaced = pool.stats().workersReplaced;
      const items: DeathItem[] = range(10).map((x) => ({ x, ms: 10, ...(x === 1 ? { die: "exit" as DeathHow } : {}) }));
      const outcomes = await drainOutcomes(pool.imap(targets.deathItem, items));
      assert.equal(outcomes.length, 10);
      outcomes.forEach((outcome, i) => {
        if (i === 1) {
          assert.ok(!outcome.ok && outcome.error instanceof WorkerLostError, `item 1: ${String(!outcome.ok && outcome.error)}`);
          assert.equal((outcome.error as WorkerLostError).index, 1);
          assert.equal((outcome.error as WorkerLostError).exitCode, 3);
        } else {
          assert.deepEqual(outcome, { ok: true, value: i * 2 }, `item ${i}: ${!outcome.ok ? String(outcome.error) : ""}`);
        }
      });
      const unordered = await drainOutcomes(pool.imapUnordered(targets.deathItem, items.map((item) => ({ ...item, ms: 15 }))));
      assert.equal(unordered.length, 10);
      const lost = unordered.filter((o) => !o.ok);
      assert.equal(lost.length, 1, `lost: ${lost.map((o) => String((o as { error: unknown }).error)).join("; ")}`);
      assert.equal((lost[0] as { error: WorkerLostError }).error.index, 1);
      assert.deepEqual(
        unordered.filter((o) => o.ok).map((o) => (o as { value: number }).value).sort((a, b) => a - b),
        range(10).filter((x) => x !== 1).map((x) => x * 2),
      );
      await replacedAtLeast(pool, replaced, 2);
    });

    test("a quick task that calls process.exit: the results its worker held still arrive, only that item is lost, the rest run on", HANG, async () => {
      // One worker, and a function it has run: the items travel in large batches and their results leave together
      // (pool/worker.ts). With the default buffersize the consumer's reading on hands out a task while the dead worker's
      // are being settled; with all items read at once, the worker holds up to a thousand results when it exits.
      const solo = new Pool({ processes: 1, context: method });
      try {
        assert.deepEqual(await solo.map(targets.sqrSyncOrExit, range(3000), { chunksize: 1 }), range(3000).map((x) => x * x));
        const items = [...range(1000), -1, ...range(1000)];
        for (const buffersize of [undefined, items.length]) {
          const outcomes = await drainOutcomes(solo.imap(targets.sqrSyncOrExit, items, { chunksize: 1, buffersize }));
          assert.equal(outcomes.length, items.length);
          outcomes.forEach((outcome, i) => {
            if (i === 1000) {
              assert.ok(!outcome.ok && outcome.error instanceof WorkerLostError && outcome.error.exitCode === 3, `item 1000: ${String(!outcome.ok && outcome.error)}`);
            } else {
              assert.deepEqual(outcome, { ok: true, value: items[i]! * items[i]! }, `buffersize ${buffersize}, item ${i}: ${!outcome.ok ? String(outcome.error) : ""}`);
            }
          });
        }
        assert.equal(solo.stats().workersReplaced, 2);
      } finally {
        await solo.terminate();
      }
    });

    test("imap hands over a finished result while the worker runs its next task", HANG, async () => {
      // One worker gets both tasks in one batch; the second waits for an event the test sets only after it has the first result.
      const event = new Event();
      const solo = new Pool({ processes: 1, context: method });
      try {
        await solo.apply(targets.sqr, [0]);
        const it = solo.imap(targets.waitOrValue, [{ i: 0 }, { i: 1, event }]);
        const first = await it.next(5_000).finally(() => event.set());
        assert.deepEqual(first, { value: 0, done: false });
        assert.deepEqual(await it.next(30_000), { value: 1, done: false });
      } finally {
        event.set();
        await solo.terminate();
      }
    });

    test("with retries, a task whose worker died runs again (apply and imap); without, it fails", HANG, async () => {
      const how: DeathHow = method === "spawn" ? "sigkill" : "exit";
      const replaced = pool.stats().workersReplaced;
      assert.equal(await pool.apply(targets.dieOnce, [join(dir, "apply-retry"), 21, how], { retries: 1 }), 42);
      await assert.rejects(pool.apply(targets.dieOnce, [join(dir, "apply-no-retry"), 21, how]), WorkerLostError);
      assert.equal(await pool.apply(targets.dieOnce, [join(dir, "apply-no-retry"), 21, how]), 42, "the marker exists now: it does not die");
      const items: DeathItem[] = range(8).map((x) => ({ x, ms: 10, ...(x === 5 ? { die: how, marker: join(dir, "imap-retry") } : {}) }));
      const values = await collect(pool.imap(targets.deathItem, items, { retries: 2 }));
      assert.deepEqual(values, range(8).map((x) => x * 2));
      const twice: DeathItem[] = range(4).map((x) => ({ x, ms: 10, ...(x === 2 ? { die: how } : {}) }));
      await assert.rejects(pool.map(targets.deathItem, twice, { chunksize: 1, retries: 1 }), (err: unknown) => err instanceof WorkerLostError && err.index === 2);
      // Deaths: apply with retries 1, apply without 1, imap 1, map 2 (item 2 dies on its retry too).
      await replacedAtLeast(pool, replaced, 5);
    });

    test("a task still running at its timeout fails with TimeoutError, its worker is replaced, the others finish", HANG, async () => {
      const replaced = pool.stats().workersReplaced;
      const other = pool.apply(targets.sleepThen, [50, "other"]);
      await assert.rejects(pool.apply(targets.sleepThen, [60_000, "late"], { timeout: 300 }), TimeoutError);
      assert.equal(await other, "other");
      await replacedAtLeast(pool, replaced, 1);
      assert.equal(await pool.apply(targets.sleepThen, [10, "in time"], { timeout: 30_000 }), "in time");
      await assert.rejects(pool.map(targets.sleepItem, [10, 60_000, 10], { chunksize: 1, timeout: 500 }), TimeoutError);
      const outcomes = await drainOutcomes(pool.imap(targets.sleepItem, [10, 60_000, 20], { timeout: 500 }));
      assert.equal(outcomes.length, 3);
      assert.deepEqual(outcomes[0], { ok: true, value: 10 });
      assert.ok(!outcomes[1]!.ok && outcomes[1]!.error instanceof TimeoutError);
      assert.deepEqual(outcomes[2], { ok: true, value: 20 });
      assert.deepEqual(await pool.map(targets.sqrSync, [5]), [25]);
      await replacedAtLeast(pool, replaced, 3);
    });

    test("aborting a running task kills its worker and rejects with the signal's reason", HANG, async () => {
      const replaced = pool.stats().workersReplaced;
      const started = new Event();
      const controller = new AbortController();
      const running = pool.apply(targets.setThenSleep, [started, 60_000], { signal: controller.signal });
      assert.equal(await started.wait(30_000), true);
      controller.abort();
      await assert.rejects(running, (err: unknown) => (err as Error).name === "AbortError");
      await replacedAtLeast(pool, replaced, 1);

      const started2 = new Event();
      const controller2 = new AbortController();
      const reason = new Error("stop now");
      const running2 = pool.applyAsync(targets.setThenSleep, [started2, 60_000], { signal: controller2.signal });
      assert.equal(await started2.wait(30_000), true);
      controller2.abort(reason);
      await assert.rejects(running2.get(30_000), (err: unknown) => err === reason);
      assert.equal(await pool.apply(targets.sqr, [3]), 9);
      await replacedAtLeast(pool, replaced, 2);
    });

    test("aborting a queued task drops it: it never runs and no worker is killed", HANG, async () => {
      const gate = new Event();
      // Guarded tasks (with a timeout) go one per idle worker: these two hold both workers.
      const holders = range(2).map(() => pool.applyAsync(targets.waitForEvent, [gate, 30_000], { timeout: 60_000 }));
      await waitUntil(() => pool.stats().busyWorkers === 2, 30_000, "both workers to be busy");
      const replaced = pool.stats().workersReplaced;
      const marker = join(dir, "aborted-queued");
      const controller = new AbortController();
      const queued = pool.applyAsync(targets.touch, [marker], { signal: controller.signal });
      const queuedMap = pool.mapAsync(targets.touch, [join(dir, "aborted-map")], { signal: controller.signal });
      controller.abort();
      await assert.rejects(queued.get(30_000), (err: unknown) => (err as Error).name === "AbortError");
      await assert.rejects(queuedMap.get(30_000), (err: unknown) => (err as Error).name === "AbortError");
      gate.set();
      assert.deepEqual(await Promise.all(holders.map((h) => h.get(30_000))), [true, true]);
      assert.equal(await pool.apply(targets.sqr, [2]), 4);
      assert.equal(existsSync(marker), false, "the aborted task ran");
      assert.equal(existsSync(join(dir, "aborted-map")), false, "the aborted map ran");
      assert.equal(pool.stats().workersReplaced, replaced);
    });

    test("a signal that is already aborted rejects the call at once", HANG, async () => {
      const marker = join(dir, "pre-aborted");
      await assert.rejects(pool.apply(targets.touch, [marker], { signal: AbortSignal.abort() }), (err: unknown) => (err as Error).name === "AbortError");
      await assert.rejects(pool.map(targets.touch, [marker], { signal: AbortSignal.abort() }), (err: unknown) => (err as Error).name === "AbortError");
      assert.equal(await pool.apply(targets.sqr, [2]), 4);
      assert.equal(existsSync(marker), false, "a task whose signal was already aborted ran");
    });
  });
}

for (const method of methods) {
  describe(`initializer and maxtasksperchild (${method})`, () => {
    test("the initializer runs in each worker before its tasks, with initargs (an async initializer)", HANG, async () => {
      // An async initializer here; the maxtasksperchild test below uses a sync one.
      const pool = new Pool({ processes: 2, context: method, initializer: targets.setInitValueLater, initargs: [{ token: "init-ok" }] });
      try {
        const values = await Promise.all(range(6).map(() => pool.apply(targets.getInitValue)));
        assert.deepEqual(values, range(6).map(() => ({ token: "init-ok" })));
      } finally {
        await pool.terminate();
      }
    });

    test("an initializer that throws in every worker fails the calls instead of hanging", HANG, async () => {
      const pool = new Pool({ processes: 2, context: method, initializer: targets.failingInitializer });
      try {
        const error = await pool.apply(targets.sqr, [2]).then(
          () => assert.fail("no worker can start"),
          (err: unknown) => err,
        );
        assert.ok(error instanceof Error);
        assert.match(`${(error as Error).message} ${String((error as Error).cause)}`, /initializer/);
        assert.throws(() => pool.applyAsync(targets.sqr, [2]), Error);
      } finally {
        await pool.terminate();
      }
    });

    test("maxtasksperchild 10: 100 tasks all correct, no worker runs more than 10, each new worker runs the initializer", HANG, async () => {
      const pool = new Pool({ processes: 3, context: method, maxtasksperchild: 10, initializer: targets.setInitValue, initargs: ["init-ok"] });
      try {
        const results = range(100).map((i) => pool.applyAsync(targets.whoAmIAfter, [i, 0]));
        const perWorker = new Map<number, number>();
        for (const [i, result] of results.entries()) {
          const value = await result.get(30_000);
          assert.equal(value.x, i);
          assert.equal(value.init, "init-ok", `task ${i} ran in a worker whose initializer did not run`);
          const who = identityOf(method, value);
          perWorker.set(who, (perWorker.get(who) ?? 0) + 1);
        }
        assert.ok(perWorker.size >= 10, `only ${perWorker.size} workers ran 100 tasks`);
        for (const [who, count] of perWorker) assert.ok(count <= 10, `worker ${who} ran ${count} tasks`);
        assert.ok(pool.stats().workersReplaced >= 7);
        assert.equal(pool.stats().tasksDone, 100);
        assert.deepEqual(await pool.map(targets.sqrSync, range(30)), range(30).map((x) => x * x));
      } finally {
        await pool.terminate();
      }
    });

    test("maxtasksperchild 1 with close() before the tasks finish: join() returns and every result is there", HANG, async () => {
      const pool = new Pool({ processes: 2, context: method, maxtasksperchild: 1 });
      const results = range(6).map((i) => pool.applyAsync(targets.sqr, [i, 30]));
      pool.close();
      await pool.join();
      assert.ok(results.every((result) => result.ready()));
      assert.deepEqual(await Promise.all(results.map((result) => result.get(0))), range(6).map((x) => x * x));
    });
  });
}

for (const method of methods) {
  describe(`close, terminate, join and await using (${method})`, () => {
    test("close(): later calls fail with \"Pool not running\"; join() waits for the work given before", HANG, async () => {
      const before = new Set(activeChildren());
      const pool = new Pool({ processes: 2, context: method });
      await assert.rejects(pool.join(), (err: unknown) => err instanceof ProcessError && /Pool is still running/.test((err as Error).message));
      const results = range(4).map((i) => pool.applyAsync(targets.sqr, [i, 50]));
      const mapped = pool.map(targets.sqrSync, range(10));
      const workers = newWorkers(before);
      pool.close();
      pool.close();
      assert.equal(pool.stats().state, "closed");
      const notRunning = (err: unknown) => err instanceof ProcessError && /Pool not running/.test((err as Error).message);
      assert.throws(() => pool.applyAsync(targets.sqr, [1]), notRunning);
      assert.throws(() => pool.mapAsync(targets.sqr, [1]), notRunning);
      assert.throws(() => pool.starmapAsync(targets.mul, [[1, 2]]), notRunning);
      assert.throws(() => pool.imap(targets.sqr, [1]), notRunning);
      assert.throws(() => pool.imapUnordered(targets.sqr, [1]), notRunning);
      await assert.rejects(pool.apply(targets.sqr, [1]), notRunning);
      await assert.rejects(pool.map(targets.sqr, [1]), notRunning);
      await assert.rejects(pool.starmap(targets.mul, [[1, 2]]), notRunning);
      await pool.join();
      assert.deepEqual(await Promise.all(results.map((r) => r.get(0))), [0, 1, 4, 9]);
      assert.deepEqual(await mapped, range(10).map((x) => x * x));
      assert.equal(workers.length, 2);
      for (const worker of workers) assert.equal(worker.isAlive(), false);
      if (method === "spawn") for (const worker of workers) assertNoProcess(worker.pid!);
      await pool.join();
    });

    test("terminate() with 1000 long tasks queued returns, rejects what is outstanding, and leaves no worker alive", HANG, async () => {
      const before = new Set(activeChildren());
      const pool = new Pool({ processes: 2, context: method });
      const mapped = pool.mapAsync(targets.sleepItem, new Array<number>(1000).fill(60_000), 1);
      const applied = pool.applyAsync(targets.sleepThen, [60_000, "never"]);
      const it = pool.imap(targets.sleepItem, [60_000]);
      await waitUntil(() => pool.stats().busyWorkers === 2, 30_000, "both workers to be busy");
      const workers = newWorkers(before);
      assert.equal(workers.length, 2);
      await pool.terminate();
      const terminated = (err: unknown) => err instanceof ProcessError && /the pool was terminated/.test((err as Error).message);
      await assert.rejects(mapped.get(1000), terminated);
      await assert.rejects(applied.get(1000), terminated);
      await assert.rejects(it.next(1000), terminated);
      assert.deepEqual(await it.next(1000), { value: undefined, done: true });
      await pool.join();
      await pool.terminate();
      assert.equal(pool.stats().state, "terminated");
      assert.equal(pool.stats().workers, 0);
      for (const worker of workers) assert.equal(worker.isAlive(), false);
      if (method === "spawn") for (const worker of workers) assertNoProcess(worker.pid!);
      assert.deepEqual(newWorkers(before), []);
      assert.throws(() => pool.applyAsync(targets.sqr, [1]), ProcessError);
      await assert.rejects(pool.map(targets.sqr, [1]), ProcessError);
    });

    test("await using terminates the pool at the end of the scope (Python's with Pool())", HANG, async () => {
      const before = new Set(activeChildren());
      let escaped: Pool | undefined;
      let workers: Process[] = [];
      {
        await using pool = new Pool({ processes: 2, context: method });
        escaped = pool;
        assert.deepEqual(await pool.map(targets.sqrSync, [1, 2, 3]), [1, 4, 9]);
        workers = newWorkers(before);
      }
      assert.equal(escaped.stats().state, "terminated");
      assert.throws(() => escaped.mapAsync(targets.sqrSync, [1]), (err: unknown) => err instanceof ProcessError && /Pool not running/.test((err as Error).message));
      assert.equal(workers.length, 2);
      for (const worker of workers) assert.equal(worker.isAlive(), false);
    });

    test("a program that never closes its pool still exits, and leaves no worker behind", HANG, async () => {
      const result = await runProgram("poolTargets.ts", [method], 50_000);
      assert.equal(result.signal, null, `the program hung: ${result.stderr}`);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { squares: number[]; workers: number; pids: number[] };
      assert.deepEqual(report.squares, [1, 4, 9]);
      assert.equal(report.workers, 2);
      if (method === "spawn") {
        assert.equal(report.pids.length, 2);
        await waitUntil(() => report.pids.every((pid) => !pidRunning(pid)), 20_000, "the program's workers to end");
      }
    });
  });
}

describe("map without fail-fast and big errors (Python's #23992)", () => {
  for (const method of methods) {
    test(`a failing map still waits for every task, and close() + join() do not deadlock on 1 MB errors (${method})`, HANG, async () => {
      const pool = new Pool({ processes: 2, context: method });
      try {
        const size = 1 << 20;
        const progress: number[] = [];
        const calls = range(8).map((x) => [x, size, x === 0 ? 0 : 40] as [number, number, number]);
        const error = await pool.starmap(targets.raiseLarge, calls, { chunksize: 1, onProgress: (done) => progress.push(done) }).then(
          () => assert.fail("item 0 throws"),
          (err: unknown) => err,
        );
        assert.ok(error instanceof Error);
        assert.equal((error as Error).message.length, size);
        assert.equal(progress.at(-1), 8, "the map failed before its other tasks finished");
        const big = pool.starmapAsync(targets.raiseLarge, [[0, size, 0]]);
        pool.close();
        await assert.rejects(big.get(30_000));
        await pool.join();
      } finally {
        await pool.terminate();
      }
    });
  }
});

describe("map over long chunks of numbers (they travel as float64s both ways)", () => {
  for (const method of methods) {
    test(`results of every type, changing halfway through a chunk, come back in order (${method})`, HANG, async () => {
      const pool = new Pool({ processes: 2, context: method });
      try {
        const items = range(10_000);
        for (const fn of [targets.everyStrings, targets.everyAsync, targets.everyObjects]) {
          const out = await pool.map(fn, items, { chunksize: 2_500 });
          assert.deepEqual(out, await Promise.all(items.map(fn)), fn.name);
        }
        const starred = await pool.starmap(targets.mostlyNumbers, items.map((x) => [x, 997, "string"] as [number, number, "string"]), { chunksize: 2_500 });
        assert.deepEqual(starred, items.map(targets.everyStrings));
        const direct = await pool.map(targets.sqrSync, items, { chunksize: 5_000 });
        assert.deepEqual(direct, items.map((x) => x * x));
      } finally {
        await pool.terminate();
      }
    });

    test(`-0, NaN, infinities, fractions and huge values keep their exact value (${method})`, HANG, async () => {
      const pool = new Pool({ processes: 2, context: method });
      try {
        const specials = [-0, 0, NaN, Infinity, -Infinity, 0.1, -1e308, 2 ** 53 + 2, Number.MIN_VALUE];
        const items = Array.from({ length: 4_096 }, (_, i) => specials[i % specials.length]!);
        const out = await pool.map(targets.same, items, { chunksize: 2_048 });
        assert.equal(out.length, items.length);
        out.forEach((value, i) => assert.ok(Object.is(value, items[i]), `item ${i}: ${value} is not ${items[i]}`));
        const strings = await pool.map(targets.identity, [...items.slice(0, 2_000), "not a number", ...items.slice(0, 2_000)], { chunksize: 4_001 });
        assert.equal(strings[2_000], "not a number");
        assert.ok(Object.is(strings[0], -0));
      } finally {
        await pool.terminate();
      }
    });

    test(`a typed array is mapped as it is, long or short, in chunks of any size (${method})`, HANG, async () => {
      const pool = new Pool({ processes: 2, context: method });
      try {
        for (const input of [Float64Array.from(range(5_000), (x) => x - 0.5), Int32Array.from(range(5_000)), new Uint8Array([1, 2, 3])]) {
          for (const chunksize of [1, 7, undefined]) {
            const out = await pool.map(targets.sqrSync, input, chunksize === undefined ? undefined : { chunksize });
            assert.ok(Array.isArray(out));
            assert.deepEqual(out, Array.from(input, (x) => x * x), `${input.constructor.name} chunksize ${chunksize}`);
          }
        }
        assert.deepEqual(await pool.map(targets.typeOf, new BigInt64Array([1n, 2n])), ["bigint", "bigint"]);
      } finally {
        await pool.terminate();
      }
    });

    test(`the mapped function sees plain numbers, and a mixed input travels as it is (${method})`, HANG, async () => {
      const pool = new Pool({ processes: 2, context: method });
      try {
        const types = await pool.map(targets.typeOf, range(3_000), { chunksize: 3_000 });
        assert.deepEqual(new Set(types), new Set(["number"]));
        const mixed = await pool.map(targets.typeOf, [...range(1_500), 1n, ...range(1_500)], { chunksize: 3_001 });
        assert.equal(mixed[1_500], "bigint");
        assert.equal(mixed.filter((t) => t === "number").length, 3_000);
      } finally {
        await pool.terminate();
      }
    });
  }
});
