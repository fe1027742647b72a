/*
 * The pool's scheduler (src/pool/scheduler.ts) driven directly, with fake
 * workers: the rules that keep every worker busy — spread before stacking,
 * one task per message until a function is known to be quick, windows,
 * guarded tasks alone, taking back from a busy worker for an idle one.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { ApplyJob, MapJob, type Job, type PoolCore, type Task } from "../src/pool/jobs.ts";
import { TaskKind } from "../src/pool/protocol.ts";
import { Scheduler, type Assignment, type WorkerView } from "../src/pool/scheduler.ts";

interface FakeWorker extends WorkerView {
  held: Task[];
  open: boolean;
  ready: boolean;
  exclusive: boolean;
  assigned: number;
  messages: Task[][];
}

function worker(overrides: Partial<FakeWorker> = {}): FakeWorker {
  return { held: [], open: true, ready: true, exclusive: false, assigned: 0, messages: [], ...overrides };
}

const core: PoolCore = { retries: 0, abortJob: () => undefined, offer: () => undefined };

function mapJob(items: number, fnId = 1, chunksize = 1): MapJob<number> {
  return new MapJob<number>(core, fnId, TaskKind.Map, Array.from({ length: items }, (_, i) => i), chunksize, {});
}

/** Hand the assignments to the fake workers, as the engine sends them. */
function deliver(workers: FakeWorker[], assignments: Assignment[]): void {
  for (const { worker: at, messages } of assignments) {
    const target = workers[at]!;
    for (const message of messages) {
      target.messages.push(message);
      target.held.push(...message);
      target.assigned += message.length;
      if (message[0]!.job.guarded) target.exclusive = true;
    }
  }
}

function schedule(scheduler: Scheduler, workers: FakeWorker[], ...jobs: Job[]): void {
  for (const job of jobs) scheduler.add(job);
  deliver(workers, scheduler.assign(workers));
}

/** Teach the scheduler that tasks of `fnId` take `ms` each. */
function timed(scheduler: Scheduler, ms: number, fnId = 1): void {
  const task = mapJob(1, fnId).take()!;
  scheduler.learn(task, ms);
}

