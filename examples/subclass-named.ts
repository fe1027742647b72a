// Mirrors seed 003_d33f3412ca5112a8.txt §2.2.2 (2) "方法二:继承Process类,重写run方法" (class NewProcess(Process)
// taking a name; run() rests 1-3 s).
// Shows: a Process subclass whose constructor takes its own argument and
// passes it on to Process (here the name). Both children rest at the same
// time. (In the seed, `self.name = name` runs before `super().__init__()`,
// which resets it: that is why its output says NewProcess-1 / NewProcess-2.
// Passing the name to the base constructor keeps it: "one", "two".)
//
// Run: node --import tsx examples/subclass-named.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

export class NewProcess extends Process {
  constructor(name: string) {
    super({ name });
  }

  override async run(): Promise<void> {
    const rest = [0.2, 0.3, 0.4][Math.floor(Math.random() * 3)]!;
    console.log(`${this.name} rests ${rest} s`);
    await sleep(rest * 1000);
    console.log(`${this.name} rested`);
  }
}

function createProcess(): void {
  const p1 = new NewProcess("one");
  const p2 = new NewProcess("two");
  p1.start();
  p2.start();
}

if (isMain(import.meta)) {
  console.log("main entry starts");
  createProcess();
  console.log("main entry ends");
}
