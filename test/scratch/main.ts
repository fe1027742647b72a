import { Process, isMain, currentProcess, parentProcess, getContext } from "../../src/index.ts";
export function task(name: string, n: number, kw?: object) {
  console.log(`child ${name} pid=${process.pid} ppid=${process.ppid} cur=${currentProcess().name} parent=${parentProcess()?.name} kw=${JSON.stringify(kw)}`);
}
export class MyProc extends Process {
  params = 0;
  override run() { console.log("subclass run", this.name, this.params); }
}
if (isMain(import.meta)) {
  let t = performance.now();
  const p = new Process({ target: task, args: ["a", 1], kwargs: { x: 1 } });
  p.start();
  console.log("started", p.pid, p.name, performance.now() - t);
  await p.join();
  console.log("joined", p.exitCode, performance.now() - t);
  const m = new MyProc(); m.params = 42; m.start(); await m.join(); console.log("sub exit", m.exitCode, m.name);
  const ctx = getContext("thread");
  t = performance.now();
  const th = new ctx.Process({ target: task, args: ["thr", 2] }); th.start(); await th.join();
  console.log("thread exit", th.exitCode, th.name, th.ident, performance.now() - t);
}
