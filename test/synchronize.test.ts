/* Locks, semaphores, events, conditions and barriers (src/synchronize.ts) across real processes and threads. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  OwnerDiedError,
  RLock,
  Semaphore,
  getContext,
  type StartMethod,
  type Target,
} from "../src/index.ts";
import { allocate } from "../src/heap.ts";
import * as targets from "./fixtures/syncTargets.ts";
import { tempDir } from "./helpers.ts";

/** A hang guard for what a child does, generous because six test suites may share two cores: never a timing assertion. */
const CHILD_MS = 120_000;

const methods: StartMethod[] = ["spawn", "thread"];

function start(method: StartMethod, target: Target, args: unknown[]) {
  const child = new (getContext(method).Process)({ target, args });
  child.start();
  return child;
}

describe("Lock in one process", () => {
  test("acquire, non-blocking and timed acquire, release, locked()", async () => {
    const lock = new Lock();
    assert.equal(lock.locked(), false);
    assert.equal(await lock.acquire(), true);
    assert.equal(lock.locked(), true);
    assert.equal(await lock.acquire({ block: false }), false);
    assert.equal(await lock.acquire({ block: false, timeout: 10_000 }), false, "a non-blocking acquire ignores the timeout");
    assert.equal(await lock.acquire({ timeout: 30 }), false);
    assert.equal(lock.acquireSync({ timeout: 30 }), false);
    lock.release();
    assert.equal(lock.acquireSync(), true);
    lock.release();
    assert.throws(() => lock.release(), /released too many times/);
  });

  test("hold() releases at the end of an `await using` scope", async () => {
    const lock = new Lock();
    {
      await using held = await lock.hold();
      assert.equal(held.ownerDied, false);
      assert.equal(lock.locked(), true);
    }
    assert.equal(lock.locked(), false);
  });

  test("an aborted acquire rejects with the signal's reason and leaves the lock as it was", async () => {
    const lock = new Lock();
    lock.acquireSync();
    const controller = new AbortController();
    const pending = lock.acquire({ signal: controller.signal });
    controller.abort(new Error("stop waiting"));
    await assert.rejects(pending, /stop waiting/);
    assert.equal(lock.locked(), true);
    lock.release();
  });
});

