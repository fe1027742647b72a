/*
 * close() frees at once (issue 12): queues, pipe ends, shared values and the
 * primitives give back their mapping and descriptor when closed, not at
 * garbage collection; what other holders (a child, another end, a wait still
 * running, a receiver of what was sent) need stays.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  Barrier,
  Condition,
  Event,
  JoinableQueue,
  Lock,
  Pipe,
  Queue,
  RLock,
  RawArray,
  RawValue,
  Semaphore,
  SharedArray,
  SharedMemory,
  SimpleQueue,
  Value,
  getContext,
  type Target,
} from "../src/index.ts";
import { allocate, type Block } from "../src/heap.ts";
import { dumps, loadsSync, reduce, type Reducible } from "../src/reduction.ts";
import * as targets from "./fixtures/queueTargets.ts";
import * as sharedTargets from "./fixtures/sharedTargets.ts";
import * as closeTargets from "./fixtures/closeTargets.ts";
import { readJson, tempDir } from "./helpers.ts";

const ROUNDS = 10_000;
/** A hang guard for what a child does, never a timing assertion. */
const CHILD_MS = 120_000;

function descriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

/** This process's mappings of the library's nameless segments. */
function segmentMappings(): number {
  return readFileSync("/proc/self/maps", "utf8").split("\n").filter((line) => line.includes("/memfd:multiproc")).length;
}

/** The inode of the segment a primitive keeps its words in (read before it is closed). */
function inodeOf(primitive: Reducible): number {
  return (primitive[reduce]().state as { block: Block }).block.segment.state().inode;
}

/** How many times this process maps the segment of inode `inode`. */
function mappingsOf(inode: number): number {
  return readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((line) => line.includes("/memfd:multiproc") && line.split(/\s+/)[4] === String(inode)).length;
}

/** Small objects share 64 KiB arenas: four 16 KiB blocks, made and closed, start a new one. */
function startNewArena(): void {
  for (let i = 0; i < 5; i++) allocate(16 * 1024).close();
}

/** A spawn child, killed when the test `t` ends if it still runs (a failed assertion must not leave it waiting). */
function spawnChild(t: TestContext, target: Target, args: unknown[]) {
  const child = new (getContext("spawn").Process)({ target, args });
  child.start();
  t.after(() => {
    if (child.isAlive()) child.kill();
  });
  return child;
}

/**
 * Make and close `ROUNDS` objects, keeping every one referenced so that
 * garbage collection cannot be what frees them; descriptors and mappings
 * must stay where they were.
 */
function churn(make: () => { close(): void }): void {
  const kept: unknown[] = [];
  const fds = descriptors();
  const maps = segmentMappings();
  let mostFds = fds;
  for (let i = 0; i < ROUNDS; i++) {
    const object = make();
    object.close();
    kept.push(object);
    if (i % 1000 === 0) mostFds = Math.max(mostFds, descriptors());
  }
  assert.ok(mostFds - fds <= 24, `descriptors went from ${fds} to ${mostFds}`);
  assert.ok(segmentMappings() - maps <= 8, `segment mappings went from ${maps} to ${segmentMappings()}`);
  assert.equal(kept.length, ROUNDS);
}

test(`${ROUNDS} Queues, each used and closed, keep descriptors and mappings flat`, () => {
  churn(() => {
    const q = new Queue<number>();
    q.putNowait(1);
    return q;
  });
});

test(`${ROUNDS} SimpleQueues and JoinableQueues closed keep descriptors and mappings flat`, () => {
  churn(() => new SimpleQueue());
  churn(() => new JoinableQueue());
});

test(`${ROUNDS} duplex and one-way Pipes, both ends closed, keep descriptors and mappings flat`, () => {
  churn(() => {
    const [a, b] = Pipe();
    a.send(1);
    return { close: () => (a.close(), b.close()) };
  });
  churn(() => {
    const [r, w] = Pipe(false);
    w.send(1);
    return { close: () => (r.close(), w.close()) };
  });
});

test(`${ROUNDS} SharedMemory segments closed and unlinked keep descriptors flat`, () => {
  churn(() => {
    const shm = new SharedMemory({ create: true, size: 4096 });
    return { close: () => (shm.close(), shm.unlink()) };
  });
});

test(`${ROUNDS} Values, RawValues and small RawArrays (sharing arenas) closed keep descriptors and mappings flat`, () => {
  churn(() => new Value("d", 1.5));
  churn(() => new RawValue("i", 1));
  churn(() => new RawArray("i", 10));
});

test(`${ROUNDS} SharedArrays of 32 KiB (a segment each) closed keep descriptors and mappings flat`, () => {
  churn(() => new SharedArray("d", 4096));
});

