// Mirrors seed 003_d33f3412ca5112a8.txt §2.1 "start() vs run()" (use_start(): three workers started and
// joined; use_run(): p1.run(), p2.run(); and the two "常见错误": start() twice,
// run() then start()).
// Shows: start() creates a new OS process (each worker prints its own pid)
// and returns at once; run() just calls the target in the current process
// (same pid as the main process), one after the other. run() returns what
// the target returns: a Promise for an async target, which we await.
//
// Run: node --import tsx examples/run-vs-start.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

export async function worker(num: number): Promise<void> {
  console.log(`Worker ${num} runs in process ${process.pid}`);
  await sleep(300);
  console.log(`Worker ${num} done`);
}

// start(): real child processes, running at the same time.
async function useStart(): Promise<void> {
  console.log(`main process: ${process.pid}`);
  const processes: Process[] = [];
  for (let i = 0; i < 3; i++) {
    const p = new Process({ target: worker, args: [i] });
    p.start(); // a new process; returns at once
    processes.push(p);
  }
  console.log("all processes started, the main process carries on...");
  for (const p of processes) await p.join();
  console.log("all child processes have finished");
}

// run(): a plain call in this process; no child is created.
async function useRun(): Promise<void> {
  console.log(`current process: ${process.pid}`);
  const p1 = new Process({ target: worker, args: [1] });
  await p1.run(); // runs here, now
  console.log("run() finished, the main process carries on...");
  const p2 = new Process({ target: worker, args: [2] });
  await p2.run();
  console.log("all run() calls finished");
}

if (isMain(import.meta)) {
  console.log("=".repeat(50));
  console.log("with start():");
  await useStart();

  console.log("\n" + "=".repeat(50));
  console.log("with run():");
  await useRun();

  console.log("\n" + "=".repeat(50));
  console.log("common mistakes:");
  // Mistake 1: start() twice.
  const p = new Process({ target: worker, args: [3] });
  p.start();
  try {
    p.start();
  } catch (err) {
    console.log(`start() twice: ${(err as Error).message}`);
  }
  await p.join();
  // Mistake 2: run() then start(): allowed, but the target runs twice (here, then in a child).
  const q = new Process({ target: worker, args: [4] });
  await q.run();
  q.start();
  await q.join();
  console.log("run() then start(): the worker ran twice, in two processes");
}
