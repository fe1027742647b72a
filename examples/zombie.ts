// Mirrors seed 000_a346e851434c6c43.txt §2 "僵尸与孤儿进程", part 四 "测试" #1-#3 (a child exits while the
// parent sleeps without calling join; `ps aux | grep Z` shows it <defunct>).
// Shows: with multiproc a finished child is reaped by the parent as soon as
// the parent's event loop runs, join() or not, so no zombie remains. Python
// needs join() (or the parent's exit) for that. A zombie only shows while the
// event loop is blocked, the Node.js equivalent of the seed's time.sleep();
// it goes away as soon as the loop runs again.
//
// Run: node --import tsx examples/zombie.ts
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

// The seed's `def run(): print('子', os.getpid())`.
export function report(): void {
  console.log(`child ${process.pid}`);
}

/** The process state letter from /proc/<pid>/stat (R, S, Z, ...), or null once the pid is gone. */
function stateOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
  } catch {
    return null;
  }
}

/** What `ps -o pid,ppid,stat,args -p <pid>` says, or a note when the pid is gone. */
function ps(pid: number): string {
  try {
    return execFileSync("ps", ["-o", "pid,ppid,stat,args", "-p", String(pid)], { encoding: "utf8" }).trimEnd();
  } catch {
    return `  (ps: no process ${pid}: it has been reaped)`;
  }
}

/** Zombie children of this process, like `ps aux | grep Z` restricted to our children. */
function zombieChildren(): number[] {
  const zombies: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" && Number(ppid) === process.pid) zombies.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return zombies;
}

/** Block the whole thread, as Python's time.sleep() does (the event loop cannot run). */
function blockingSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

if (isMain(import.meta)) {
  console.log(`main ${process.pid}`);

  console.log("\n--- the seed's program: start a child, never join it, sleep ---");
  const p = new Process({ target: report });
  p.start();
  await sleep(1000); // the seed sleeps 1000 s; the event loop keeps running meanwhile
  console.log(`child ${p.pid} state in /proc: ${stateOf(p.pid!) ?? "gone"}`);
  console.log(ps(p.pid!));
  console.log(`exitCode without join: ${p.exitCode}`);

  console.log("\n--- the same with the event loop blocked (like time.sleep) ---");
  const q = new Process({ target: report });
  q.start();
  // Block until the child has exited; nothing in this process can reap it meanwhile.
  for (let waited = 0; stateOf(q.pid!) !== "Z" && waited < 5000; waited += 50) blockingSleep(50);
  console.log(`child ${q.pid} state in /proc: ${stateOf(q.pid!)} (a zombie, as in the seed)`);
  console.log(ps(q.pid!));
  console.log(`isAlive() already knows it has exited: ${q.isAlive()}, exitCode ${q.exitCode}`);
  await sleep(100); // let the event loop run: it reaps the child
  console.log(`after the event loop ran: state ${stateOf(q.pid!) ?? "gone"}`);
  console.log(ps(q.pid!));

  const zombies = zombieChildren();
  console.log(zombies.length === 0 ? "\nno zombie remains" : `\nzombies remain: ${zombies.join(", ")}`);
}
