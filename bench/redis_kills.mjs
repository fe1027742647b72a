/*
 * Soak for the Redis pool (issue #14), not part of `npm run bench` (it takes minutes):
 *   node bench/redis_kills.mjs [kills=20] [items=100000]
 * Three `multiproc worker` processes (two children each, default lock times) run a starmap of `items`
 * slowSquare tasks (chunks of 100). Every few seconds one worker's process group is SIGKILLed (a machine
 * gone) and a new worker started; the map allows 5 extra runs per chunk (`retries`), since a chunk re-run
 * after one kill may be on the next worker killed. Reports, for each kill, the time until the jobs the dead worker held
 * started again elsewhere (from the workers' logs), and checks that every result arrives exactly once.
 */
import * as multiproc from "../dist/index.js";
import { redis } from "../dist/redis.js";
import { setTimeout as sleep } from "node:timers/promises";
import { slowSquare } from "./lib/redis_targets.mjs";
import { multiprocWorker, root, startRedis } from "./lib/redis_setup.mjs";

const KILLS = Number(process.argv[2] ?? 20);
const N = Number(process.argv[3] ?? 100_000);
const server = await startRedis();
if (!server) process.exit(1);
const queue = "kills";
const workers = [];
function start() {
  const w = { log: "" };
  Object.assign(w, multiprocWorker(server.url, queue, { processes: 2, log: (text) => (w.log += text) }));
  workers.push(w);
  return w;
}
for (let i = 0; i < 3; i++) await start().started;

const pool = new multiproc.Pool({ backend: redis({ url: server.url, queue, root }), processes: 6 });
const items = Array.from({ length: N }, (_, i) => [i, 5]);
const t0 = Date.now();
// A chunk re-run after one kill can be on the next worker killed: `retries` allows it more runs than BullMQ's one.
const result = pool.starmapAsync(slowSquare, items, { chunksize: 100, retries: 5 });
const kills = [];
for (let k = 0; k < KILLS && !result.ready(); k++) {
  await sleep(5000);
  const alive = workers.filter((w) => !w.dead);
  const victim = alive[k % alive.length];
  const held = new Set();
  for (const line of victim.log.split("\n")) {
    const m = / job (\S+) (start|done|failed)/.exec(line);
    if (!m) continue;
    if (m[2] === "start") held.add(m[1]);
    else held.delete(m[1]);
  }
  victim.kill();
  victim.dead = true;
  kills.push({ at: Date.now(), held: [...held] });
  await start().started;
}
const values = await result.get();
const elapsed = (Date.now() - t0) / 1000;
let wrong = 0;
for (let i = 0; i < N; i++) if (values[i] !== i * i) wrong++;
const starts = new Map();
for (const w of workers) {
  for (const line of w.log.split("\n")) {
    const m = /^(\S+) worker \S+ job (\S+) start/.exec(line);
    if (m) (starts.get(m[2]) ?? starts.set(m[2], []).get(m[2])).push(Date.parse(m[1]));
  }
}
const recoveries = [];
for (const kill of kills) {
  const again = kill.held.map((id) => (starts.get(id) ?? []).filter((t) => t > kill.at).sort((a, b) => a - b)[0]).filter((t) => t !== undefined);
  if (again.length) recoveries.push((Math.max(...again) - kill.at) / 1000);
}
recoveries.sort((a, b) => a - b);
const stats = pool.stats();
console.log(JSON.stringify({
  items: N,
  kills: kills.length,
  seconds: elapsed,
  wrongOrMissing: wrong,
  resultsLength: values.length,
  rerunAfterKillS: { median: recoveries[Math.floor(recoveries.length / 2)], max: recoveries.at(-1), n: recoveries.length },
  tasksDone: stats.tasksDone,
  tasksFailed: stats.tasksFailed,
}));
await pool.terminate();
for (const w of workers) w.kill();
await server.stop();
