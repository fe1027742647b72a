/*
 * The Pool on Redis (multiproc/redis) against a real redis-server, with
 * `multiproc worker` processes each in its own process group, as if on
 * machines of their own (one in a network namespace of its own, whose link
 * is cut): the whole Pool API, errors, workers killed and restarted or cut
 * off, Redis stopped and resumed, SIGTERM draining, and nothing left in
 * Redis afterwards.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { AsyncResult, IMapIterator, MapResult, Pool, TimeoutError, WorkerLostError } from "../src/index.ts";
import { redis } from "../src/redis.ts";
import { add, identity, killMyWorker, logged, loggedItem, noop, overQuota, overQuotaOrSquare, QuotaError, slowSquare, square } from "./fixtures/redisTargets.ts";
import { tempDir, waitUntil } from "./helpers.ts";
import { builtCli, haveRedisServer, NetworkHost, RedisServer, redisMissing, root, scanKeys, WorkerProcess } from "./redisSetup.ts";

const missing = redisMissing();
/** Short locks, so a vanished worker is noticed within seconds (the stall check runs every half of it). */
const LOCK = ["--lock-duration", "4000"];
/** Keys BullMQ keeps per queue while workers use it; everything else was made by a pool. */
const QUEUE_KEYS = new Set(["id", "meta", "events", "stalled-check", "marker"]);

async function poolLeftovers(url: string, queue: string): Promise<string[]> {
  const prefix = `multiproc:${queue}:`;
  return (await scanKeys(url, `${prefix}*`)).filter((key) => !QUEUE_KEYS.has(key.slice(prefix.length)));
}

function newQueue(): string {
  return `t${randomUUID().slice(0, 8)}`;
}

/** Remove what the queues' workers left (queue-level keys), so a shared Redis is left as found. */
async function dropQueues(url: string, queues: string[]): Promise<void> {
  const client = new Redis(url);
  for (const queue of queues) {
    const keys = await scanKeys(url, `multiproc:${queue}:*`);
    if (keys.length) await client.del(...keys);
  }
  await client.quit();
}

