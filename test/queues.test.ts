/* Queue, SimpleQueue and JoinableQueue (src/queues.ts on src/channel.ts) within a process and across real processes and threads. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Empty, Event, Full, JoinableQueue, Lock, Queue, SerializationError, SimpleQueue, getContext, type StartMethod, type Target } from "../src/index.ts";
import * as targets from "./fixtures/queueTargets.ts";

const methods: StartMethod[] = ["spawn", "thread"];

function start(method: StartMethod, target: Target, args: unknown[], daemon = false) {
  const child = new (getContext(method).Process)({ target, args, daemon });
  child.start();
  return child;
}

function drain<T>(queue: Queue<T> | SimpleQueue<T>): T[] {
  const items: T[] = [];
  while (!queue.empty()) items.push(queue.getSync({ timeout: 20_000 }));
  return items;
}

describe("Queue in one process (Python's _TestQueue)", () => {
  test("maxsize 6: every put form enqueues, then full() and every non-waiting put throws Full", async () => {
    const queue = new Queue<number>(6);
    assert.equal(queue.empty(), true);
    assert.equal(queue.full(), false);
    await queue.put(1);
    await queue.put(2, { block: true });
    await queue.put(3, { block: true, timeout: null });
    await queue.put(4, { block: false });
    await queue.put(5, 1000);
    queue.putNowait(6);
    assert.equal(queue.qsize(), 6);
    assert.equal(queue.full(), true);
    assert.equal(queue.maxsize, 6);
    assert.throws(() => queue.putNowait(7), Full);
    await assert.rejects(queue.put(7, { block: false }), Full);
    await assert.rejects(queue.put(7, { block: false, timeout: 10_000 }), Full, "a non-blocking put ignores the timeout");
    await assert.rejects(queue.put(7, { timeout: 20 }), Full);
    assert.throws(() => queue.putSync(7, { timeout: 20 }), Full);
    assert.deepEqual([await queue.get(), await queue.get({ block: true }), await queue.get(1000), queue.getNowait(), queue.getSync(), queue.getSync({ timeout: 10 })], [1, 2, 3, 4, 5, 6]);
    assert.equal(queue.empty(), true);
    assert.equal(queue.full(), false);
    assert.throws(() => queue.getNowait(), Empty);
    await assert.rejects(queue.get({ block: false, timeout: 10_000 }), Empty);
    await assert.rejects(queue.get({ timeout: 20 }), Empty);
    assert.throws(() => queue.getSync({ timeout: 20 }), Empty);
  });

  test("qsize goes 0 → 1 → 2 → 1 → 0", async () => {
    const queue = new Queue<string>();
    const sizes = [queue.qsize()];
    await queue.put("a");
    sizes.push(queue.qsize());
    await queue.put("b");
    sizes.push(queue.qsize());
    await queue.get();
    sizes.push(queue.qsize());
    await queue.get();
    sizes.push(queue.qsize());
    assert.deepEqual(sizes, [0, 1, 2, 1, 0]);
  });

  test("values keep their types; a waiting put gets in once a get makes room", async () => {
    const queue = new Queue<unknown>(1);
    const values: unknown[] = [0, -1.5, "héllo", "", null, undefined, true, false, 12n, new Uint8Array([1, 2]), Buffer.from("buf"), new Map([[1, { a: [1] }]]), new Date(5)];
    for (const value of values) {
      const put = queue.put(value);
      const got = await queue.get();
      await put;
      assert.deepEqual(got, value);
      if (value !== null && typeof value === "object") assert.equal(Object.getPrototypeOf(got), Object.getPrototypeOf(value));
    }
    await queue.put(new RangeError("bad"));
    const error = await queue.get();
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "bad");
    await queue.put("first");
    const waiting = queue.put("second", { timeout: 20_000 });
    assert.equal(await queue.get(), "first");
    await waiting;
    assert.equal(await queue.get(), "second");
  });

  test("an unbounded put never waits, whatever the size; messages of many MB survive the ring's growth and wrap", () => {
    const queue = new Queue<Uint8Array | string>();
    const big = new Uint8Array(6_000_000);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 4; k++) queue.putNowait(k % 2 ? big : `small ${round}.${k}`);
      for (let k = 0; k < 4; k++) assert.deepEqual(queue.getNowait(), k % 2 ? big : `small ${round}.${k}`);
    }
    let put = 0;
    let got = 0;
    for (let round = 0; round < 3000; round++) {
      for (let k = 0; k < 3; k++) queue.putNowait("x".repeat((put * 37) % 2000) + `#${put++}`);
      for (let k = 0; k < 2; k++) assert.match(queue.getNowait() as string, new RegExp(`#${got++}$`));
    }
    while (!queue.empty()) assert.match(queue.getNowait() as string, new RegExp(`#${got++}$`));
    assert.equal(got, put);
  });

  test("what cannot travel is refused at put with its path, and the queue goes on", async () => {
    const queue = new Queue<unknown>(1);
    await assert.rejects(queue.put({ cb: () => 1 }), (err: unknown) => err instanceof SerializationError && err.path === "item.cb");
    assert.throws(() => queue.putNowait({ cb: () => 1 }), SerializationError);
    assert.equal(queue.qsize(), 0, "a refused item takes no slot");
    await queue.put("next");
    assert.equal(await queue.get(), "next");
  });

  test("an aborted get rejects with the signal's reason; the next item goes to the next getter", async () => {
    const queue = new Queue<string>();
    const controller = new AbortController();
    const aborted = queue.get({ signal: controller.signal });
    const waiting = queue.get({ timeout: 20_000 });
    controller.abort(new Error("stop"));
    await assert.rejects(aborted, /stop/);
    await queue.put("item");
    assert.equal(await waiting, "item");
    await assert.rejects(queue.get({ signal: AbortSignal.abort() }), { name: "AbortError" });
  });

  test("after close(), put and get throw 'is closed'; items already put stay for other holders", async () => {
    const queue = new Queue<number>();
    const other = new Queue<number>(0);
    queue.putNowait(1);
    queue.close();
    await assert.rejects(queue.put(2), /Queue is closed/);
    assert.throws(() => queue.getNowait(), /Queue is closed/);
    assert.throws(() => queue.qsize(), /Queue is closed/);
    other.close();
    const simple = new SimpleQueue<number>();
    simple.close();
    assert.throws(() => simple.put(1), /SimpleQueue is closed/);
  });

  test("JoinableQueue: join waits for taskDone of every item; one taskDone too many throws", async () => {
    const queue = new JoinableQueue<number>();
    await queue.join({ timeout: 1000 });
    for (let i = 0; i < 3; i++) await queue.put(i);
    await assert.rejects(queue.join({ timeout: 30 }), { name: "TimeoutError" });
    let joined = false;
    const join = queue.join().then(() => (joined = true));
    for (let i = 0; i < 3; i++) {
      await queue.get();
      assert.equal(joined, false);
      queue.taskDone();
    }
    await join;
    assert.throws(() => queue.taskDone(), /task_done\(\) called too many times/);
    queue.joinSync(0);
  });

  test("bad maxsize and bad waits are refused", () => {
    assert.throws(() => new Queue(1.5), TypeError);
    assert.throws(() => new Queue("3" as unknown as number), TypeError);
    const queue = new Queue<number>();
    assert.throws(() => queue.getSync({ timeout: Number.NaN }), TypeError);
  });

  test("the contexts offer the queues", () => {
    for (const method of methods) {
      const ctx = getContext(method);
      assert.ok(new ctx.Queue(2) instanceof Queue);
      assert.ok(new ctx.JoinableQueue() instanceof JoinableQueue);
      assert.ok(new ctx.SimpleQueue() instanceof SimpleQueue);
    }
  });
});

for (const method of methods) {
  describe(`${method}: queues across processes`, () => {
    test("items put before the child starts and items the child puts arrive in order 0..19", async () => {
      const queue = new Queue<number>();
      for (let i = 0; i < 10; i++) await queue.put(i);
      const child = start(method, targets.produce, [queue, 10, 20]);
      await child.join();
      assert.equal(child.exitCode, 0);
      const got: number[] = [];
      for (let i = 0; i < 20; i++) got.push(await queue.get({ timeout: 20_000 }));
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
      assert.throws(() => queue.getNowait(), Empty);
    });

    test("a child that put items (several MB among them) and returned exits at once; the items outlive it", async () => {
      const queue = new Queue<number | number[]>();
      const child = start(method, targets.putAndReturn, [queue]);
      await child.join();
      assert.equal(child.exitCode, 0);
      const got = drain(queue);
      assert.equal(got.length, 3);
      assert.equal(got[0], 1);
      assert.equal((got[1] as number[]).length, 1_000_000);
      assert.ok((got[1] as number[]).every((x) => x === 7));
      assert.equal(got[2], 3);
    });

    test("2 producers × 2 consumers: every item arrives once, in order per producer", async () => {
      const queue = new Queue<[string, number] | null>();
      const results = new Queue<Array<[string, number]>>();
      const consumers = [0, 1].map(() => start(method, targets.collect, [queue, results]));
      const producers = ["a", "b"].map((label) => start(method, targets.produce, [queue, 0, 2000, label]));
      for (const producer of producers) await producer.join();
      await queue.put(null);
      await queue.put(null);
      const seen = [...(await results.get({ timeout: 60_000 })), ...(await results.get({ timeout: 60_000 }))];
      for (const consumer of consumers) await consumer.join();
      assert.equal(seen.length, 4000);
      for (const label of ["a", "b"]) {
        const mine = seen.filter(([l]) => l === label).map(([, i]) => i);
        assert.deepEqual([...mine].sort((x, y) => x - y), Array.from({ length: 2000 }, (_, i) => i));
      }
    });

    test("blocking consumers (getSync/putSync) and a bounded queue between processes", async () => {
      const queue = new Queue<number | null>(3);
      const results = new Queue<number>();
      const consumer = start(method, targets.consumeSumSync, [queue, results]);
      for (let i = 1; i <= 200; i++) await queue.put(i, { timeout: 60_000 });
      await queue.put(null, { timeout: 60_000 });
      assert.equal(await results.get({ timeout: 60_000 }), 200 * 201 / 2);
      await consumer.join();
      assert.equal(consumer.exitCode, 0);
    });

    test("a queue reaches a grandchild, and a process already running gets a queue (and a lock) through another queue", async () => {
      const inbox = new Queue<unknown>();
      const outbox = new Queue<unknown>();
      const relay = start(method, targets.relay, [inbox, outbox]);
      const late = new Queue<string>();
      const lock = new Lock();
      await inbox.put([late, lock]);
      assert.equal(await outbox.get({ timeout: 60_000 }), "relayed");
      assert.deepEqual([await late.get({ timeout: 60_000 }), await late.get({ timeout: 60_000 })], ["from child", "from grandchild"]);
      assert.equal(lock.locked(), true, "the relay took the lock it received");
      await relay.join();
      assert.equal(relay.exitCode, 0);
    });

    test("JoinableQueue with daemon consumers: join returns once every item is done (the seeds' final version)", async () => {
      const tasks = new JoinableQueue<number>();
      const results = new Queue<number>();
      const workers = [0, 1, 2, 3].map(() => start(method, targets.doubleForever, [tasks, results], true));
      for (let i = 0; i < 10; i++) await tasks.put(i);
      await tasks.join({ timeout: 60_000 });
      const doubled = drain(results).sort((a, b) => a - b);
      assert.deepEqual(doubled, Array.from({ length: 10 }, (_, i) => i * 2));
      for (const worker of workers) worker.terminate();
      for (const worker of workers) await worker.join();
    });

    test("SimpleQueue across a child", async () => {
      const queue = new SimpleQueue<number>();
      const child = start(method, targets.produce, [queue, 0, 5]);
      await child.join();
      assert.deepEqual(drain(queue), [0, 1, 2, 3, 4]);
    });
  });
}

describe("a process killed in the middle of put or get", () => {
  const LARGE = 48 * 1024 * 1024;

  test("a writer killed while it copies a large message in: the message is whole or absent, and the queue goes on", async () => {
    for (const delay of [0, 2, 5, 10, 20]) {
      const queue = new Queue<Uint8Array>();
      await queue.put(new Uint8Array([1]));
      const starting = new Event();
      const child = start("spawn", targets.putLarge, [queue, starting, LARGE]);
      assert.equal(await starting.wait(60_000), true);
      await sleep(delay);
      child.kill();
      await child.join();
      await queue.put(new Uint8Array([2]), { timeout: 30_000 });
      const got = drain(queue);
      const large = got.filter((m) => m.length === LARGE);
      assert.deepEqual(got.filter((m) => m.length !== LARGE), [new Uint8Array([1]), new Uint8Array([2])]);
      assert.ok(large.length <= 1 && large.every((m) => m.every((b) => b === 5)), "the large message is whole or absent");
    }
  });

  test("a reader killed while it copies a large message out: the message stays for the next reader, or is gone whole", async () => {
    for (const delay of [0, 2, 5, 10, 20]) {
      const queue = new Queue<Uint8Array>();
      await queue.put(new Uint8Array(LARGE).fill(6));
      await queue.put(new Uint8Array([2]));
      const starting = new Event();
      const child = start("spawn", targets.getLarge, [queue, starting]);
      assert.equal(await starting.wait(60_000), true);
      await sleep(delay);
      child.kill();
      await child.join();
      const got = drain(queue);
      assert.deepEqual(got.at(-1), new Uint8Array([2]), "the message behind it is there");
      assert.ok(got.length <= 2 && got.slice(0, -1).every((m) => m.length === LARGE && m.every((b) => b === 6)));
      assert.equal(queue.qsize(), 0);
    }
  });

  test("repeated SIGKILLs of busy producers/consumers never tear, lose others' messages or wedge the queue", async () => {
    const queue = new Queue<number[]>();
    const torn = new Event();
    const churners = [1, 2, 3].map((seed) => ({ seed, child: undefined as ReturnType<typeof start> | undefined }));
    const launch = async (slot: (typeof churners)[number]) => {
      const ready = new Event();
      slot.child = start("spawn", targets.churn, [queue, ready, torn, slot.seed], true);
      assert.equal(await ready.wait(60_000), true);
    };
    for (const slot of churners) await launch(slot);
    for (let round = 0; round < 12; round++) {
      await sleep(20 + ((round * 37) % 80));
      const victim = churners[round % churners.length]!;
      victim.child!.kill();
      await victim.child!.join();
      // The queue still works for the others at once: a put and a get of our own go through.
      await queue.put(targets.churnMessage(99, round), { timeout: 30_000 });
      assert.ok(targets.isWhole(await queue.get({ timeout: 30_000 })));
      victim.seed += 10;
      await launch(victim);
    }
    for (const slot of churners) slot.child!.kill();
    for (const slot of churners) await slot.child!.join();
    assert.equal(torn.isSet(), false, "a churner got a torn message");
    const left = drain(queue);
    assert.ok(left.every(targets.isWhole), "every message left is whole");
    await queue.put([1, 1], { timeout: 30_000 });
    assert.deepEqual(await queue.get({ timeout: 30_000 }), [1, 1]);
    assert.equal(queue.empty(), true);
  });
});
