// Mirrors seed 004_6d87a419b3afc4bb.txt "进程池": Pool(3), apply_async(run_proc,
// (name,)) for p1..p5 (each sleeps a random time), close(), join(), then
// "所有子进程结束啦..." (all child processes are done).
// Shows: five tasks share three worker processes (at most three distinct
// pids); close() takes no more tasks, join() waits for the five to finish
// and the workers to exit. The seed's random sleep of up to 3 s is up to
// 0.5 s here.
//
// Run: node --import tsx examples/pool-apply-async-close-join.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, activeChildren, isMain } from "multiproc";

export async function runProc(name: string): Promise<number> {
  console.log(`${name}: child process ${process.pid} is running...`);
  const start = performance.now();
  await sleep(Math.random() * 500);
  console.log(`${name}: child process ran ${((performance.now() - start) / 1000).toFixed(2)} s...`);
  return process.pid; // not in the seed: lets the main process count the workers
}

if (isMain(import.meta)) {
  console.log(`current (main) process id: ${process.pid}`);
  const po = new Pool(3); // at most three processes at a time
  const results = ["p1", "p2", "p3", "p4", "p5"].map((name) => po.applyAsync(runProc, [name])); // each returns at once
  po.close();
  await po.join(); // must come after close()
  console.log("all child processes are done...");
  const pids = new Set(await Promise.all(results));
  console.log(`5 tasks ran in ${pids.size} worker processes (${[...pids].join(", ")}); activeChildren() = [${activeChildren().join(", ")}]`);
}
