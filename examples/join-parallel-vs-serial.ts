// Mirrors seed 003_d33f3412ca5112a8.txt §2.2.5 "Process对象(子进程)的join方法", variants (1), (2) and (3):
//   (1) start five children and never join  -> the timed function returns at once;
//   (2) start one child, join it, start the next -> serial: the rests add up;
//   (3) start all five, then join each       -> parallel: about the longest rest.
// Shows: what makes a program serial is joining right after each start,
// not join itself. Rests are 0.1-0.3 s here (1-3 s in the seed).
//
// Run: node --import tsx examples/join-parallel-vs-serial.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, activeChildren, isMain } from "multiproc";

export async function work({ name }: { name: string }): Promise<void> {
  const rest = [0.1, 0.2, 0.3][Math.floor(Math.random() * 3)]!;
  console.log(`${name} rests ${rest} s`);
  await sleep(rest * 1000);
  console.log(`${name} rested`);
}

// The seed's `outer` decorator: print how long a function took.
async function timed(fn: () => Promise<void> | void): Promise<void> {
  const start = performance.now();
  await fn();
  console.log(`${fn.name} took ${((performance.now() - start) / 1000).toFixed(2)} s`);
}

function makeChildren(): Process[] {
  // kwargs, as in the seed (`kwargs={'name': ...}`): the target gets them as its last argument.
  return [0, 1, 2, 3, 4].map((i) => new Process({ target: work, kwargs: { name: `child-${i}` } }));
}

// (1) No join: start() returns at once, so this takes a few milliseconds.
function createProcess(): void {
  for (const p of makeChildren()) p.start();
}

// (2) start, then join, one child at a time: serial.
async function createProcessWait1(): Promise<void> {
  for (const p of makeChildren()) {
    p.start();
    await p.join();
  }
}

// (3) start all, then join each: parallel.
async function createProcessWait2(): Promise<void> {
  const spList = makeChildren();
  for (const p of spList) p.start();
  for (const p of spList) await p.join();
}

if (isMain(import.meta)) {
  console.log("--- (1) no join ---");
  console.log("main starts");
  await timed(createProcess);
  console.log("main ends (its children are still resting)");
  // Not in the seed: wait for these children so their output does not mix
  // with the next variant's. activeChildren() lists the ones still running.
  for (const p of activeChildren()) await p.join();

  console.log("\n--- (2) start then join, one by one: serial ---");
  await timed(createProcessWait1);

  console.log("\n--- (3) start all, then join all: parallel ---");
  await timed(createProcessWait2);
  // (2) costs the sum of the rests plus five child start-ups (a few hundred ms
  // each for Node.js); (3) costs about the longest rest plus start-ups that overlap.
}
