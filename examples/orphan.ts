// Mirrors seed 000_a346e851434c6c43.txt §2 "僵尸与孤儿进程", part 二 "孤儿进程" (the os.fork test: the
// father prints its pid, forks, exits at once; the child sleeps 1 s and
// prints its ppid, now 1: it was adopted by init).
// Shows: a child whose parent has exited is adopted by init (pid 1, or the
// nearest "subreaper"), keeps running, and is reaped by its new parent: an
// orphan is harmless. parentProcess().isAlive() tells the child its parent died.
//
// Here the father is itself a child of this program, so that the example can
// watch the orphan to the end and finish on its own; the father leaves with
// process.exit(), which does not wait for non-daemon children.
//
// Run: node --import tsx examples/orphan.ts
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain, parentProcess } from "multiproc";

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

// The seed's father: print pid and ppid, start a child, die.
export async function father(donePath: string): Promise<void> {
  console.log(`im father pid ${process.pid} ppid ${process.ppid}`);
  const child = new Process({ target: orphan, args: [donePath] });
  child.start();
  console.log("father died..");
  process.exit(0); // a hard exit: non-daemon children are left running
}

// The seed's child: wait until the father is gone, then print pid and ppid.
export async function orphan(donePath: string): Promise<void> {
  const fatherPid = parentProcess()!.pid;
  await parentProcess()!.join(5000); // resolves when the father has died
  // join() returns as the father's end of our channel closes; the kernel
  // hands us to our new parent a moment later.
  for (let waited = 0; process.ppid === fatherPid && waited < 2000; waited += 10) await sleep(10);
  const ppid = process.ppid;
  console.log(`im child ${process.pid} ${ppid}`);
  console.log(`  father ${fatherPid} alive? ${parentProcess()!.isAlive()}; adopted by pid ${ppid} (${commandOf(ppid)})`);
  writeFileSync(donePath, String(process.pid));
}

if (isMain(import.meta)) {
  console.log(`observer (this program) pid ${process.pid}`);
  const dir = mkdtempSync(join(tmpdir(), "multiproc-orphan-"));
  const donePath = join(dir, "done");

  const f = new Process({ target: father, args: [donePath] });
  f.start();
  await f.join();
  console.log(`observer: father exited with code ${f.exitCode}`);

  // The observer cannot join() the orphan (it is not its child): it waits for the file the orphan leaves.
  for (let waited = 0; !existsSync(donePath) && waited < 5000; waited += 50) await sleep(50);
  if (existsSync(donePath)) {
    const orphanPid = Number(readFileSync(donePath, "utf8"));
    for (let waited = 0; existsSync(`/proc/${orphanPid}`) && waited < 5000; waited += 50) await sleep(50);
    const reaped = !existsSync(`/proc/${orphanPid}`);
    console.log(`observer: orphan ${orphanPid} has finished and ${reaped ? "was reaped by its new parent" : "is still in the process table (not reaped!)"}`);
  } else {
    console.log("observer: the orphan never ran its target");
    process.exitCode = 1;
  }
  rmSync(dir, { recursive: true, force: true });
}
