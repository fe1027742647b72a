/* Managers (src/managers.ts): a server process, proxies that travel to any process, BaseManager and remote clients. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { inspect } from "node:util";
import { fileURLToPath } from "node:url";
import {
  AuthenticationError,
  BaseManager,
  Client,
  SerializationError,
  BrokenBarrierError,
  EOFError,
  Empty,
  Full,
  Manager,
  Pipe,
  Pool,
  Queue,
  SyncManager,
  getContext,
  type SyncManager as SyncManagerType,
} from "../src/index.ts";
import { callMethod, type BaseProxy } from "../src/managers/proxy.ts";
import * as targets from "./fixtures/managerTargets.ts";
import { pidRunning, waitUntil } from "./helpers.ts";

/** Hang guards, never timing assertions. */
const HANG_MS = 60_000;
const SUITE_MS = 4 * HANG_MS;
const KEY = Buffer.from("manager test key");

describe("a SyncManager's types", { timeout: SUITE_MS }, () => {
  let manager: SyncManagerType;
  before(async () => {
    manager = await Manager();
  });
  after(async () => {
    await manager.shutdown();
  });

  test("dict: every DESIGN method, and Python's dunders", async () => {
    const d = await manager.dict<string, number>({ a: 1 });
    await d.set("b", 2);
    assert.equal(await d.get("a"), 1);
    assert.equal(await d.get("zz"), undefined);
    assert.equal(await d.get("zz", 7), 7);
    assert.equal(await d.has("b"), true);
    assert.deepEqual(await d.keys(), ["a", "b"]);
    assert.deepEqual(await d.values(), [1, 2]);
    assert.deepEqual(await d.items(), [["a", 1], ["b", 2]]);
    await d.update({ c: 3 });
    assert.equal(await d.size(), 3);
    assert.equal(await d.pop("c"), 3);
    assert.equal(await d.pop("c", -1), -1);
    assert.equal(await d.setdefault("e", 5), 5);
    assert.deepEqual(await d.popitem(), ["e", 5]);
    assert.deepEqual(await d.copy(), { a: 1, b: 2 });
    assert.equal(await d.delete("b"), true);
    await d.__setitem__("x", 9);
    assert.equal(await d.__getitem__("x"), 9);
    assert.equal(await d.__len__(), 2);
    assert.equal(await d.__contains__("x"), true);
    await d.__delitem__("x");
    await assert.rejects(d.__getitem__("x"), (err: unknown) => err instanceof RangeError && /KeyError: "x"/.test(err.message));
    await d.clear();
    assert.equal(await d.size(), 0);
  });

  test("values of every kind keep their value and type through a call and its reply", async () => {
    const d = await manager.dict<string, unknown>();
    const values: Array<[string, unknown]> = [
      ["zero", 0],
      ["minus zero", -0],
      ["nan", NaN],
      ["infinity", -Infinity],
      ["undefined", undefined],
      ["null", null],
      ["lone surrogate", "\ud800 and é"],
      ["bigint", 10n ** 20n],
      ["object", { a: [1, { b: "c" }] }],
      ["nested array", [1, [2, 3]]],
      ["holey array", [1, , 3]],
      ["map", new Map([[1, "one"]])],
      ["date", new Date(0)],
      ["bytes", new Uint8Array([1, 2, 3])],
    ];
    for (const [key, value] of values) {
      await d.set(key, value);
      assert.deepStrictEqual(await d.get(key, "missing"), value, key);
    }
    assert.ok(Object.is(await d.get("minus zero"), -0));
    assert.deepEqual(await d.keys(), values.map(([key]) => key));
  });

  test("list: every DESIGN method, negative indexes, and errors of the right type", async () => {
    const l = await manager.list<number>([3, 1, 2]);
    await l.append(5);
    await l.extend([4]);
    await l.insert(0, 0);
    assert.deepEqual(await l.toArray(), [0, 3, 1, 2, 5, 4]);
    assert.equal(await l.get(-1), 4);
    await l.set(-1, 6);
    assert.equal(await l.pop(), 6);
    assert.equal(await l.pop(0), 0);
    await l.remove(1);
    assert.equal(await l.index(2), 1);
    assert.equal(await l.count(3), 1);
    assert.equal(await l.length(), 3);
    assert.deepEqual(await l.slice(1), [2, 5]);
    await l.sort();
    assert.deepEqual(await l.toArray(), [2, 3, 5]);
    await l.sort({ reverse: true });
    await l.reverse();
    assert.deepEqual(await l.toArray(), [2, 3, 5]);
    assert.equal(await l.__len__(), 3);
    assert.equal(await l.__getitem__(0), 2);
    await assert.rejects(l.get(10), (err: unknown) => err instanceof RangeError && /IndexError/.test(err.message));
    await assert.rejects(l.remove(42), (err: unknown) => err instanceof RangeError && /ValueError/.test(err.message));
  });

  test("Namespace, Value and Array", async () => {
    const ns = await manager.Namespace({ x: 1 });
    await ns.set("y", "two");
    assert.equal(await ns.get("x"), 1);
    assert.equal(await ns.get("y"), "two");
    await assert.rejects(ns.get("z"), /AttributeError/);
    const v = await manager.Value("i", 41);
    await v.set((await v.get()) + 1);
    assert.equal(await v.get(), 42);
    await v.set(2 ** 31);
    assert.equal(await v.get(), -(2 ** 31), "an 'i' value wraps as a C int does");
    const a = await manager.Array("d", [0.5, 1.5]);
    await a.set(1, 2.5);
    assert.equal(await a.get(-1), 2.5);
    assert.equal(await a.length(), 2);
    assert.deepEqual(await a.toArray(), [0.5, 2.5]);
    assert.equal(await a.__getitem__(0), 0.5);
  });

  test("Queue and JoinableQueue: Empty and Full reach the caller as themselves", async () => {
    const q = await manager.Queue<string>(1);
    await q.put("a");
    assert.equal(await q.full(), true);
    await assert.rejects(q.putNowait("b"), Full);
    await assert.rejects(q.put("b", { timeout: 50 }), Full);
    assert.equal(await q.qsize(), 1);
    assert.equal(await q.get(), "a");
    assert.equal(await q.empty(), true);
    await assert.rejects(q.getNowait(), (err: unknown) => err instanceof Empty && typeof err.stack === "string");
    const jq = await manager.JoinableQueue<number>();
    await jq.put(1);
    const joined = jq.join();
    assert.equal(await jq.get(), 1);
    await jq.taskDone();
    await joined;
  });

  test("Queue: a waiting get is handed the next put's item; a get from a full queue lets the first waiting put in, ahead of later ones", async () => {
    const q = await manager.Queue<string>(1);
    const got = q.get();
    assert.equal(await q.qsize(), 0, "answered while a get waits");
    await q.put("handed");
    assert.equal(await got, "handed");
    assert.equal(await q.empty(), true, "the handed item never sat in the queue");
    await q.put("a");
    const waiting = q.put("b");
    assert.equal(await q.qsize(), 1);
    assert.equal(await q.get(), "a");
    await assert.rejects(q.putNowait("late"), Full, "the room is the waiting put's");
    await waiting;
    assert.deepEqual([await q.getNowait(), await q.qsize()], ["b", 0]);
    await assert.rejects(q.get({ timeout: 20 }), Empty);
    await q.put("after a timed-out get");
    assert.equal(await q.get(), "after a timed-out get");
    const jq = await manager.JoinableQueue<number>();
    await assert.rejects(jq.taskDone(), RangeError);
    await jq.join();
  });

  test("Lock, RLock, Semaphore, BoundedSemaphore: a waiting acquire does not hold up other calls", async () => {
    const lock = await manager.Lock();
    assert.equal(await lock.acquire(), true);
    const waiting = lock.acquire();
    assert.equal(await lock.locked(), true, "answered while an acquire waits");
    assert.equal(await lock.acquire({ block: false }), false);
    assert.equal(await lock.acquire({ timeout: 20 }), false);
    await lock.release();
    assert.equal(await waiting, true);
    await lock.release();
    await assert.rejects(lock.release(), /release unlocked lock/);
    {
      await using _guard = await lock.hold();
      assert.equal(await lock.locked(), true);
    }
    assert.equal(await lock.locked(), false);

    const rlock = await manager.RLock();
    assert.equal(await rlock.acquire(), true);
    assert.equal(await rlock.acquire(), true, "recursive for its owner");
    await rlock.release();
    await rlock.release();
    await assert.rejects(rlock.release(), /un-acquired/);

    const sem = await manager.Semaphore(2);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.acquire({ block: false }), false);
    await sem.release(2);
    assert.equal(await sem.getValue(), 2);
    const bounded = await manager.BoundedSemaphore(1);
    await assert.rejects(bounded.release(), (err: unknown) => err instanceof RangeError && /released too many times/.test(err.message));
  });

  test("Event, Condition and Barrier", async () => {
    const event = await manager.Event();
    const waited = event.wait();
    assert.equal(await event.isSet(), false);
    await event.set();
    assert.equal(await waited, true);
    await event.clear();
    assert.equal(await event.wait(10), false);

    const cond = await manager.Condition();
    await cond.acquire();
    assert.equal(await cond.wait(10), false, "a wait with no notify times out, lock held again");
    await cond.release();

    const barrier = await manager.Barrier(2);
    assert.equal(await barrier.parties, 2);
    const first = barrier.wait();
    await waitUntil(() => true);
    const indexes = await Promise.all([first, barrier.wait()]);
    assert.deepEqual(indexes.sort(), [0, 1]);
    assert.equal(await barrier.nWaiting, 0);
    const stranded = barrier.wait();
    await barrier.abort();
    await assert.rejects(stranded, BrokenBarrierError);
    assert.equal(await barrier.broken, true);
  });

  test("a managed Pool runs exported functions in the manager's workers; applyAsync gives an AsyncResult proxy", async () => {
    const pool = await manager.Pool(2);
    const shop = await manager.dict<string, number>({ count: 0 });
    const lock = await manager.Lock();
    const value = await manager.Value("i", 0);
    const array = await manager.Array("i", [0]);
    assert.equal(await pool.apply(targets.increment, [0, lock, value, array, shop]), 1);
    const result = await pool.applyAsync(targets.increment, [0, lock, value, array, shop]);
    assert.equal(await result.get(), 1);
    assert.equal(await result.successful(), true);
    assert.equal(await shop.get("count"), 2);
    await pool.close();
    await pool.join();
  });

  test("64 calls in flight on one proxy all resolve, in the order they were sent", async () => {
    const l = await manager.list<number>();
    await Promise.all(Array.from({ length: 64 }, (_, i) => l.append(i)));
    assert.deepEqual(await l.toArray(), Array.from({ length: 64 }, (_, i) => i));
  });

  test("several processes calling at once: each one's calls are served in the order it sent them, none lost", async () => {
    const list = await manager.list<[string, number]>();
    const N = 3000;
    const pool = new Pool(3);
    try {
      const answered = await Promise.all([
        pool.apply(targets.appendInOrder, [list, "one at a time", N, 1]),
        pool.apply(targets.appendInOrder, [list, "bursts of 7", N, 7]),
        pool.apply(targets.appendInOrder, [list, "bursts of 64", N, 64]),
      ]);
      assert.deepEqual(answered, [N, N, N]);
    } finally {
      pool.close();
      await pool.join();
    }
    const all = await list.toArray();
    assert.equal(all.length, 3 * N);
    for (const who of ["one at a time", "bursts of 7", "bursts of 64"]) {
      assert.deepEqual(
        all.filter(([from]) => from === who).map(([, i]) => i),
        Array.from({ length: N }, (_, i) => i),
        who,
      );
    }
  });

  test("a producer and a consumer in two processes share a Queue: every item arrives once, in order", async () => {
    const queue = await manager.Queue<number>();
    const N = 5000;
    const pool = new Pool(2);
    try {
      const [got] = await Promise.all([pool.apply(targets.takeAll, [queue, N]), pool.apply(targets.putAll, [queue, N])]);
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
    } finally {
      pool.close();
      await pool.join();
    }
    assert.equal(await queue.qsize(), 0);
  });

  test("a local client that sends garbage over its Pipe loses only that Pipe; a busy client beside it is served throughout", async () => {
    const list = await manager.list<[string, number]>();
    const socket = await Client(manager.address!, { authkey: manager.authkey });
    const [mine, theirs] = Pipe();
    socket.send([0, "pipe", theirs]);
    const [id, outcome] = JSON.parse((await socket.recv(HANG_MS)) as string) as number[];
    assert.deepEqual([id, outcome], [0, 0], "the server took the Pipe");
    theirs.close();
    socket.close();
    const pool = new Pool(1);
    try {
      const busy = pool.apply(targets.appendInOrder, [list, "busy", 3000, 1]);
      while ((await list.length()) < 100) await new Promise((resolve) => setTimeout(resolve, 5));
      mine.send("not a request at all");
      await assert.rejects(mine.recv(HANG_MS), EOFError);
      assert.equal(await busy, 3000);
    } finally {
      mine.close();
      pool.close();
      await pool.join();
    }
    assert.equal(await list.length(), 3000);
  });

  test("printing a proxy says what it is and where it lives", async () => {
    const d = await manager.dict();
    const text = String(d);
    assert.match(text, /^<DictProxy of dict #\d+ in the manager at @multiproc-manager-[0-9a-f]+>$/);
    assert.equal(`${d}`, text);
    assert.equal(inspect(d), text);
    assert.equal(Object.prototype.toString.call(d), "[object DictProxy]");
  });
});