test(`${ROUNDS} Locks, RLocks and Semaphores closed keep descriptors and mappings flat`, () => {
  churn(() => new Lock());
  churn(() => new RLock());
  churn(() => new Semaphore(2));
});

test(`${ROUNDS} Events, Conditions and Barriers closed keep descriptors and mappings flat (with the RLock, Condition and Lock they made)`, () => {
  churn(() => new Event());
  churn(() => new Condition());
  churn(() => new Barrier(2));
});

/** An Event, a Condition and a Barrier, used in a scope that disposed of them. */
function usedInScope(): [Event, Condition, Barrier] {
  using event = new Event();
  using cond = new Condition();
  using barrier = new Barrier(1);
  event.set();
  cond.acquireSync();
  cond.notify();
  cond.release();
  assert.equal(barrier.waitSync(), 0);
  return [event, cond, barrier];
}

test("`using` closes an Event, a Condition and a Barrier; each then throws on use", () => {
  const [event, cond, barrier] = usedInScope();
  for (const use of [() => event.set(), () => event.isSet(), () => event.clear(), () => event.wait(), () => event.waitSync(), () => String(event), () => dumps(event)]) {
    assert.throws(use, /^Error: this Event is closed$/);
  }
  for (const use of [() => cond.acquire(), () => cond.acquireSync(), () => cond.release(), () => cond.notify(), () => cond.wait(), () => cond.waitFor(() => true), () => dumps(cond)]) {
    assert.throws(use, /^Error: this Condition is closed$/);
  }
  for (const use of [() => barrier.wait(), () => barrier.waitSync(), () => barrier.abort(), () => barrier.reset(), () => barrier.nWaiting, () => dumps(barrier)]) {
    assert.throws(use, /^Error: this Barrier is closed$/);
  }
  event.close();
  cond.close();
  barrier.close();
});

test("a Condition closes the RLock it made, not a lock it was given", async () => {
  const lock = new Lock();
  const cond = new Condition(lock);
  cond.close();
  assert.equal(await lock.acquire(), true);
  lock.release();
  lock.close();
});

test("a copy of a Barrier rebuilt from its reduction closes its own copies only", () => {
  const barrier = new Barrier(1);
  const copy = loadsSync(dumps(barrier).data) as Barrier;
  copy.close();
  assert.throws(() => copy.waitSync(), /this Barrier is closed/);
  assert.equal(barrier.waitSync(), 0);
  barrier.abort();
  assert.equal(barrier.broken, true);
  barrier.close();
});

test("closed values, arrays and locks throw on use; their neighbours in the same arena keep working", async () => {
  const [first, second] = [new Value("i", 1), new Value("i", 2)];
  const array = new RawArray("i", [1, 2, 3]);
  const lock = new Lock();
  first.close();
  array.close();
  lock.close();
  assert.throws(() => first.value, /this shared value is closed/);
  assert.throws(() => (first.value = 3), /this shared value is closed/);
  assert.throws(() => array[0], /this shared array is closed/);
  assert.throws(() => (array[0] = 1), /this shared array is closed/);
  assert.throws(() => lock.acquireSync(), /this Lock is closed/);
  assert.throws(() => lock.acquire(), /this Lock is closed/);
  assert.throws(() => lock.release(), /this Lock is closed/);
  assert.throws(() => String(lock), /this Lock is closed/);
  second.value = 5;
  assert.equal(second.value, 5);
  assert.equal(await second.getLock().acquire(), true);
  second.getLock().release();
  second.close();
});

test("an array closed right after it was sent to a child is still opened by the child, through this process", async () => {
  // 32 KiB: a segment of its own, which close() would free at once were it not lent to the child.
  const array = new RawArray("d", 4096);
  const child = new (getContext("spawn").Process)({ target: sharedTargets.fillIndices, args: [array] });
  child.start();
  array.close();
  await child.join(120_000);
  assert.equal(child.exitCode, 0);
});

test("a closed queue throws on use, and `using` closes it", () => {
  let outside: Queue<number> | undefined;
  {
    using q = new Queue<number>();
    q.putNowait(1);
    outside = q;
  }
  assert.throws(() => outside.putNowait(2), /Queue is closed/);
  outside.close();
});

test("closing one end of a Pipe leaves the other end in this process working", async () => {
  const [a, b] = Pipe<number>();
  a.send(41);
  a.close();
  assert.equal(await b.recv(10_000), 41);
  b.close();
});

