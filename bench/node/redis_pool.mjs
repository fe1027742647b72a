/*
 * Workload "redis pool" (issue #14): multiproc's Pool on Redis (`redis()` backend, `multiproc worker`
 * processes with one child each) against a plain BullMQ script doing the same: Queue.addBulk of the same
 * chunks, a Worker process per "worker" squaring them, QueueEvents for the results. One private
 * redis-server (or REDIS_URL) serves both, on this machine.
 *
 *   redis pool map 100k × x*x, default chunksize   items/s, 2 workers. multiproc: await pool.map(square, items)
 *                                                  (processes: 2 → Python's rule: 8 chunks of 12,500). Plain:
 *                                                  addBulk of the same 8 chunks, wait for their 8 `completed`.
 *   redis pool apply latency, idle                 ms per call, one at a time. multiproc: await pool.apply(square,
 *                                                  [3]). Plain: (await queue.add()).waitUntilFinished(queueEvents).
 *   redis pool map 100k, N workers                 items/s with 1, 2 and 4 multiproc workers (one child each).
 *                                                  On 2 cores the curve flattens at 2.
 */
import { QueueEvents, Queue } from "bullmq";
import { Redis } from "ioredis";
import * as multiproc from "../../dist/index.js";
import { redis } from "../../dist/redis.js";
import { compare, now } from "../lib/measure.mjs";
import { square } from "../lib/pool_targets.mjs";
import { multiprocWorker, plainBullWorker, root, startRedis } from "../lib/redis_setup.mjs";

const MAP = "redis pool map 100k × x*x, default chunksize";
const APPLY = "redis pool apply latency, idle";
const SCALE = (n) => `redis pool map 100k, ${n} worker${n === 1 ? "" : "s"}`;
const N = 100_000;
const CHUNKS = 8;
const APPLY_CALLS = 20;
const RUNS = Number(process.env.BENCH_RUNS) || 10;

const server = await startRedis();
if (!server) process.exit(0);
const { url } = server;
const items = Array.from({ length: N }, (_, i) => i);
const expected = items.map(square);
const started = [];

function check(values) {
  if (values.length !== N || values.some((v, i) => v !== expected[i])) throw new Error("wrong results");
}

async function multiprocCase(queue, workers) {
  const ws = Array.from({ length: workers }, () => multiprocWorker(url, queue));
  started.push(...ws);
  await Promise.all(ws.map((w) => w.started));
  return new multiproc.Pool({ backend: redis({ url, queue, root }), processes: 2 });
}

const pool = await multiprocCase("mp2", 2);
const plainWorkers = [plainBullWorker(url, "plain2"), plainBullWorker(url, "plain2")];
started.push(...plainWorkers);
await Promise.all(plainWorkers.map((w) => w.started));
const connection = new Redis(url, { maxRetriesPerRequest: null });
const queue = new Queue("plain2", { connection, prefix: "plain" });
const eventsConnection = connection.duplicate();
const events = new QueueEvents("plain2", { connection: eventsConnection, prefix: "plain" });
await events.waitUntilReady();

let plainRun = 0;
async function plainMap() {
  const size = Math.ceil(N / CHUNKS);
  const jobs = [];
  // Ids known before adding: a completed event may arrive before addBulk resolves.
  const ids = new Map();
  for (let i = 0; i < N; i += size) {
    const jobId = `m${++plainRun}`;
    ids.set(jobId, i);
    jobs.push({ name: "chunk", data: { items: items.slice(i, i + size) }, opts: { jobId, removeOnComplete: true } });
  }
  const out = new Array(N);
  const start = now();
  const done = new Promise((resolve) => {
    let left = jobs.length;
    const onCompleted = ({ jobId, returnvalue }) => {
      const at = ids.get(jobId);
      if (at === undefined) return;
      const values = typeof returnvalue === "string" ? JSON.parse(returnvalue) : returnvalue;
      for (let k = 0; k < values.length; k++) out[at + k] = values[k];
      if (--left === 0) {
        events.off("completed", onCompleted);
        resolve();
      }
    };
    events.on("completed", onCompleted);
    void queue.addBulk(jobs);
  });
  await done;
  const ms = now() - start;
  check(out);
  return ms;
}

await compare(
  [
    { impl: "multiproc redis", unit: "items/s", run: async () => {
      const start = now();
      const out = await pool.map(square, items);
      const ms = now() - start;
      check(out);
      return { [MAP]: (N / ms) * 1000 };
    } },
    { impl: "plain BullMQ", unit: "items/s", run: async () => ({ [MAP]: (N / (await plainMap())) * 1000 }) },
  ],
  { runs: RUNS },
);

await compare(
  [
    { impl: "multiproc redis", unit: "ms", run: async () => {
      const start = now();
      for (let i = 0; i < APPLY_CALLS; i++) if ((await pool.apply(square, [3])) !== 9) throw new Error("wrong result");
      return { [APPLY]: (now() - start) / APPLY_CALLS };
    } },
    { impl: "plain BullMQ", unit: "ms", run: async () => {
      const start = now();
      for (let i = 0; i < APPLY_CALLS; i++) {
        // Kept a while: waitUntilFinished looks the job up after it completes.
        const job = await queue.add("apply", { x: 3 }, { removeOnComplete: { count: 1000 } });
        if ((await job.waitUntilFinished(events)) !== 9) throw new Error("wrong result");
      }
      return { [APPLY]: (now() - start) / APPLY_CALLS };
    } },
  ],
  { runs: RUNS },
);

await pool.terminate();
await events.close();
await queue.close();
for (const w of plainWorkers) w.kill();

for (const workers of [1, 2, 4]) {
  const scaled = await multiprocCase(`mp-scale-${workers}`, workers);
  await compare(
    [
      { impl: "multiproc redis", unit: "items/s", run: async () => {
        const start = now();
        const out = await scaled.map(square, items);
        const ms = now() - start;
        check(out);
        return { [SCALE(workers)]: (N / ms) * 1000 };
      } },
    ],
    { runs: Math.max(3, Math.floor(RUNS / 2)) },
  );
  await scaled.terminate();
}

for (const w of started) w.kill();
connection.disconnect();
eventsConnection.disconnect();
await server.stop();