describe("proxies travel", { timeout: SUITE_MS }, () => {
  let manager: SyncManagerType;
  before(async () => {
    manager = await Manager();
  });
  after(async () => {
    await manager.shutdown();
  });

  test("seed 004: five pool tasks increment under a managed Lock to 5/5/5; a plain number stays a private copy", async () => {
    await using pool = new Pool(2);
    const lock = await manager.Lock();
    const value = await manager.Value("i", 0);
    const array = await manager.Array("i", [0, 1, 2]);
    const dict = await manager.dict<string, number>({ count: 0 });
    const normal = 0;
    const results = await Promise.all(Array.from({ length: 5 }, () => pool.applyAsync(targets.increment, [normal, lock, value, array, dict])));
    assert.deepEqual(results, [1, 1, 1, 1, 1]);
    assert.equal(await value.get(), 5);
    assert.deepEqual(await array.toArray(), [5, 1, 2]);
    assert.equal(await dict.get("count"), 5);
    assert.equal(normal, 0);
  });

  test("seed 004: a writer and then a reader share a manager Queue through Pool.apply", async () => {
    await using pool = new Pool(2);
    const queue = await manager.Queue<string>();
    await pool.apply(targets.writeAll, [queue, ["A", "B", "C"]]);
    assert.deepEqual(await pool.apply(targets.readAll, [queue]), ["A", "B", "C"]);
  });

  test("inside the items of Pool.map and Pool.starmap", async () => {
    await using pool = new Pool(2);
    const list = await manager.list<number>();
    assert.deepEqual(await pool.starmap(targets.addTo, [1, 2, 3].map((n) => [list, n] as [typeof list, number])), [2, 4, 6]);
    assert.deepEqual((await list.toArray()).sort(), [1, 2, 3]);
  });

  test("as Process arguments, through a Queue and a Pipe, and across start methods", async () => {
    const dict = await manager.dict<string, number>();
    for (const method of ["spawn", "thread"] as const) {
      const child = new (getContext(method).Process)({ target: targets.setInChild, args: [dict, method, 1] });
      child.start();
      await child.join();
      assert.equal(child.exitCode, 0);
    }
    const queue = new Queue<typeof dict>();
    await queue.put(dict);
    const [a, b] = Pipe<typeof dict>();
    a.send(await queue.get());
    const arrived = await b.recv();
    a.close();
    b.close();
    queue.close();
    await arrived.set("piped", 1);
    assert.deepEqual(await dict.copy(), { spawn: 1, thread: 1, piped: 1 });
  });

  test("inside other managed objects: a dict holding a list holding a Queue proxy, used from a child", async () => {
    const queue = await manager.Queue<string>();
    const list = await manager.list([queue]);
    const dict = await manager.dict({ list });
    await using pool = new Pool(1);
    const printed = await pool.apply(targets.nested, [dict]);
    assert.equal(printed, String(queue));
    assert.match(await queue.get({ timeout: HANG_MS }), /^from \d+$/);
  });
});

