// Mirrors seed 000_a346e851434c6c43.txt §3 "守护进程" (p1 is a daemon, p2 is not; the main code prints "主" and ends).
// Shows: a daemon child is terminated as soon as the main program's own code
// has finished (here, before it even prints), while a non-daemon child is
// waited for. Also the rule from the seed's docstring: a daemon process may
// not start children of its own.
//
// Run: node --import tsx examples/daemon.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

export async function task(name: string): Promise<void> {
  console.log(`${name} is running`);
  await sleep(500);
  console.log(`${name} is done`);
}

// A daemon that tries to start a child of its own.
export function daemonWithChild(): void {
  try {
    new Process({ target: task, args: ["grandchild"] }).start();
  } catch (err) {
    console.log(`daemon: ${(err as Error).message}`);
  }
}

if (isMain(import.meta)) {
  // Not in the seed's code, from its docstring: "守护进程内无法再开启子进程".
  const d = new Process({ target: daemonWithChild, daemon: true });
  d.start();
  await d.join();

  // The seed's program.
  const p1 = new Process({ target: task, args: ["daemon"] });
  const p2 = new Process({ target: task, args: ["child 1"] });
  p1.daemon = true; // must be set before start()
  p1.start();
  p2.start();
  console.log("main");

  // Not in the seed: report what became of both once the program is over.
  process.on("exit", () => {
    console.log(`daemon exit code ${p1.exitCode} (-15: terminated when the main code finished)`);
    console.log(`child 1 exit code ${p2.exitCode} (waited for)`);
  });
}
