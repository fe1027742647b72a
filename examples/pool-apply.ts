// Mirrors seed 002_718d0dbe59824e89.txt §2 "常用方法", apply: Pool(4), then
// five p.apply(worker, (i,)) calls, each logging the value k + 5.
// Shows: apply() waits for its task before the next call starts, so the
// five tasks run one after another (serially) although the pool has four
// workers; each line shows the pid and name of the process that printed it.
// The seed's 2 s sleep is 0.3 s here (the first call also waits for the
// workers to start).
//
// Run: node --import tsx examples/pool-apply.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, currentProcess, isMain } from "multiproc";

function log(message: string): void {
  console.log(`${process.pid} ${currentProcess().name} ${message}`);
}

export async function worker(k: number): Promise<number> {
  await sleep(300);
  log(`printing-${k}`);
  return k + 5;
}

if (isMain(import.meta)) {
  const p = new Pool(4);
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const req = await p.apply(worker, [i]);
    log(`${req}~~~~~~~~ (apply returned after ${((performance.now() - start) / 1000).toFixed(2)} s)`);
  }
  console.log("-----------");
  console.log("each apply returned only once its task was done: the five tasks ran one at a time");
  await p.terminate();
}