describe("BaseManager and registered types", { timeout: SUITE_MS }, () => {
  test("register adds an async factory method; only exposed, never _-prefixed, methods can be called", async () => {
    await using manager = await new targets.ShopManager().start();
    const shop = (await (manager as unknown as { Shop(): Promise<targets.ShopProxy> }).Shop()) as targets.ShopProxy & Record<string, unknown>;
    assert.equal(await shop.stock("apple", 1), 1);
    assert.equal(await shop.buy("apple"), 0);
    assert.equal(typeof shop["_restock"], "undefined", "a _ name is not on the proxy");
    await assert.rejects(
      shop.buy("apple"),
      (err: unknown) => err instanceof targets.OutOfStock && err.item === "apple" && /managerTargets/.test(err.stack ?? ""),
      "the registered error class arrives with the remote stack",
    );
    assert.equal(await shop.slowly(10), "done");
  });

  test("methodToTypeid returns a new proxy; exposed limits what is callable", async () => {
    await using manager = await new targets.ShopManager().start();
    const shop = (await (manager as unknown as { ShopWithBasket(): Promise<Record<string, (...args: unknown[]) => Promise<unknown>>> }).ShopWithBasket());
    await shop.stock!("pear", 2);
    assert.equal(shop.buy, undefined, "buy is not exposed");
    const basket = await shop.basket!();
    assert.match(String(basket), /Basket/);
  });

  test("a factory that is not a named export is refused at start(), in this process, with its path", async () => {
    class Local extends BaseManager {}
    Local.register("Thing", () => ({ value: 1 }));
    await assert.rejects(new Local().start(), (err: unknown) => err instanceof SerializationError && /args\[0\]\[0\]\.factory/.test(err.message));
  });

  test("proxytype: proxies of a typeid are instances of the registered class", async () => {
    await using manager = await new targets.ShopManager().start();
    const shop = await (manager as unknown as { CountingShop(): Promise<targets.CountingShopProxy> }).CountingShop();
    assert.ok(shop instanceof targets.CountingShopProxy);
    assert.equal(await shop.stockTwice("kiwi"), 2);
  });

  test("a call to an unexposed or _-prefixed method is refused by the server", async () => {
    await using manager = await new targets.ShopManager().start();
    const shop = await (manager as unknown as { Shop(): Promise<BaseProxy> }).Shop();
    await assert.rejects(shop[callMethod]("_restock", []), /not exposed/);
    await assert.rejects(shop[callMethod]("constructor", []), /not exposed/);
  });

  test("getServer().serveForever() in one process, connect() with the key from another; a wrong key is AuthenticationError", async () => {
    const server = new targets.ShopManager({ address: ["127.0.0.1", 0], authkey: KEY }).getServer();
    const serving = server.serveForever();
    const client = await new targets.ShopClient({ address: server.address, authkey: KEY }).connect();
    const shop = await (client as unknown as { Shop(): Promise<targets.ShopProxy> }).Shop();
    assert.equal(await shop.stock("fig", 3), 3);
    await assert.rejects(new targets.ShopClient({ address: server.address, authkey: Buffer.from("wrong") }).connect(), AuthenticationError);
    server.shutdown();
    await serving;
  });

  test("a TCP manager serves clients while strangers send garbage, a gigabyte length prefix, or nothing at all", async () => {
    await using manager = await new SyncManager({ address: ["127.0.0.1", 0], authkey: KEY, handshakeTimeout: 2000 }).start();
    const [host, port] = manager.address as [string, number];
    const strangers: Socket[] = await Promise.all(
      Array.from({ length: 3 }, () => new Promise<Socket>((resolve) => {
        const socket = connect({ host, port }, () => resolve(socket));
        socket.on("error", () => {});
        // Reading, so the server's hang-up is seen (a socket nobody reads does not keep the loop alive).
        socket.resume();
      })),
    );
    strangers[0]!.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    strangers[1]!.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    const d = await manager.dict({ ok: 1 });
    assert.equal(await d.get("ok"), 1);
    for (const socket of strangers) await new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));
    assert.equal(await d.get("ok"), 1, "still served after the strangers were dropped");
  });
});

