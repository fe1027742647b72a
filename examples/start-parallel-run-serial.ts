// Mirrors seed 003_d33f3412ca5112a8.txt §2.2.2 (1) "方法一:使用Process方法", both programs: "并行" (p1.start();
// p2.start(): the main entry ends first, both rest at the same time) and "串行"
// (p1.run(); p2.run(): one after the other, inside the main process).
// Shows: start() runs the work in parallel child processes without waiting;
// run() runs it serially, in the caller, before the main entry ends.
//
// Run: node --import tsx examples/start-parallel-run-serial.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, activeChildren, isMain } from "multiproc";

export async function work(name: string): Promise<void> {
  const rest = [0.2, 0.3, 0.4][Math.floor(Math.random() * 3)]!;
  console.log(`${name} rests ${rest} s`);
  await sleep(rest * 1000);
  console.log(`${name} rested`);
}

async function createProcess(how: "start" | "run"): Promise<void> {
  const p1 = new Process({ target: work, args: ["one"] });
  const p2 = new Process({ target: work, args: ["two"] });
  if (how === "start") {
    p1.start();
    p2.start();
  } else {
    await p1.run();
    await p2.run();
  }
}

if (isMain(import.meta)) {
  console.log("--- parallel: start() ---");
  console.log("main entry starts");
  await createProcess("start");
  console.log("main entry ends");
  // Not in the seed (its two variants are two programs): wait for the
  // children before the next variant, so the outputs do not mix.
  for (const p of activeChildren()) await p.join();

  console.log("\n--- serial: run() ---");
  console.log("main entry starts");
  await createProcess("run");
  console.log("main entry ends");
}
