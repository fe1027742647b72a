// Mirrors seed 002_718d0dbe59824e89.txt §1 "multiprocessing类": with a
// Pool(4) just made, print current_process(), active_children() and
// cpu_count().
// Shows: a pool starts its workers at once (Python's does too), so
// activeChildren() lists the four PoolWorker processes before any task is
// given; currentProcess() is the main process. terminate() ends them.
//
// Run: node --import tsx examples/pool-module-functions.ts
import { Pool, activeChildren, cpuCount, currentProcess, isMain } from "multiproc";

if (isMain(import.meta)) {
  const p = new Pool(4);
  console.log(`currentProcess() = ${currentProcess()}`);
  console.log(`activeChildren() = [${activeChildren().join(", ")}]`);
  console.log(`cpuCount()       = ${cpuCount()}`);
  console.log(`the pool: ${p}`);
  await p.terminate();
  console.log(`after terminate(): activeChildren() = [${activeChildren().join(", ")}]`);
}