describe("pool scheduler", () => {
  test("two tasks, two idle workers: one each, whatever the function's speed", () => {
    for (const ms of [undefined, 0.001, 500]) {
      const scheduler = new Scheduler(null);
      if (ms !== undefined) timed(scheduler, ms);
      const workers = [worker(), worker()];
      schedule(scheduler, workers, mapJob(2));
      assert.deepEqual(workers.map((w) => w.held.map((task) => task.index)), [[0], [1]], `function of ${ms} ms`);
    }
  });

  test("two concurrent apply calls go to two workers", () => {
    const scheduler = new Scheduler(null);
    const workers = [worker(), worker()];
    schedule(scheduler, workers, new ApplyJob(core, 1, new Uint8Array(), {}));
    schedule(scheduler, workers, new ApplyJob(core, 1, new Uint8Array(), {}));
    assert.deepEqual(workers.map((w) => w.held.length), [1, 1]);
  });

  test("a worker still starting gets its share, so that no worker holds two while another holds none", () => {
    const scheduler = new Scheduler(null);
    const workers = [worker(), worker({ ready: false }), worker(), worker()];
    schedule(scheduler, workers, mapJob(4));
    assert.deepEqual(workers.map((w) => w.held.length), [1, 1, 1, 1]);
  });

  test("an untimed function: one task per message (a message not yet read can be taken back), at most 2 per worker", () => {
    const scheduler = new Scheduler(null);
    const workers = [worker(), worker()];
    schedule(scheduler, workers, mapJob(10));
    for (const w of workers) {
      assert.equal(w.held.length, 2);
      assert.ok(w.messages.every((message) => message.length === 1));
    }
    assert.equal(scheduler.queued, 6);
  });

  test("a long function: one task per message, 2 per worker", () => {
    const scheduler = new Scheduler(null);
    timed(scheduler, 200);
    const workers = [worker(), worker()];
    schedule(scheduler, workers, mapJob(10));
    assert.deepEqual(workers.map((w) => w.messages.map((message) => message.length)), [[1, 1], [1, 1]]);
  });

  test("a tiny function: big batches, the same for both workers, from the first call after one timing", () => {
    const scheduler = new Scheduler(null);
    timed(scheduler, 0.001);
    const workers = [worker(), worker()];
    schedule(scheduler, workers, mapJob(20_000));
    for (const w of workers) {
      assert.equal(w.messages.length, 1, "one message");
      assert.ok(w.held.length >= 512 && w.held.length <= 1024, `${w.held.length} tasks`);
    }
  });

  test("a cold first timing does not hold the window small: a few quick results grow it", () => {
    const scheduler = new Scheduler(null);
    timed(scheduler, 5);
    for (let i = 0; i < 12; i++) timed(scheduler, 0.001);
    const workers = [worker()];
    schedule(scheduler, workers, mapJob(1000));
    assert.ok(workers[0]!.held.length >= 128, `${workers[0]!.held.length} tasks`);
  });

  test("one long result shrinks the window at once", () => {
    const scheduler = new Scheduler(null);
    timed(scheduler, 0.001);
    timed(scheduler, 100);
    const workers = [worker()];
    schedule(scheduler, workers, mapJob(100));
    assert.equal(workers[0]!.held.length, 2);
  });

  test("a worker past half its window is not refilled one task at a time", () => {
    const scheduler = new Scheduler(null);
    timed(scheduler, 0.001);
    const job = mapJob(10_000);
    const workers = [worker()];
    schedule(scheduler, workers, job);
    const full = workers[0]!.held.length;
    workers[0]!.held.splice(0, 10);
    deliver(workers, scheduler.assign(workers));
    assert.equal(workers[0]!.held.length, full - 10);
    workers[0]!.held.splice(0, full);
    deliver(workers, scheduler.assign(workers));
    assert.equal(workers[0]!.held.length, full);
  });

  test("closed workers get nothing; maxtasksperchild caps what a worker is given", () => {
    const scheduler = new Scheduler(3);
    const workers = [worker({ open: false }), worker({ assigned: 2 }), worker()];
    schedule(scheduler, workers, mapJob(10));
    assert.deepEqual(workers.map((w) => w.held.length), [0, 1, 2]);
  });

  test("a guarded task (timeout or signal) goes alone to an idle started worker, and nothing joins it", () => {
    const scheduler = new Scheduler(null);
    const busy = mapJob(1, 2).take()!;
    const workers = [worker({ held: [busy] }), worker({ ready: false }), worker()];
    const guarded = new MapJob<number>(core, 1, TaskKind.Map, [1, 2], 1, { timeout: 1000 });
    schedule(scheduler, workers, guarded, mapJob(3));
    assert.deepEqual(workers.map((w) => w.held.length), [1, 0, 1]);
    assert.equal(workers[2]!.held[0]!.job, guarded);
    assert.equal(workers[2]!.exclusive, true);
    // The second guarded task waits for an idle started worker; the tasks behind it wait in order.
    assert.equal(scheduler.queued, 4);
  });

  test("stealFrom: an idle worker takes back the tasks a busy worker has not begun", () => {
    const scheduler = new Scheduler(null);
    const tasks = Array.from({ length: 4 }, () => mapJob(1).take()!);
    const workers = [worker({ held: tasks }), worker()];
    // The busy worker has begun its first task only.
    assert.deepEqual(scheduler.stealFrom(workers, (i) => (i === 0 ? 3 : 0)), { idle: 1, victim: 0 });
    // It has begun them all: nothing to take.
    assert.equal(scheduler.stealFrom(workers, () => 0), undefined);
    // A started worker holding one task not yet begun is about to begin it: moving it gains nothing.
    const one = [worker({ held: [tasks[0]!] }), worker()];
    assert.equal(scheduler.stealFrom(one, (i) => (i === 0 ? 1 : 0)), undefined);
    // A worker still starting: its task goes to the started idle one.
    const starting = [worker({ held: [tasks[0]!], ready: false }), worker()];
    assert.deepEqual(scheduler.stealFrom(starting, (i) => (i === 0 ? 1 : 0)), { idle: 1, victim: 0 });
    // Tasks still waiting to be sent go to the idle worker first: no stealing then.
    scheduler.add(mapJob(1));
    assert.equal(scheduler.stealFrom(workers, (i) => (i === 0 ? 3 : 0)), undefined);
  });

  test("a task taken back from a worker still starting goes to the started idle one, not back", () => {
    const scheduler = new Scheduler(null);
    const workers = [worker({ ready: false }), worker()];
    scheduler.requeue([mapJob(1).take()!]);
    deliver(workers, scheduler.assign(workers));
    assert.deepEqual(workers.map((w) => w.held.length), [0, 1]);
  });

  test("tasks taken back are sent again first, in their order, before the job's next", () => {
    const scheduler = new Scheduler(null);
    timed(scheduler, 0.001);
    const job = mapJob(6);
    scheduler.add(job);
    const taken = [job.take()!, job.take()!];
    assert.equal(scheduler.peek()!.index, 2);
    scheduler.requeue([...taken]);
    const workers = [worker()];
    deliver(workers, scheduler.assign(workers));
    assert.deepEqual(workers[0]!.held.map((task) => task.index), [0, 1, 2, 3, 4, 5]);
  });
});
