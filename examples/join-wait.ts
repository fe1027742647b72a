// Mirrors seed 000_a346e851434c6c43.txt §1.2.3 "join用法" (three children sleeping 1, 2 and 3 s, then join each).
// Shows: join() makes the parent wait for one child without stopping the
// others, so joining all three costs about as long as the slowest one
// (here 0.2 / 0.4 / 0.6 s), not the sum. join() also reaps the child.
//
// Run: node --import tsx examples/join-wait.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

export async function task(name: string, seconds: number): Promise<void> {
  console.log(`${name} is running`);
  await sleep(seconds * 1000);
  console.log(`${name} is done`);
}

if (isMain(import.meta)) {
  const start = performance.now();
  const p1 = new Process({ target: task, args: ["child 1", 0.2] });
  const p2 = new Process({ target: task, args: ["child 2", 0.4] });
  const p3 = new Process({ target: task, args: ["child 3", 0.6] });

  p1.start();
  p2.start();
  p3.start();

  await p1.join(); // the parent waits here; p2 and p3 keep running
  await p2.join(); // ... and here; p1 is done, p3 keeps running
  await p3.join();

  const seconds = (performance.now() - start) / 1000;
  // About 0.6 s plus the start-up of a Node.js child (a few hundred ms), not 0.2 + 0.4 + 0.6.
  console.log(`elapsed: ${seconds.toFixed(2)} s`);
}
