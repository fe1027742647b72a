/*
 * Workload "shared memory" (issue #3): 10M doubles (80 MB) in a shared array, written by a child and
 * summed by the parent, against Python's multiprocessing.Array (bench/python/shared_memory.py).
 *
 * One run: allocate `new SharedArray("d", 10M)` (timed: "allocate"), start a child (not timed) that
 * writes view[i] = i in a loop through the zero-copy typed-array view (timed in the child), then copies
 * the same values in with view.set(Float64Array) and, for reference, into a local Float64Array (both
 * timed in the child, destinations written before); join it; the parent sums the view in a for loop
 * (timed) and checks the sum. Each run uses a new array and a new child, as a program would.
 *
 *   10M doubles: allocate              ms
 *   10M doubles: child loop write      MB/s
 *   10M doubles: parent sum            MB/s
 *   10M doubles: end to end            80 MB / (loop write + sum), MB/s
 *   10M doubles: bulk copy             MB/s:  multiproc SharedArray = view.set(local Float64Array);
 *                                      node Float64Array.set, local (ref) = the same copy between two local
 *                                      arrays, the memcpy speed of the same process
 *
 * Between runs the script collects garbage (gc() exposed at run time: node:v8 flags, not execArgv, so
 * children do not inherit it). V8 does not count a shared array's 80 MB against its heap and would
 * otherwise keep every run's array mapped (2.7 GB after 32 runs); each new array then lands on fresh memory
 * (most likely pages the VM has not touched yet), and first writes to it were 2-4x slower in our runs. Python frees
 * its Array at once (reference counting), so this is also what makes the two comparable.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Process, RawArray, SharedArray, isMain } from "../../dist/index.js";
import { fillArray } from "../lib/shared_targets.mjs";
import { RUNS, WARMUP, emit, now } from "../lib/measure.mjs";

const N = 10_000_000;
const MB = (N * 8) / 1e6;
const EXPECTED_SUM = (N * (N - 1)) / 2; // exact in a double: every partial sum is an integer below 2^53

async function oneRun() {
  const t0 = now();
  const array = new SharedArray("d", N);
  const allocateMs = now() - t0;
  const timings = new RawArray("d", 3);
  const child = new Process({ target: fillArray, args: [array, timings] });
  child.start();
  await child.join();
  if (child.exitCode !== 0) throw new Error(`child exited with ${child.exitCode}`);
  const [writeMs, viewSetMs, localSetMs] = timings.view;

  const view = array.view;
  const t1 = now();
  let sum = 0;
  for (let i = 0; i < view.length; i++) sum += view[i];
  const sumMs = now() - t1;
  if (sum !== EXPECTED_SUM) throw new Error(`sum ${sum}, expected ${EXPECTED_SUM}`);
  return { allocateMs, writeMs, sumMs, viewSetMs, localSetMs };
}

if (isMain(import.meta)) {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc");
  const samples = [];
  for (let round = -WARMUP; round < RUNS; round++) {
    gc();
    const run = await oneRun();
    if (round >= 0) samples.push(run);
  }
  const of = (pick) => samples.map(pick);
  const impl = "multiproc SharedArray";
  emit(impl, "10M doubles: allocate", of((r) => r.allocateMs), "ms");
  emit(impl, "10M doubles: child loop write", of((r) => MB / (r.writeMs / 1000)), "MB/s");
  emit(impl, "10M doubles: parent sum", of((r) => MB / (r.sumMs / 1000)), "MB/s");
  emit(impl, "10M doubles: end to end", of((r) => MB / ((r.writeMs + r.sumMs) / 1000)), "MB/s");
  emit(impl, "10M doubles: bulk copy", of((r) => MB / (r.viewSetMs / 1000)), "MB/s");
  emit("node Float64Array.set, local (ref)", "10M doubles: bulk copy", of((r) => MB / (r.localSetMs / 1000)), "MB/s");
}
