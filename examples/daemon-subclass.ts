// Mirrors seed 001_d3f7b2896c9c80fe.txt "守护进程示例" (three TaskClass(Process) daemons sleeping 3 s, as here;
// the main process prints two lines and ends; no child prints "run end").
// Shows: `daemon = true` is set on the object before start(); when the main
// program's work is done its daemon children are terminated, mid-sleep.
// The main program works 1.2 s here (the seed's main does not) so that the
// children usually have time to start up and print "start run" first; on a
// busy machine some may not have started yet, and then they never print
// anything: a daemon is terminated whatever it is doing, as in the seed,
// where only TaskClass-1 got to print.
//
// Run: node --import tsx examples/daemon-subclass.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, currentProcess, isMain } from "multiproc";

export class TaskClass extends Process {
  override async run(): Promise<void> {
    const pName = currentProcess().name;
    console.log(`${pName} start run`);
    await sleep(3000);
    console.log(`${pName} run end`); // never printed: the daemon is terminated first
  }
}

if (isMain(import.meta)) {
  console.log("main process start run");
  const processLst: TaskClass[] = [];
  for (let i = 0; i < 3; i++) processLst.push(new TaskClass());
  for (const ins of processLst) {
    // A daemon flag must be set before the process starts.
    ins.daemon = true;
    ins.start();
  }
  console.log("main process carry on run");
  await sleep(1200);
  console.log("main process run end");
  process.on("exit", () => {
    console.log(`exit codes: ${processLst.map((p) => `${p.name}=${p.exitCode}`).join(", ")}`);
  });
}
