// Mirrors seed 001_d3f7b2896c9c80fe.txt "processObject方法大全" (the table of a process object's methods and
// properties) and seed 000_a346e851434c6c43.txt §1.2 "方法" / "属性" (start, run, terminate, is_alive,
// join, daemon, name, pid, exitcode, authkey).
// Shows: every method and property of a Process, before start, while
// running, and after exit, and the misuse that Python refuses (start twice,
// setting daemon after start, close while running).
//
// Run: node --import tsx examples/process-object.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Process, isMain } from "multiproc";

export async function nap(ms: number): Promise<void> {
  await sleep(ms);
}

async function attempt(label: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
    console.log(`${label}: ok`);
  } catch (err) {
    console.log(`${label}: ${(err as Error).constructor.name}: ${(err as Error).message}`);
  }
}

if (isMain(import.meta)) {
  const p = new Process({ target: nap, args: [300], name: "napper" });
  console.log("--- before start ---");
  console.log(`${p}`);
  console.log(`name=${p.name} daemon=${p.daemon} pid=${p.pid} ident=${p.ident} exitCode=${p.exitCode} isAlive()=${p.isAlive()}`);
  console.log(`authkey: ${p.authkey.length} bytes, inherited from the main process`);
  p.name = "napper-renamed"; // name may be changed at any time

  console.log("\n--- running ---");
  p.start();
  console.log(`${p}`);
  console.log(`pid=${p.pid} ident=${p.ident} exitCode=${p.exitCode} isAlive()=${p.isAlive()}`);
  await attempt("start() again", () => p.start());
  await attempt("daemon = true after start", () => {
    p.daemon = true;
  });
  await attempt("close() while running", () => p.close());
  await p.join(100); // join(timeout) returns at the timeout, child still running
  console.log(`after join(100): isAlive()=${p.isAlive()} exitCode=${p.exitCode}`);

  console.log("\n--- after exit ---");
  await p.join();
  console.log(`${p}`);
  console.log(`isAlive()=${p.isAlive()} exitCode=${p.exitCode}`);
  p.close(); // releases the object; allowed once the child has exited
  await attempt("pid after close()", () => p.pid);

  console.log("\n--- terminate() and kill() ---");
  const t = new Process({ target: nap, args: [10_000] });
  const k = new Process({ target: nap, args: [10_000] });
  t.start();
  k.start();
  t.terminate(); // SIGTERM
  k.kill(); // SIGKILL
  await t.join();
  await k.join();
  console.log(`terminated: exitCode=${t.exitCode} (-SIGTERM); killed: exitCode=${k.exitCode} (-SIGKILL)`);
  await attempt("join() before start()", () => new Process({ target: nap }).join());
}
