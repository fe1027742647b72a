// Mirrors seed 002_718d0dbe59824e89.txt §2 "构造方法" (Pool(processes=2,
// initializer=show, initargs=(8,), maxtasksperchild=None), then four
// pool.apply(worker, (i+5,))), and the commented-out variant with
// maxtasksperchild=1.
// Shows: the pool starts its workers at once, and each runs the initializer
// once, before its first task; apply() runs one task at a time. With
// maxtasksperchild: 1 each worker exits after one task and a new one (new
// pid) takes its place, running the initializer again. The seed's 2 s sleep
// is 0.3 s here.
//
// Run: node --import tsx examples/pool-initializer.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, currentProcess, isMain } from "multiproc";

function log(message: string): void {
  console.log(`${process.pid} ${currentProcess().name} ${message}`);
}

export function show(i: number): void {
  log(`initializer: I started (initargs ${i})`);
}

export async function worker(k: number): Promise<number> {
  await sleep(300);
  log(`printing-${k}`);
  return process.pid; // the seed's worker returns nothing; the pid lets main count the workers used
}

if (isMain(import.meta)) {
  log("main process");

  console.log("\n-- maxtasksperchild: null (workers live as long as the pool) --");
  const pool = new Pool({ processes: 2, initializer: show, initargs: [8], maxtasksperchild: null });
  await sleep(500); // the seed's time.sleep(3): the initializer lines show the workers started before any task
  const pids = new Set<number>();
  for (let i = 0; i < 4; i++) pids.add(await pool.apply(worker, [i + 5]));
  pool.close();
  await pool.join();
  console.log(`4 tasks ran in ${pids.size} worker process(es); workers replaced: ${pool.stats().workersReplaced}`);

  console.log("\n-- maxtasksperchild: 1 (a new worker, and the initializer again, for every task) --");
  const fresh = new Pool({ processes: 2, initializer: show, initargs: [8], maxtasksperchild: 1 });
  await sleep(500);
  const freshPids = new Set<number>();
  for (let i = 0; i < 4; i++) freshPids.add(await fresh.apply(worker, [i + 5]));
  fresh.close();
  await fresh.join();
  console.log(`4 tasks ran in ${freshPids.size} worker process(es); workers replaced: ${fresh.stats().workersReplaced}`);
}