for (const method of methods) {
  describe(`${method}: locks across processes`, () => {
    test("a lock held by a child is seen held by the parent, and free once the child releases it", async () => {
      const lock = new Lock();
      const taken = new Event();
      const child = start(method, targets.holdLock, [lock, taken, 300]);
      assert.equal(await taken.wait(CHILD_MS), true);
      assert.equal(lock.locked(), true);
      assert.equal(await lock.acquire({ block: false }), false);
      assert.equal(await lock.acquire({ timeout: 20_000 }), true);
      lock.release();
      await child.join();
      assert.equal(child.exitCode, 0);
    });

    test("two children × 20,000 locked read-modify-write increments (sync and async forms) lose nothing", async () => {
      const lock = new Lock();
      const counter = allocate(4);
      const children = [start(method, targets.incrementUnderLock, [lock, counter, 20_000, false]), start(method, targets.incrementUnderLock, [lock, counter, 20_000, true])];
      for (const child of children) await child.join();
      assert.deepEqual(children.map((c) => c.exitCode), [0, 0]);
      assert.equal(counter.segment.int32[counter.word(0)], 40_000);
    });

    test("the holder dies (killed while holding it, even mid-loop): the next acquirer gets the lock and ownerDied", async () => {
      for (const holder of [targets.holdLock, targets.holdLockBusy]) {
        const lock = new Lock();
        const taken = new Event();
        const child = start(method, holder, [lock, taken, -1]);
        assert.equal(await taken.wait(CHILD_MS), true);
        child.kill();
        await child.join();
        assert.equal(await lock.acquire({ timeout: 20_000 }), true);
        assert.equal(lock.ownerDied, true);
        lock.release();
        assert.equal(lock.ownerDied, false);
      }
    });

    test("the blocking form recovers from a dead holder too, and strict mode throws OwnerDiedError holding the lock", async () => {
      const lock = new Lock({ strict: true });
      const taken = new Event();
      const child = start(method, targets.holdLock, [lock, taken, -1]);
      assert.equal(await taken.wait(CHILD_MS), true);
      child.kill();
      await child.join();
      assert.throws(() => lock.acquireSync({ timeout: 20_000 }), OwnerDiedError);
      assert.equal(lock.locked(), true);
      lock.release();
    });

    test("RLock: the owner re-enters; another process cannot release it", async () => {
      const dir = tempDir();
      const rlock = new RLock();
      const child = start(method, targets.rlockTwice, [rlock, join(dir, "twice.json")]);
      await child.join();
      assert.deepEqual(JSON.parse(readFileSync(join(dir, "twice.json"), "utf8")), { depth: 2, error: "attempt to release recursive lock not owned by thread" });
      rlock.acquireSync();
      rlock.acquireSync();
      assert.equal(rlock.count(), 2);
      const other = start(method, targets.releaseForeign, [rlock, join(dir, "foreign.txt")]);
      await other.join();
      assert.equal(readFileSync(join(dir, "foreign.txt"), "utf8"), "attempt to release recursive lock not owned by thread");
      rlock.release();
      rlock.release();
      assert.equal(rlock.locked(), false);
    });

    test("Semaphore(2) lets at most two of three children in at once", async () => {
      const sem = new Semaphore(2);
      const gauge = allocate(8);
      const children = [0, 1, 2].map(() => start(method, targets.useSemaphore, [sem, gauge, 20]));
      for (const child of children) await child.join();
      assert.deepEqual(children.map((c) => c.exitCode), [0, 0, 0]);
      assert.ok(gauge.segment.int32[gauge.word(1)]! <= 2);
      assert.equal(sem.getValue(), 2);
    });

    test("Event: a child's blocking wait returns when the parent sets it; the parent's wait when a child sets it", async () => {
      const dir = tempDir();
      const event = new Event();
      const waiter = start(method, targets.waitEventSync, [event, join(dir, "waited.json"), null]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      event.set();
      await waiter.join();
      assert.equal(readFileSync(join(dir, "waited.json"), "utf8"), "true");
      const other = new Event();
      const setter = start(method, targets.setLater, [other, 100]);
      assert.equal(await other.wait(CHILD_MS), true);
      await setter.join();
    });

    test("Condition: waiters in children wake when the parent changes the state and notifies", async () => {
      const cond = new Condition();
      const flag = allocate(8);
      const ready = new Semaphore(0);
      const children = [0, 1].map(() => start(method, targets.waitForFlag, [cond, flag, ready]));
      for (let i = 0; i < 2; i++) assert.equal(await ready.acquire({ timeout: CHILD_MS }), true);
      await cond.acquire();
      Atomics.store(flag.segment.int32, flag.word(0), 1);
      cond.notifyAll();
      cond.release();
      for (const child of children) await child.join();
      assert.equal(flag.segment.int32[flag.word(1)], 2);
    });

    test("Condition.notify(1) wakes one waiter at a time", async () => {
      const cond = new Condition(new Lock());
      const counter = allocate(8);
      const ready = new Semaphore(0);
      const children = [0, 1].map(() => start(method, targets.waitOnce, [cond, counter, ready]));
      for (let i = 0; i < 2; i++) assert.equal(await ready.acquire({ timeout: CHILD_MS }), true);
      await cond.acquire();
      cond.notify(1);
      cond.release();
      await Promise.race(children.map((c) => c.join()));
      assert.equal(Atomics.load(counter.segment.int32, counter.word(1)), 1);
      await cond.acquire();
      cond.notify(1);
      cond.release();
      for (const child of children) await child.join();
      assert.equal(Atomics.load(counter.segment.int32, counter.word(1)), 2);
    });

    test("Barrier: three parties pass 5 rounds together; each round gives distinct indices and runs the action once", async () => {
      const dir = tempDir();
      process.env.BARRIER_ACTION_FILE = join(dir, "action.log");
      writeFileSync(process.env.BARRIER_ACTION_FILE, "");
      try {
        const barrier = new Barrier(3, targets.markAction);
        const children = [0, 1, 2].map((i) => start(method, targets.barrierParty, [barrier, join(dir, `p${i}.json`), 5]));
        for (const child of children) await child.join();
        assert.deepEqual(children.map((c) => c.exitCode), [0, 0, 0]);
        const indices = [0, 1, 2].map((i) => JSON.parse(readFileSync(join(dir, `p${i}.json`), "utf8")) as number[]);
        for (let round = 0; round < 5; round++) assert.deepEqual(indices.map((list) => list[round]).sort(), [0, 1, 2]);
        assert.equal(readFileSync(process.env.BARRIER_ACTION_FILE, "utf8").trim().split("\n").length, 5);
        assert.equal(barrier.nWaiting, 0);
        assert.equal(barrier.broken, false);
      } finally {
        delete process.env.BARRIER_ACTION_FILE;
      }
    });

    test("Barrier.abort() breaks the barrier for the parties waiting at it", async () => {
      const dir = tempDir();
      const barrier = new Barrier(3);
      const children = [0, 1].map((i) => start(method, targets.barrierBroken, [barrier, join(dir, `b${i}.txt`)]));
      await new Promise((resolve) => setTimeout(resolve, 300));
      barrier.abort();
      for (const child of children) await child.join();
      for (const i of [0, 1]) assert.equal(readFileSync(join(dir, `b${i}.txt`), "utf8"), "BrokenBarrierError");
      assert.equal(barrier.broken, true);
      barrier.reset();
      assert.equal(barrier.broken, false);
    });
  });
}

describe("semaphores and events in one process", () => {
  test("Semaphore counts down to 0 and up past its start; BoundedSemaphore refuses to", async () => {
    const sem = new Semaphore(2);
    assert.equal(await sem.acquire(), true);
    assert.equal(sem.acquireSync(), true);
    assert.equal(sem.getValue(), 0);
    assert.equal(await sem.acquire({ block: false }), false);
    assert.equal(await sem.acquire({ timeout: 20 }), false);
    sem.release();
    sem.release();
    sem.release();
    assert.equal(sem.getValue(), 3);
    const bounded = new BoundedSemaphore(1);
    bounded.acquireSync();
    bounded.release();
    assert.throws(() => bounded.release(), /released too many times/);
  });

  test("Event: isSet, set, clear, wait with and without timeout", async () => {
    const event = new Event();
    assert.equal(event.isSet(), false);
    assert.equal(await event.wait(0), false);
    assert.equal(event.waitSync(20), false);
    event.set();
    assert.equal(event.isSet(), true);
    assert.equal(await event.wait(), true);
    event.clear();
    assert.equal(event.isSet(), false);
  });

  test("Barrier(1) passes at once, every time", async () => {
    const barrier = new Barrier(1);
    assert.equal(await barrier.wait(), 0);
    assert.equal(barrier.waitSync(), 0);
  });
});

test("two processes × 10,000,000 Atomics.add on one shared word: exactly 20,000,000", async () => {
  const counter = allocate(4);
  const children = [0, 1].map(() => start("spawn", targets.atomicAdds, [counter, 10_000_000]));
  for (const child of children) await child.join();
  assert.equal(Atomics.load(counter.segment.int32, counter.word(0)), 20_000_000);
});

test("shared objects live in nameless memfds, never in /dev/shm", () => {
  // Other programs (PostgreSQL, other test files) keep segments in /dev/shm: look only at this process's own mappings.
  const held = [new Lock(), new RLock(), new Semaphore(2), new BoundedSemaphore(1), new Event(), new Condition(), new Barrier(2)];
  const mapped = readFileSync("/proc/self/maps", "utf8").split("\n");
  assert.deepEqual(mapped.filter((line) => line.includes("/dev/shm/")), [], "no mapping of this process comes from /dev/shm");
  assert.ok(mapped.some((line) => line.includes("/memfd:multiproc")), "the primitives are backed by memfd segments");
  assert.equal(held.length, 7);
});
