// Mirrors seed 001_d3f7b2896c9c80fe.txt "针对不同平台选择添加子进程的方式" (multiprocessing.set_start_method("fork")
// under the `if __name__ == "__main__"` guard).
// Shows: choosing how children start. multiproc has "spawn" (default: a new
// Node.js process) and "thread" (a worker thread: same API, isolated memory,
// faster start; pid is the parent's, ident is the thread id). There is no
// "fork" in Node.js. setStartMethod() may be called once, before any use;
// getContext(method) gives classes bound to one method, whatever the default.
//
// Run: node --import tsx examples/start-method.ts
import { Process, currentProcess, getAllStartMethods, getContext, getStartMethod, isMain, setStartMethod } from "multiproc";

export function task(label: string): void {
  const me = currentProcess();
  console.log(`${label}: name=${me.name} pid=${process.pid} ident=${me.ident}`);
}

if (isMain(import.meta)) {
  setStartMethod("thread"); // like the seed's set_start_method("fork"): once, in the main guard
  console.log(`start methods: ${getAllStartMethods().join(", ")}; default now: ${getStartMethod()}`);
  console.log(`main: pid=${process.pid}`);

  const t = new Process({ target: task, args: ["thread child (default)"] });
  const started = performance.now();
  t.start();
  await t.join();
  console.log(`  took ${(performance.now() - started).toFixed(0)} ms, exit code ${t.exitCode}`);

  const spawn = getContext("spawn");
  const s = new spawn.Process({ target: task, args: ["spawn child (ctx)"] });
  const started2 = performance.now();
  s.start();
  await s.join();
  console.log(`  took ${(performance.now() - started2).toFixed(0)} ms, exit code ${s.exitCode}`);

  try {
    setStartMethod("spawn");
  } catch (err) {
    console.log(`setStartMethod a second time: ${(err as Error).message}`);
  }
}
