// Mirrors seed 001_d3f7b2896c9c80fe.txt "实例化Process类" (three children print current_process().ident,
// .name and their params; the main process prints its two lines first).
// Shows: currentProcess() inside a child describes that child (ident = its
// pid, name = Process-N); start() does not wait, so "main Process run end"
// comes before anything the children print.
//
// Run: node --import tsx examples/current-process.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, currentProcess, isMain } from "multiproc";

export async function task(params: number): Promise<void> {
  console.log("sub process run");
  const current = currentProcess();
  await sleep(500);
  console.log(
    `current subProcess id : ${current.ident}\n` +
      `current sub process name : ${current.name}\n` +
      `current sub process params : ${params}`,
  );
}

if (isMain(import.meta)) {
  console.log("main Process run");
  for (let item = 0; item < 3; item++) {
    const subProcessIns = new Process({ target: task, args: [item] });
    subProcessIns.start();
  }
  console.log("main Process run end");
}
