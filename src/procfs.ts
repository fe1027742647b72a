/*
 * What the operating system says about a process or thread, in one place
 * (Linux: /proc/<id>/stat; another OS would answer here). Used to tell
 * whether a lock's owner or a parent still lives; a zombie counts as dead,
 * and the start time tells a thread from a later one that got its id.
 */
import { builtin } from "./runtime.ts";

const { readFileSync } = builtin("node:fs");

/** The start time of process or thread `id` (clock ticks since boot, low 31 bits), or undefined if it is gone or a zombie. */
export function startTimeOf(id: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${id}/stat`, "latin1");
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return Number(BigInt(fields[19]!) & 0x7fffffffn);
}

/** Whether process (or thread) `id` is running; a zombie counts as dead. */
export function isRunning(id: number): boolean {
  return startTimeOf(id) !== undefined;
}

const LOAD_SAMPLE_MS = 50;
let loadSampledAt = -Infinity;
let busySamples = 0;

/**
 * Whether the machine has a core for every runnable thread (the caller and
 * the peer it would wait for included), judged from the kernel's count of
 * runnable threads, sampled at most every LOAD_SAMPLE_MS. Waiting awake for
 * a peer pays only when the peer has a core of its own; on a saturated
 * machine the spin takes the core the peer needs. The count says little
 * about one moment: a compiler or garbage-collector thread of either
 * process, or a daemon's tick, makes it jump (on a 2-core machine with two
 * processes talking, a third of single samples read 3 or more, and a
 * remote-manager benchmark fell from 35 k to 25 k calls/s when one more
 * thread counted as busy). So one thread over the cores is allowed, and
 * only two samples over that in a row say busy.
 */
export function coresToSpare(): boolean {
  const now = performance.now();
  if (now - loadSampledAt < LOAD_SAMPLE_MS) return busySamples < 2;
  loadSampledAt = now;
  // No /proc: assume the worst, as a saturated machine.
  const busy = runnableThreads() > builtin("node:os").availableParallelism() + 1;
  busySamples = busy ? busySamples + 1 : 0;
  return busySamples < 2;
}

/**
 * Whether a core is idle now: fewer threads runnable than there are cores,
 * the caller's own included. One sample; false without /proc.
 */
export function idleCore(): boolean {
  return runnableThreads() < builtin("node:os").availableParallelism();
}

/** The kernel's count of runnable threads (/proc/stat procs_running); Infinity when it cannot be read. */
function runnableThreads(): number {
  try {
    const stat = readFileSync("/proc/stat", "latin1");
    const at = stat.indexOf("procs_running ");
    return at < 0 ? Infinity : Number.parseInt(stat.slice(at + 14), 10);
  } catch {
    return Infinity;
  }
}
