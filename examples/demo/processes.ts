/*
 * Demo scenes for Process (DESIGN.md §2), and the targets they start. Each
 * scene is built for one start method, so the tour can show the same scene
 * on "spawn" (a new Node.js process) and on "thread" (a worker thread).
 * (The timing scene runs on spawn only, to keep the tour short.)
 *
 * Targets are exported: the child imports this module to find them.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { currentProcess, getContext, parentProcess, type Context, type StartMethod } from "multiproc";
import { childSay, say, secondsSince, type Scene } from "./scene.ts";

// ---- targets ---------------------------------------------------------------

export function introduce(word: string, count: number, kwargs?: { shout?: boolean }): void {
  const me = currentProcess();
  const parent = parentProcess()!;
  const text = kwargs?.shout ? word.toUpperCase() : word;
  childSay(`child: I am ${me.name}, pid ${process.pid}, ident ${me.ident}, parent ${parent.name} (pid ${parent.pid})`);
  childSay(`child: args ${JSON.stringify([word, count])}, kwargs ${JSON.stringify(kwargs ?? null)} -> ${Array(count).fill(text).join(" ")}`);
}

export async function nap(ms: number): Promise<void> {
  await sleep(ms);
}

export async function napThenSay(label: string, ms: number): Promise<void> {
  await sleep(ms);
  childSay(`${label}: finished its ${ms / 1000} s of work`);
}

export function fail(): void {
  throw new Error("something went wrong in the child");
}

export function exitWith(code: number): void {
  process.exit(code);
}

/** A little program of its own: starts a daemon and a non-daemon child, then its own work is done. */
export function programWithChildren(method: StartMethod): void {
  const ctx = getContext(method);
  const daemon = new ctx.Process({ target: napThenSay, args: ["daemon child", 600], daemon: true, name: "daemon-child" });
  const worker = new ctx.Process({ target: napThenSay, args: ["non-daemon child", 600], name: "worker-child" });
  daemon.start();
  worker.start();
  childSay("program: started daemon-child and worker-child (both would work 0.6 s); my own work is done");
  process.once("exit", () => {
    childSay(`program: exiting; daemon-child exit code ${daemon.exitCode}, worker-child exit code ${worker.exitCode}`);
  });
}

// ---- scenes ----------------------------------------------------------------

function argsAndNames(ctx: Context): Scene {
  return {
    title: `Arguments, names and pids [${ctx.getStartMethod()}]`,
    async run() {
      say(`main: pid ${process.pid}, name ${currentProcess().name}, parentProcess() ${parentProcess()}`);
      const children = [
        new ctx.Process({ target: introduce, args: ["hello", 2] }),
        new ctx.Process({ target: introduce, args: ["bye", 3], kwargs: { shout: true }, name: "shouter" }),
      ];
      for (const p of children) {
        p.start();
        say(`main: started ${p.name}: pid ${p.pid}, ident ${p.ident}`);
        await p.join();
        say(`main: ${p.name} exited with code ${p.exitCode}`);
      }
      if (ctx.getStartMethod() === "thread") say("(a thread child shares the main pid; its ident is the thread id)");
    },
  };
}

function joinParallelVsSequence(ctx: Context): Scene {
  return {
    title: `join(): in parallel vs in sequence [${ctx.getStartMethod()}]`,
    async run() {
      let start = performance.now();
      const idle = new ctx.Process({ target: nap, args: [0] });
      idle.start();
      await idle.join();
      say(`one child doing nothing, start to exit:       ${secondsSince(start)}  (start-up cost)`);

      start = performance.now();
      const batch = [0, 1, 2].map(() => new ctx.Process({ target: nap, args: [1000] }));
      for (const p of batch) p.start();
      for (const p of batch) await p.join();
      say(`3 children sleeping 1 s, started together:  ${secondsSince(start)}  (~1 s + start-up)`);

      start = performance.now();
      for (let i = 0; i < 3; i++) {
        const p = new ctx.Process({ target: nap, args: [1000] });
        p.start();
        await p.join();
      }
      say(`3 children sleeping 1 s, one after another: ${secondsSince(start)}  (~3 s; a pre-started spare takes each start after the first)`);
    },
  };
}

function exitCodes(ctx: Context): Scene {
  return {
    title: `Exit codes: terminate(), kill(), an uncaught error, process.exit(3) [${ctx.getStartMethod()}]`,
    async run() {
      const terminated = new ctx.Process({ target: nap, args: [30_000], name: "terminated" });
      const killed = new ctx.Process({ target: nap, args: [30_000], name: "killed" });
      terminated.start();
      killed.start();
      terminated.terminate();
      killed.kill();
      say(`right after terminate()/kill(): isAlive() ${terminated.isAlive()} / ${killed.isAlive()} (not reaped yet)`);
      await terminated.join();
      await killed.join();
      say(`after join(): isAlive() ${terminated.isAlive()} / ${killed.isAlive()}`);
      say(`terminate() -> exit code ${terminated.exitCode}  (SIGTERM)`);
      say(`kill()      -> exit code ${killed.exitCode}  (SIGKILL)`);

      say("a child that throws (what it prints on stderr follows):");
      const failing = new ctx.Process({ target: fail, name: "failing" });
      failing.start();
      await failing.join(); // the child prints "Process failing:" and the error on stderr
      say(`uncaught error  -> exit code ${failing.exitCode}`);

      const exiting = new ctx.Process({ target: exitWith, args: [3], name: "exiting" });
      exiting.start();
      await exiting.join();
      say(`process.exit(3) -> exit code ${exiting.exitCode}`);
    },
  };
}

function daemonAtExit(ctx: Context): Scene {
  return {
    title: `Daemon vs non-daemon children when a program's own work ends [${ctx.getStartMethod()}]`,
    async run() {
      say("main: runs a small program (itself a child) that starts two children and returns at once");
      const start = performance.now();
      const program = new ctx.Process({ target: programWithChildren, args: [ctx.getStartMethod()], name: "program" });
      program.start();
      await program.join();
      say(`main: the program exited with code ${program.exitCode} after ${secondsSince(start)}:`);
      say("      the daemon child was terminated (-15) without finishing, the non-daemon child was waited for (0)");
    },
  };
}

const spawn = getContext("spawn");
const thread = getContext("thread");

export const processScenes: Scene[] = [
  argsAndNames(spawn),
  joinParallelVsSequence(spawn),
  exitCodes(spawn),
  daemonAtExit(spawn),
  argsAndNames(thread),
  exitCodes(thread),
  daemonAtExit(thread),
];
