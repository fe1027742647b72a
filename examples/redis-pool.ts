// The seed's Pool example (004 "进程池", see pool-apply-async-close-join.ts)
// on Redis: the same five applyAsync tasks, close(), join(), but carried by
// BullMQ to `multiproc worker` processes, which could be on other machines.
// Shows: the only change is the `backend` option; the tasks run in the
// workers' children (their pids and host names are printed); nothing of the
// pool stays in Redis after join().
//
// Run (from the project root, Redis on 127.0.0.1:6379; see README "Beyond one machine"):
//   npx multiproc worker --redis redis://127.0.0.1:6379 --queue example --processes 2 &
//   npx multiproc worker --redis redis://127.0.0.1:6379 --queue example --processes 2 &
//   node --import tsx examples/redis-pool.ts
// (in a checkout without the built package: `node --import tsx src/cli.ts worker ...`)
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, isMain } from "multiproc";
import { redis } from "multiproc/redis";

export async function runProc(name: string): Promise<string> {
  const start = performance.now();
  await sleep(Math.random() * 500);
  return `${name}: ran ${((performance.now() - start) / 1000).toFixed(2)} s in process ${process.pid} on ${hostname()}`;
}

if (isMain(import.meta)) {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const queue = process.env.QUEUE ?? "example";
  console.log(`main process ${process.pid}: tasks go to queue "${queue}" on ${url}`);
  const po = new Pool({ backend: redis({ url, queue }) });
  const results = ["p1", "p2", "p3", "p4", "p5"].map((name) => po.applyAsync(runProc, [name]));
  po.close();
  await po.join(); // every task done, and the pool's keys removed from Redis
  for (const line of await Promise.all(results)) console.log(line);
  console.log("all tasks are done...");
}