it("multiproc/redis is a subpath export, and the bin explains its usage", async () => {
  const load = await node(["--input-type=module", "-e", `import { redis } from "multiproc/redis"; import { Pool } from "multiproc"; console.log(typeof redis, typeof Pool)`]);
  assert.equal(load.code, 0, load.stderr);
  assert.equal(load.stdout.trim(), "function function");
  const help = await node([builtCli, "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /multiproc worker --redis URL --queue NAME/);
  const bad = await node([builtCli, "worker", "--queue", "q"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--redis URL is required/);
  const badCount = await node([builtCli, "worker", "--redis", "redis://127.0.0.1:1", "--queue", "q", "--processes", "0"]);
  assert.equal(badCount.code, 2);
  assert.match(badCount.stderr, /--processes must be a positive integer/);
});

describe("Pool on Redis", { skip: missing, timeout: 600_000 }, () => {
  let server: RedisServer;
  const queues: string[] = [];
  const workers: WorkerProcess[] = [];
  const queue = newQueue();
  queues.push(queue);

  function worker(q = queue, extra: string[] = LOCK): WorkerProcess {
    const started = new WorkerProcess(server.url, q, { extra });
    workers.push(started);
    return started;
  }

  function pool(q = queue): Pool {
    return new Pool({ backend: redis({ url: server.url, queue: q, root }), processes: 2 });
  }

  before(async () => {
    server = await RedisServer.start();
    await Promise.all([worker().started(), worker().started()]);
  });

  after(async () => {
    for (const w of workers) w.killGroup();
    await dropQueues(server.url, queues);
    await server.stop();
  });

  it("runs the whole Pool API with exact results", async () => {
    const p = pool();
    assert.ok(p instanceof Pool);
    assert.match(String(p), /backend=redis/);
    assert.equal(await p.apply(add, [2, 3], { kwargs: { times: 10 } }), 50);
    let called: number | undefined;
    const async = p.applyAsync(square, [7], { callback: (value) => (called = value) });
    assert.ok(async instanceof AsyncResult);
    assert.equal(await async.get(60_000), 49);
    assert.equal(called, 49);
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const progress: Array<[number, number | undefined]> = [];
    assert.deepEqual(await p.map(square, items, { onProgress: (done, total) => progress.push([done, total]) }), items.map((x) => x * x));
    assert.deepEqual(progress.at(-1), [1000, 1000]);
    const mapped = p.mapAsync(square, items, 7);
    assert.ok(mapped instanceof MapResult);
    assert.deepEqual(await mapped, items.map((x) => x * x));
    assert.deepEqual(await p.starmap(add, [[1, 2], [3, 4]]), [3, 7]);
    assert.deepEqual(await p.starmapAsync(add, [[5, 6]]).get(), [11]);
    async function* input(): AsyncGenerator<number> {
      for (let i = 0; i < 20; i++) yield i;
    }
    assert.deepEqual(await p.map(square, input()), Array.from({ length: 20 }, (_, i) => i * i));
    const ordered = p.imap(square, input(), { chunksize: 3 });
    assert.ok(ordered instanceof IMapIterator);
    const seen: number[] = [];
    for await (const value of ordered) seen.push(value);
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i * i));
    const unordered: number[] = [];
    for await (const value of p.imapUnordered(square, items.slice(0, 50))) unordered.push(value);
    assert.deepEqual(unordered.sort((a, b) => a - b), items.slice(0, 50).map((x) => x * x));
    const stats = p.stats();
    assert.equal(stats.state, "running");
    assert.ok(stats.tasksDone >= 2000);
    p.close();
    assert.throws(() => p.applyAsync(square, [1]), /Pool not running/);
    await p.join();
    assert.equal(p.stats().state, "closed");
    assert.deepEqual(await poolLeftovers(server.url, queue), []);
  });

  it("items and results travel exactly: integers, -0, NaN, fractions, large values, other types, arrays from apply", async () => {
    await using p = pool();
    // Chunks of integers travel as JSON numbers, the rest as dumps: both ways must keep every value as it was.
    const integers = Array.from({ length: 3000 }, (_, i) => i * 1_000_003 - 1_500_000_000);
    assert.deepEqual(await p.map(identity, integers, { chunksize: 1500 }), integers);
    const awkward = [5, -0, 7, 0.1, NaN, Infinity, -Infinity, 2 ** 53, Number.MAX_VALUE, "7", null, 2 ** 60];
    assert.deepEqual(await p.map(identity, awkward, { chunksize: 3 }), awkward);
    assert.deepEqual(await p.map(square, [-0, 3], { chunksize: 2 }), [0, 9]);
    const array = await p.apply(identity, [[1.5, -0, 3]]);
    assert.ok(Array.isArray(array));
    assert.deepEqual(array, [1.5, -0, 3]);
    assert.deepEqual(await p.apply(identity, [Buffer.from("bytes")]), Buffer.from("bytes"));
    assert.equal(await p.apply(identity, ["text"]), "text");
  });

  it("a worker run by plain node (no loader) runs TypeScript task modules: the project's tsx registers itself", async () => {
    const q = newQueue();
    queues.push(q);
    const plain = new WorkerProcess(server.url, q, { extra: LOCK, program: builtCli, nodeOptions: [] });
    workers.push(plain);
    await plain.started();
    await using p = pool(q);
    assert.deepEqual(await p.map(square, [1, 2, 3]), [1, 4, 9]);
    assert.equal(await p.apply(add, [2, 3]), 5);
  });

  it("keeps a task's error type, fields and remote stack; imap goes on after a failed item", async () => {
    await using p = pool();
    const error = await p.apply(overQuota, [5]).catch((err: unknown) => err);
    assert.ok(error instanceof QuotaError);
    assert.equal(error.quota, 5);
    assert.match(error.stack ?? "", /redisTargets\.ts/);
    const results: Array<number | string> = [];
    const it = p.imap(overQuotaOrSquare, [1, -1, 2]);
    for (;;) {
      try {
        const next = await it.next();
        if (next.done) break;
        results.push(next.value);
      } catch (err) {
        results.push((err as Error).name);
      }
    }
    assert.deepEqual(results, [1, "QuotaError", 4]);
  });

  it("refuses bad input with clear errors", () => {
    assert.throws(() => redis({ url: "localhost:6379", queue: "q" }), TypeError);
    assert.throws(() => redis({ url: server.url, queue: "a:b" }), TypeError);
    assert.throws(() => new Pool({ backend: redis({ url: server.url, queue }), initializer: square }), /not supported by the redis backend/);
    const elsewhere = new Pool({ backend: redis({ url: server.url, queue, root: join(root, "src") }) });
    assert.throws(() => elsewhere.applyAsync(square, [1]), /outside the project root/);
    return elsewhere.terminate();
  });

  it("a call waits while no worker runs; timeout and signal end it; a worker started later serves it", async () => {
    const empty = newQueue();
    queues.push(empty);
    await using p = pool(empty);
    await assert.rejects(p.apply(square, [3], { timeout: 500 }), TimeoutError);
    const controller = new AbortController();
    const aborted = p.map(square, [1, 2, 3], { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(aborted, { name: "AbortError" });
    const waiting = p.apply(square, [9]);
    await sleep(300);
    const late = worker(empty);
    assert.equal(await waiting, 81);
    p.close();
    await p.join();
    assert.deepEqual(await poolLeftovers(server.url, empty), []);
    late.child.kill("SIGTERM");
    assert.equal(await late.exited(), 0);
  });

  it("a worker killed mid-task: its job runs once more elsewhere, results exact; a restarted worker joins", async () => {
    const dir = tempDir();
    const file = join(dir, "runs");
    await using p = pool();
    const items = Array.from({ length: 6 }, (_, i) => i);
    const result = p.starmapAsync(logged, items.map((x) => [file, x, 3000] as [string, number, number]), 1);
    await waitUntil(() => readLines(file).length >= 1, 60_000, "a task to start");
    const [victimPid] = readLines(file)[0]!.split(" ");
    const victim = workers.find((w) => w.pid === Number(victimPid))!;
    assert.ok(victim, `the task runs in a worker we started (${victimPid})`);
    victim.killGroup();
    const replacement = worker();
    await replacement.started();
    assert.deepEqual(await result.get(120_000), items.map((x) => x * x));
    const runs = readLines(file).map((line) => line.split(" "));
    const killedItems = runs.filter(([pid]) => pid === victimPid).map(([, x]) => x);
    assert.ok(killedItems.length >= 1);
    for (const x of killedItems) assert.ok(runs.some(([pid, y]) => y === x && pid !== victimPid), `item ${x} re-ran elsewhere`);
    assert.deepEqual(await p.map(square, [1, 2, 3]), [1, 4, 9]);
  });

  it("a task whose workers keep dying is retried once, then rejects with WorkerLostError", async () => {
    const dir = tempDir();
    const file = join(dir, "killed");
    const spares = [worker(), worker()];
    await Promise.all(spares.map((w) => w.started()));
    await using p = pool();
    const error = await p.apply(killMyWorker, [file]).catch((err: unknown) => err);
    assert.ok(error instanceof WorkerLostError, String(error));
    assert.equal(new Set(readLines(file)).size, 2, "it ran on two workers");
    assert.equal(p.stats().workersReplaced, 1);
    assert.equal(await p.apply(square, [4]), 16);
  });

  it("stops within timeout a task running on a worker, and the worker goes on", async () => {
    await using p = pool();
    await assert.rejects(p.apply(slowSquare, [2, 60_000], { timeout: 1500 }), TimeoutError);
    assert.equal(await p.apply(square, [5]), 25);
  });

  it("SIGTERM drains a worker: its running task finishes and is delivered, then it exits 0", async () => {
    const own = newQueue();
    queues.push(own);
    const w = worker(own);
    await w.started();
    await using p = pool(own);
    const result = p.applyAsync(slowSquare, [6, 2000]);
    await waitUntil(() => w.log.includes(" start "), 60_000, "the task to start");
    w.child.kill("SIGTERM");
    assert.equal(await result.get(60_000), 36);
    assert.equal(await w.exited(), 0);
    assert.match(w.log, /draining/);
    assert.match(w.log, /stopped/);
  });

  it("terminate() ends calls and leaves nothing in Redis", async () => {
    const p = pool();
    const many = assert.rejects(p.starmap(slowSquare, Array.from({ length: 200 }, (_, i) => [i, 100] as [number, number]), 1), /terminated/);
    const slow = assert.rejects(p.starmap(slowSquare, [[1, 5000], [2, 5000], [3, 5000]], 1), /terminated/);
    await sleep(500);
    await p.terminate();
    await slow;
    await many;
    assert.equal(p.stats().state, "terminated");
    assert.deepEqual(await poolLeftovers(server.url, queue), []);
  });

  it("examples/redis-pool.ts runs its five tasks on two workers (the built bin)", async () => {
    const own = newQueue();
    queues.push(own);
    const bins = [new WorkerProcess(server.url, own, { program: builtCli }), new WorkerProcess(server.url, own, { program: builtCli })];
    workers.push(...bins);
    await Promise.all(bins.map((w) => w.started()));
    const run = await runExample(server.url, own);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.match(/^p\d: ran .* in process \d+ on /gm)?.length, 5, run.stdout);
    assert.deepEqual(await poolLeftovers(server.url, own), []);
  });

  it("Redis stopped mid-map and resumed: no result lost or duplicated", { skip: !haveRedisServer() && "needs a private redis-server (binary on PATH) to stop" }, async () => {
    const own = await RedisServer.start(false);
    const q = newQueue();
    const ws = [new WorkerProcess(own.url, q, { extra: LOCK }), new WorkerProcess(own.url, q, { extra: LOCK })];
    try {
      await Promise.all(ws.map((w) => w.started()));
      await using p = new Pool({ backend: redis({ url: own.url, queue: q, root }), processes: 2 });
      const items = Array.from({ length: 400 }, (_, i) => i);
      const result = p.starmapAsync(slowSquare, items.map((x) => [x, 20] as [number, number]), 4);
      await sleep(500);
      own.pause();
      // Longer than the lock: running jobs are seen as stalled and re-run when Redis is back.
      await sleep(5000);
      own.resume();
      assert.deepEqual(await result.get(180_000), items.map((x) => x * x));
      assert.deepEqual(await p.map(noop, [1, 2, 3]), [1, 2, 3]);
      p.close();
      await p.join();
      assert.deepEqual(await poolLeftovers(own.url, q), []);
    } finally {
      for (const w of ws) w.killGroup();
      await own.stop();
    }
  });

  it("a worker on another host (its own network namespace): cut off from Redis mid-task, its job runs again here, each result once", { skip: !haveRedisServer() && "needs a private redis-server (binary on PATH) that the other host can reach" }, async (t) => {
    const host = NetworkHost.create();
    if (typeof host === "string") {
      t.skip(host);
      return;
    }
    let own: RedisServer | undefined;
    const ws: WorkerProcess[] = [];
    try {
      own = await RedisServer.start(false, [host.hostAddress]);
      const q = newQueue();
      const remote = new WorkerProcess(own.urlVia(host.hostAddress), q, { extra: LOCK, launcher: host.launcher });
      const local = new WorkerProcess(own.url, q, { extra: LOCK });
      ws.push(remote, local);
      await Promise.all(ws.map((w) => w.started()));
      await using p = new Pool({ backend: redis({ url: own.url, queue: q, root }), processes: 2 });
      const file = join(tempDir(), "runs");
      const items = Array.from({ length: 8 }, (_, i) => i);
      // Unordered: a result delivered twice would show as one value too many.
      const values = (async () => {
        const seen: number[] = [];
        for await (const value of p.imapUnordered(loggedItem, items.map((x): [string, number, number] => [file, x, 3000]), { chunksize: 1 })) seen.push(value);
        return seen;
      })();
      const onRemote = () => readLines(file).filter((line) => line.startsWith(`${remote.pid} `));
      await waitUntil(() => onRemote().length > 0, 60_000, "a task to start on the other host");
      host.cut();
      const cutOff = onRemote().map((line) => line.split(" ")[1]!);
      // The lock lapses, the stall check hands the job back, and it runs here.
      const reran = () => cutOff.every((x) => readLines(file).includes(`${local.pid} ${x}`));
      await waitUntil(reran, 60_000, "the cut-off tasks to run again on this host");
      // Back before the map ends: the other host's late outcomes reach Redis while the pool still reads.
      host.restore();
      const seen = await values;
      assert.deepEqual(seen.sort((a, b) => a - b), items.map((x) => x * x));
      assert.ok(remote.log.includes(" start "), remote.log);
      assert.deepEqual(await p.map(square, [1, 2, 3]), [1, 4, 9]);
      p.close();
      await p.join();
      assert.deepEqual(await poolLeftovers(own.url, q), []);
    } finally {
      for (const w of ws) w.killGroup();
      host.remove();
      await own?.stop();
    }
  });
});

function runExample(url: string, queue: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", join(root, "examples/redis-pool.ts")], { cwd: root, timeout: 120_000, env: { ...process.env, REDIS_URL: url, QUEUE: queue } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

function node(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}
