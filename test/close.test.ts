/*
 * close() frees at once (issue 12): queues and pipe ends give back their
 * mapping and descriptor when closed, not at garbage collection; what other
 * holders (a child, another end, a wait still running) need stays.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
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
} from "../src/index.ts";
import { dumps, loadsSync } from "../src/reduction.ts";
import * as targets from "./fixtures/queueTargets.ts";
import * as sharedTargets from "./fixtures/sharedTargets.ts";
import { tempDir } from "./helpers.ts";

const ROUNDS = 10_000;

function descriptors(): number {
  return readdirSync("/proc/self/fd").length;
}

/** This process's mappings of the library's nameless segments. */
function segmentMappings(): number {
  return readFileSync("/proc/self/maps", "utf8").split("\n").filter((line) => line.includes("/memfd:multiproc")).length;
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