describe("a manager's limits", { timeout: SUITE_MS }, () => {
  test("over TCP, a message over maxMessageSize drops that client's connection; its next call connects again and is served", async () => {
    await using manager = await new SyncManager({ address: ["127.0.0.1", 0], maxMessageSize: 4096 }).start();
    const d = await manager.dict<string, string>({ small: "ok" });
    await assert.rejects(d.set("big", "x".repeat(10_000)), (err: unknown) => err instanceof EOFError && /is gone/.test(err.message));
    assert.equal(await d.get("small"), "ok");
    assert.equal(await d.has("big"), false);
  });
});

describe("a manager's life", { timeout: SUITE_MS }, () => {
  test("shutdown() ends the server with exit code 0; pending and later calls reject naming the address", async () => {
    const manager = await Manager();
    const event = await manager.Event();
    const pending = event.wait();
    await manager.shutdown();
    assert.equal(manager.process!.exitCode, 0);
    const where = /the manager at @multiproc-manager-[0-9a-f]+ is gone/;
    await assert.rejects(pending, (err: unknown) => err instanceof EOFError && where.test(err.message));
    await assert.rejects(event.isSet(), where);
    await assert.rejects(manager.dict(), /was shut down/);
  });

  test("a SIGKILLed manager rejects pending and later calls, never hangs", async () => {
    const manager = await Manager();
    const event = await manager.Event();
    const pending = event.wait();
    manager.process!.kill();
    await assert.rejects(pending, /is gone/);
    await assert.rejects(event.set(), /is gone/);
    await manager.shutdown();
  });

  test("getContext('thread').Manager() serves from a thread", async () => {
    await using manager = await getContext("thread").Manager();
    const d = await manager.dict({ where: "thread" });
    assert.equal(await d.get("where"), "thread");
    assert.equal(manager.process!.pid, process.pid);
  });

  for (const mode of ["return", "exit", "wait"] as const) {
    test(`no orphan manager: its owner ${mode === "return" ? "ends normally" : mode === "exit" ? "calls process.exit()" : "is SIGKILLed"}`, async () => {
      const script = fileURLToPath(new URL("./fixtures/managerTargets.ts", import.meta.url));
      const owner = spawn(process.execPath, ["--import", "tsx", script, mode], { stdio: ["ignore", "pipe", "inherit"] });
      const line = await new Promise<string>((resolve) => owner.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString())));
      const { server, alive } = JSON.parse(line) as { server: number; alive: boolean };
      assert.equal(alive, true);
      if (mode === "wait") owner.kill("SIGKILL");
      await new Promise((resolve) => owner.once("exit", resolve));
      await waitUntil(() => !pidRunning(server), HANG_MS, `manager ${server} to exit`);
    });
  }

  test("a manager that cannot bind its address rejects start() with the OS error", async () => {
    await using first = await new SyncManager({ address: ["127.0.0.1", 0] }).start();
    await assert.rejects(new SyncManager({ address: first.address }).start(), /EADDRINUSE/);
  });

  test("start() refuses an initializer that is not a function; an initializer that throws rejects start() with its error", async () => {
    await assert.rejects(new SyncManager().start(42 as never), TypeError);
    await assert.rejects(new SyncManager().start(targets.failingInitializer), (err: unknown) => err instanceof RangeError && err.message === "no stock today");
  });
});
