// Mirrors seed 001_d3f7b2896c9c80fe.txt "自定义类覆写run()方法" (class TaskClass(Process) with params and run()).
// Shows: a subclass of Process that overrides run(); its own fields (params)
// travel to the child with it, as Python pickles the instance. Children of a
// subclass are named ClassName-N. The class must be exported.
//
// Run: node --import tsx examples/subclass.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, currentProcess, isMain } from "multiproc";

export class TaskClass extends Process {
  params: number;

  constructor(params: number) {
    super();
    this.params = params;
  }

  override async run(): Promise<void> {
    console.log("sub process run");
    const current = currentProcess();
    await sleep(500);
    console.log(
      `current sub process id : ${current.ident}\n` +
        `current sub process name : ${current.name}\n` +
        `current sub process params : ${this.params}`,
    );
  }
}

if (isMain(import.meta)) {
  console.log("main process run");
  for (let item = 0; item < 3; item++) {
    const subProcessIns = new TaskClass(item);
    subProcessIns.start();
  }
  console.log("main process run end");
}
