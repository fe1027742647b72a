/*
 * Workload "process start" (issue #2): start + join of a child that runs a no-op,
 * and the time of the synchronous start call alone.
 *   multiproc spawn   new Process({ target: noop }); start(); await join()
 *   multiproc thread  new (getContext("thread").Process)({ target: noop }); start(); await join()
 *   ... (cold)        the same with the warm standby off (MULTIPROC_STANDBY=0): every child boots a runtime
 *   raw fork          child_process.fork(empty.cjs), until 'exit'
 *   raw Worker        new Worker(empty.cjs), until 'exit'
 * The Python counterpart is bench/python/process_start.py.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Process, getContext, isMain } from "../../dist/index.js";
import { noop } from "../lib/targets.mjs";
import { compare, now } from "../lib/measure.mjs";

const emptyScript = fileURLToPath(new URL("../lib/empty.cjs", import.meta.url));
const START_JOIN = "start+join no-op";
const START_CALL = "start() call";

async function multiproc(ProcessClass) {
  const p = new ProcessClass({ target: noop });
  const t0 = now();
  p.start();
  const t1 = now();
  await p.join();
  const t2 = now();
  if (p.exitCode !== 0) throw new Error(`child exited with ${p.exitCode}`);
  return { [START_JOIN]: t2 - t0, [START_CALL]: t1 - t0 };
}

/** The same start, with the warm standby (src/spawn/standby.ts) turned off for this one run. */
async function cold(ProcessClass) {
  process.env.MULTIPROC_STANDBY = "0";
  try {
    return await multiproc(ProcessClass);
  } finally {
    delete process.env.MULTIPROC_STANDBY;
  }
}

async function raw(launch) {
  const t0 = now();
  const child = launch();
  const t1 = now();
  const [code] = await once(child, "exit");
  const t2 = now();
  if (code !== 0) throw new Error(`child exited with ${code}`);
  return { [START_JOIN]: t2 - t0, [START_CALL]: t1 - t0 };
}

if (isMain(import.meta)) {
  const ThreadProcess = getContext("thread").Process;
  await compare([
    { impl: "multiproc spawn", unit: "ms", run: () => multiproc(Process) },
    { impl: "multiproc spawn (cold)", unit: "ms", run: () => cold(Process) },
    { impl: "raw fork", unit: "ms", run: () => raw(() => fork(emptyScript)) },
    { impl: "multiproc thread", unit: "ms", run: () => multiproc(ThreadProcess) },
    { impl: "multiproc thread (cold)", unit: "ms", run: () => cold(ThreadProcess) },
    { impl: "raw Worker", unit: "ms", run: () => raw(() => new Worker(emptyScript)) },
  ]);
}