test("a get still waiting when its queue is closed completes: the mapping stays until it ends", async () => {
  const q = new Queue<number>();
  const other = loadsSync(dumps(q).data) as Queue<number>;
  const waiting = q.get(60_000);
  q.close();
  other.putNowait(7);
  assert.equal(await waiting, 7);
  other.close();
});

test("a queue closed right after it was sent to a child is still opened by the child, through this process", async () => {
  const dir = tempDir();
  const q = new Queue<string>();
  for (const item of ["a", "b", "c"]) q.putNowait(item);
  const child = new (getContext("spawn").Process)({ target: targets.drainTo, args: [q, 3, join(dir, "items.json")] });
  child.start();
  q.close();
  await child.join(120_000);
  assert.equal(child.exitCode, 0);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "items.json"), "utf8")), ["a", "b", "c"]);
});

/**
 * Close `primitive` while `pending`, a wait of it, runs: the mapping stays
 * until the wait has rejected with the closed error, then goes (`letItEnd`
 * lets a wait that still has to take its lock back end).
 */
async function closeDuringWait(primitive: Reducible & { close(): void }, pending: Promise<unknown>, letItEnd = () => {}): Promise<void> {
  const inode = inodeOf(primitive);
  primitive.close();
  assert.equal(mappingsOf(inode), 1, "the pending wait keeps the mapping");
  letItEnd();
  await assert.rejects(pending, (err: Error) => err.constructor === Error && err.message === `this ${primitive.constructor.name} is closed`);
  assert.equal(mappingsOf(inode), 0, "the mapping goes once the wait has ended (with what the primitive made for itself)");
}

/** The child exits normally, having written `true` to `path`. */
async function childSaysTrue(child: { join(ms: number): Promise<void>; exitCode: number | null }, path: string, what: string): Promise<void> {
  await child.join(CHILD_MS);
  assert.equal(child.exitCode, 0);
  assert.equal(readJson<boolean>(path), true, what);
}

/** The parent's wait on a primitive a child holds (or has not set, or is not at). */
function waitOn(primitive: Lock | Semaphore | Event | Barrier): Promise<unknown> {
  return primitive instanceof Event || primitive instanceof Barrier ? primitive.wait({ timeout: CHILD_MS }) : primitive.acquire({ timeout: CHILD_MS });
}

for (const kind of ["Lock", "Semaphore", "Event", "Barrier"] as const) {
  test(`${kind}: a wait pending when it is closed rejects with "this ${kind} is closed" and takes nothing; the mapping stays until the wait has ended`, async (t) => {
    const path = join(tempDir(), "untouched.json");
    const queue = new Queue<Lock | Semaphore | Event | Barrier>();
    const go = new Event();
    // Made by the child: the parent opens its segment, which holds nothing else of the parent's.
    const child = spawnChild(t, closeTargets.sendPrimitive, [kind, queue, go, path]);
    const primitive = await queue.get(CHILD_MS);
    await closeDuringWait(primitive, waitOn(primitive));
    go.set();
    await childSaysTrue(child, path, "the child's copy is as if the parent had never waited");
    queue.close();
    go.close();
  });
}

test("a Condition wait pending when it is closed takes its lock back from another process, lets it go, then rejects; the mapping stays until then", async (t) => {
  const path = join(tempDir(), "free.json");
  const queue = new Queue<Condition>();
  const events = [new Event(), new Event(), new Event(), new Event()];
  const [waiting, taken, go, ended] = events as [Event, Event, Event, Event];
  const child = spawnChild(t, closeTargets.holdCondition, [queue, events, path]);
  const cond = await queue.get(CHILD_MS);
  await cond.acquire();
  const pending = cond.wait({ timeout: CHILD_MS });
  waiting.set();
  assert.equal(await taken.wait(CHILD_MS), true);
  // The child holds the lock: the wait, ended by close(), cannot take it back until the child lets go.
  await closeDuringWait(cond, pending, () => go.set());
  ended.set();
  await childSaysTrue(child, path, "the lock the wait took back was let go");
  queue.close();
  for (const event of events) event.close();
});

test("a Lock put on a queue and an Event sent on a pipe, both closed at once by the sender, are still opened by the child that takes them", async (t) => {
  const path = join(tempDir(), "used.json");
  // An arena of their own, which their close() would free were they not in flight.
  startNewArena();
  const lock = new Lock();
  const event = new Event();
  startNewArena();
  const queue = new Queue<Lock>();
  const [reader, writer] = Pipe<Event>(false);
  await queue.put(lock);
  writer.send(event);
  lock.close();
  event.close();
  const child = spawnChild(t, closeTargets.takeAndUse, [queue, reader, path]);
  await childSaysTrue(child, path, "the child took the lock and set the event");
  queue.close();
  reader.close();
  writer.close();
});
