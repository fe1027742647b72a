// Mirrors seed 000_a346e851434c6c43.txt §1.2.1 "方式一" (start a child with Process(target=task, args=...)).
// Shows: the two ways to hand arguments to a target (args, and kwargs, which
// arrives as one extra last argument), that start() returns at once so the
// main program prints "main" first, and that the main program is not over
// until its (non-daemon) children are: Node waits for them after "main".
//
// Run: node --import tsx examples/process-basic.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

// A target must be a named, exported function: the child imports this module to find it.
export async function task(x: string): Promise<void> {
  console.log(`${x} is running`);
  await sleep(500);
  console.log(`${x} is done`);
}

// Python's Process(target=task, kwargs={"x": "child"}): kwargs arrive as one last object.
export async function taskWithKwargs({ x }: { x: string }): Promise<void> {
  await task(x);
}

if (isMain(import.meta)) {
  const p = new Process({ target: task, args: ["child (args)"] });
  p.start();
  const q = new Process({ target: taskWithKwargs, kwargs: { x: "child (kwargs)" } });
  q.start();
  // The main code ends here, but the program is not over: Node stays up until
  // both non-daemon children have exited, then reaps them (no join needed).
  console.log("main");
}
