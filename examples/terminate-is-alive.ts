// Mirrors seed 003_d33f3412ca5112a8.txt §2.2.6 [6] "查看进程状态方法p.is_alive(),终止进程方法p.terminate()",
// programs (1) "没有sleep情况下" and (2) "有sleep的情况下": five children; the
// fourth (i == 3) is terminated right after start.
// Shows: pid is undefined before start(); terminate() sends SIGTERM and
// returns at once, so isAlive() is still true just after it (1); once the
// child has really exited (here after a 0.5 s pause, 2 s in the seed),
// isAlive() is false (2). The terminated child never prints, and its
// exit code is -15 (killed by signal 15).
//
// Run: node --import tsx examples/terminate-is-alive.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, currentProcess, isMain } from "multiproc";

export function work(name: number): void {
  console.log(`child ${name} has pid ${currentProcess().pid}`);
}

async function createProcess(pauseAfterTerminate: boolean): Promise<void> {
  const spList: Process[] = [];
  for (let i = 0; i < 5; i++) {
    const p = new Process({ target: work, args: [i] });
    console.log(`${p.pid}`); // undefined: not started yet, no pid
    p.start();
    if (i === 3) {
      console.log(`pid ${p.pid} is alive? ${p.isAlive()}`);
      p.terminate();
      if (pauseAfterTerminate) await sleep(500);
      console.log(`pid ${p.pid} is alive? ${p.isAlive()}`);
    }
    spList.push(p);
  }
  for (const p of spList) await p.join();
  console.log(`exit codes: ${spList.map((p) => p.exitCode).join(", ")}`);
}

if (isMain(import.meta)) {
  console.log("--- (1) no pause after terminate() ---");
  console.log("main starts");
  await createProcess(false);
  console.log("main ends");

  console.log("\n--- (2) a pause after terminate() ---");
  console.log("main starts");
  await createProcess(true);
  console.log("main ends");
}
