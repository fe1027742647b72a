// Mirrors seed 004_6d87a419b3afc4bb.txt "多进程简单示例" (p1 and p2 started, only p1 joined, then both
// exitcodes printed: p1's is 0, p2's is None).
// Shows: exitCode is null while a child is still running and 0 once it has
// exited normally. Only join() guarantees it has exited: p2 here works a
// little longer (0.5 s) and is not joined, so it is still running when the
// codes are printed. (The seed's comment credits the null to the missing
// join; it is null because p2 has not finished yet.) The program still
// waits for p2 before it ends: p2 is not a daemon.
//
// Run: node --import tsx examples/exitcode.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

export async function runProc(name: string, seconds = 0): Promise<void> {
  console.log(`${name}: child process ${process.pid} is running...`);
  await sleep(seconds * 1000);
}

async function processMain(): Promise<void> {
  console.log(`current (main) process id: ${process.pid}`);
  const p1 = new Process({ target: runProc, args: ["p1"] });
  const p2 = new Process({ target: runProc, args: ["p2", 0.5] });
  console.log("the children start next...");
  p1.start();
  p2.start();

  await p1.join(); // wait for p1 only
  // await p2.join();

  console.log(`p1 exit code: ${p1.exitCode}`); // 0
  console.log(`p2 exit code: ${p2.exitCode}`); // null: still running
}

if (isMain(import.meta)) {
  await processMain();
  console.log("main process ends.");
}
