// Mirrors seed 000_a346e851434c6c43.txt §1.2.2 "进程之间的内存空间是隔离的" (a = 100; the child sets 200)
// and seed 003_d33f3412ca5112a8.txt §2.2.3 "进程之间的数据是隔离的" (money = 99; three children add 1).
// Shows: a child has its own copy of every module-level variable. What it
// changes stays in the child; the parent's value never moves.
//
// Run: node --import tsx examples/memory-isolation.ts
import { Process, isMain } from "multiproc";

// Module state. Each child imports this module afresh, so it gets its own copy.
let a = 100;
let money = 99;

// Seed 000 §1.2.2: `global a; a = 200; print(a)`.
export function setA(): void {
  a = 200;
  console.log(`child: a = ${a}`);
}

// Seed 003 §2.2.3: `global money; money += 1`.
export function changeMoney(): void {
  console.log(`child: money before = ${money}`);
  money += 1;
  console.log(`child: money after  = ${money}`);
}

if (isMain(import.meta)) {
  console.log("--- seed 000 §1.2.2: one child sets a = 200 ---");
  const p = new Process({ target: setA });
  p.start();
  await p.join(); // wait for the child before printing, as the seed does
  console.log(`main:  a = ${a}`); // 100: the child changed its own copy

  console.log("\n--- seed 003 §2.2.3: three children each add 1 to money ---");
  const taskList = [0, 1, 2].map(() => new Process({ target: changeMoney }));
  for (const q of taskList) q.start();
  // No join, as in the seed: this line comes first, and still says 99.
  console.log(`main:  money after all children changed it = ${money}`);
  // Each child prints 99 -> 100: every one started from its own copy of 99.
  // The program ends when the (non-daemon) children have exited.
}
