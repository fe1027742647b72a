// Mirrors seed 002_718d0dbe59824e89.txt §1 "multiprocessing类" (print current_process(), active_children()
// and cpu_count() with a Pool(4) running) and the function tables of seed 001_d3f7b2896c9c80fe.txt
// "multiprocessing模块方法大全" (current_process, active_children, os.getpid, os.getppid).
// Shows: the module-level functions. Four plain processes stand in for the
// seed's Pool(4) (pool-module-functions.ts has the real Pool(4)), so
// activeChildren() lists four children while they run, then none.
//
// Run: node --import tsx examples/module-functions.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, activeChildren, cpuCount, currentProcess, isMain, parentProcess } from "multiproc";

export async function idle(): Promise<void> {
  await sleep(800);
}

export function whoAmI(): void {
  console.log(`child:  currentProcess() = ${currentProcess()}`);
  console.log(`child:  parentProcess()  = ${parentProcess()}`);
  console.log(`child:  pid ${process.pid}, ppid ${process.ppid}`);
}

if (isMain(import.meta)) {
  const workers = [0, 1, 2, 3].map(() => new Process({ target: idle }));
  for (const w of workers) w.start();

  console.log(`main:   currentProcess() = ${currentProcess()}`);
  console.log(`main:   parentProcess()  = ${parentProcess()}`);
  console.log(`main:   activeChildren() = [${activeChildren().join(", ")}]`);
  console.log(`main:   cpuCount()       = ${cpuCount()}`);
  console.log(`main:   pid ${process.pid}, ppid ${process.ppid}`);

  const p = new Process({ target: whoAmI });
  p.start();
  await p.join();

  for (const w of workers) await w.join();
  console.log(`main:   activeChildren() after join = [${activeChildren().join(", ")}]`);
}
