/*
 * Pool soak: a Pool(4) runs 1,000 tasks (2–20 ms of CPU each, results
 * checkable) while its workers keep dying, and must neither hang, nor give a
 * wrong value, nor leave a process or a /dev/shm entry behind.
 *
 *   node --import tsx bench/pool_soak.ts [spawn|thread] [seed]
 *
 * Two phases per run:
 *   1. imap, no retries: every item is either its right value or a
 *      WorkerLostError naming it (index), never anything else, never twice;
 *      a death loses only the task its worker was running.
 *   2. map with retries: the same chaos, and every value must come back.
 * Deaths: spawn — a timer SIGKILLs a random busy worker every ~100 ms (one
 * running a task, as the task marks in shared memory: a worker still
 * starting is left alone, since workers that keep dying before they are
 * ready break a pool on purpose); thread — nobody can kill a thread from outside, so a random ~3% of
 * the tasks exit their own worker (in phase 2 only the first time they run).
 * Exits 1 on any violation. Not a test: run it by hand (bench/README.md).
 *
 * Talks to: src/index.ts (the public API only); the targets are in
 * test/fixtures/poolTargets.ts.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool, SharedArray, WorkerLostError, activeChildren, type StartMethod } from "../src/index.ts";
import { soakInit, soakWork, type SoakItem } from "../test/fixtures/poolTargets.ts";

const method = (process.argv[2] ?? "spawn") as StartMethod;
if (method !== "spawn" && method !== "thread") {
  console.error("usage: node --import tsx bench/pool_soak.ts [spawn|thread] [seed]");
  process.exit(2);
}
const seed = Number(process.argv[3] ?? Date.now() % 1_000_000);
const TASKS = 1000;
const PROCESSES = 4;
const KILL_EVERY_MS = 100;
const DEADLINE_MS = 120_000;
const THREAD_DEATH_RATE = 0.03;
const RETRIES = 20;

/** mulberry32: a small seeded PRNG, so that a run can be repeated. */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);

function shmEntries(): Set<string> {
  try {
    return new Set(readdirSync("/dev/shm"));
  } catch {
    return new Set();
  }
}

/** /dev/shm entries that process `pid` has open or mapped now. */
function shmHeldBy(pid: number | "self"): string[] {
  const found = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith("/dev/shm/")) found.add(target.slice(9).replace(/ \(deleted\)$/, ""));
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // the process is gone
  }
  return [...found];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

const violations: string[] = [];
const seenPids = new Set<number>();
/** A worker's pid is here (at pid % length) while it runs a task: only those busy workers are killed. */
const busyMarks = new SharedArray("i", 4096);
const isBusy = (pid: number) => busyMarks[pid % busyMarks.length] === pid;
const shmOurs = new Set<string>();
let killsSent = 0;
/** Pids already sent SIGKILL (a dead worker stays listed until it is reaped: it is not killed twice). */
const killed = new Set<number>();

function poolWorkers() {
  return activeChildren().filter((child) => child.name.startsWith("PoolWorker-") && child.isAlive());
}

/** Every ~100 ms: note the workers and what shm they hold; with spawn, SIGKILL one busy worker at random. */
function startChaos(): () => void {
  const timer = setInterval(() => {
    const workers = poolWorkers();
    for (const name of shmHeldBy("self")) shmOurs.add(name);
    if (method !== "spawn") return;
    for (const worker of workers) {
      seenPids.add(worker.pid!);
      for (const name of shmHeldBy(worker.pid!)) shmOurs.add(name);
    }
    const busy = workers.filter((worker) => isBusy(worker.pid!) && !killed.has(worker.pid!));
    if (busy.length === 0) return;
    const victim = busy[Math.floor(random() * busy.length)]!;
    try {
      process.kill(victim.pid!, "SIGKILL");
      killed.add(victim.pid!);
      killsSent++;
    } catch {
      // it died on its own meanwhile
    }
  }, KILL_EVERY_MS);
  return () => clearInterval(timer);
}

function makeItems(markers: string | null): SoakItem[] {
  return Array.from({ length: TASKS }, (_, value) => {
    const item: SoakItem = { value, ms: 2 + Math.floor(random() * 19) };
    if (method === "thread" && random() < THREAD_DEATH_RATE) {
      item.die = true;
      if (markers) item.marker = join(markers, `item-${value}`);
    }
    return item;
  });
}

function withDeadline<T>(promise: Promise<T>, what: string): Promise<T | "hang"> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<"hang">((resolve) => {
    timer = setTimeout(() => resolve("hang"), DEADLINE_MS);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer)).then((value) => {
    if (value === "hang") violations.push(`${what} did not settle within ${DEADLINE_MS / 1000} s (hang)`);
    return value;
  });
}

interface PhaseReport {
  phase: string;
  ok: number;
  lost: number;
  otherErrors: number;
  wrong: number;
  deaths: number;
  hang: boolean;
  seconds: number;
}

function note(result: { square: number; pid: number }): void {
  if (method === "spawn") seenPids.add(result.pid);
}

/** Phase 1: imap without retries; every item is its value or its WorkerLostError. */
async function imapPhase(pool: Pool): Promise<PhaseReport> {
  const items = makeItems(null);
  const report: PhaseReport = { phase: "imap", ok: 0, lost: 0, otherErrors: 0, wrong: 0, deaths: 0, hang: false, seconds: 0 };
  const start = performance.now();
  const killsBefore = killsSent;
  const lostIndexes = new Set<number>();
  const run = async () => {
    const it = pool.imap(soakWork, items);
    for (let position = 0; ; position++) {
      try {
        const step = await it.next();
        if (step.done) break;
        note(step.value);
        report.ok++;
        if (step.value.square !== position * position) {
          report.wrong++;
          if (report.wrong <= 5) violations.push(`imap: item ${position} came back as ${step.value.square}, not ${position * position}`);
        }
      } catch (err) {
        if (err instanceof WorkerLostError) {
          report.lost++;
          if (err.index !== position) violations.push(`imap: the WorkerLostError at position ${position} names item ${err.index}`);
          if (lostIndexes.has(err.index)) violations.push(`imap: item ${err.index} reported lost twice`);
          lostIndexes.add(err.index);
        } else {
          report.otherErrors++;
          if (report.otherErrors <= 5) violations.push(`imap: item ${position} failed with ${String(err)}`);
        }
      }
    }
  };
  report.hang = (await withDeadline(run(), "imap")) === "hang";
  report.seconds = (performance.now() - start) / 1000;
  report.deaths = method === "spawn" ? killsSent - killsBefore : items.filter((item) => item.die).length;
  if (!report.hang && report.ok + report.lost + report.otherErrors !== TASKS) {
    violations.push(`imap: ${report.ok} ok + ${report.lost} lost + ${report.otherErrors} other errors != ${TASKS} items`);
  }
  // A death loses the one task its worker was running, nothing else (a kill may land between tasks and lose none).
  if (!report.hang && method === "spawn" && report.lost > report.deaths) violations.push(`imap: ${report.lost} tasks lost to ${report.deaths} kills`);
  if (!report.hang && method === "thread" && report.lost !== report.deaths) violations.push(`imap: ${report.lost} tasks lost to ${report.deaths} self-exits`);
  return report;
}

/** Phase 2: map with retries (and, for threads, tasks that die only the first time): every value must come back. */
async function mapPhase(pool: Pool): Promise<PhaseReport> {
  const markers = mkdtempSync(join(tmpdir(), "pool-soak-"));
  const items = makeItems(markers);
  const report: PhaseReport = { phase: `map (retries ${RETRIES})`, ok: 0, lost: 0, otherErrors: 0, wrong: 0, deaths: 0, hang: false, seconds: 0 };
  const start = performance.now();
  const killsBefore = killsSent;
  try {
    const outcome = await withDeadline(
      pool.map(soakWork, items, { chunksize: 1, retries: RETRIES }).then(
        (values) => ({ values }),
        (error: unknown) => ({ error }),
      ),
      "map",
    );
    if (outcome === "hang") {
      report.hang = true;
    } else if ("error" in outcome) {
      if (outcome.error instanceof WorkerLostError) report.lost++;
      else report.otherErrors++;
      violations.push(`map with retries failed: ${String(outcome.error)}`);
    } else {
      for (const [i, result] of outcome.values.entries()) {
        note(result);
        if (result.square === i * i) report.ok++;
        else report.wrong++;
      }
      if (report.wrong > 0) violations.push(`map: ${report.wrong} values wrong`);
    }
  } finally {
    rmSync(markers, { recursive: true, force: true });
  }
  report.seconds = (performance.now() - start) / 1000;
  report.deaths = method === "spawn" ? killsSent - killsBefore : items.filter((item) => item.die).length;
  return report;
}

async function main(): Promise<void> {
  const shmBefore = shmEntries();
  console.log(`pool soak: ${method}, Pool(${PROCESSES}), ${TASKS} tasks per phase, seed ${seed}`);
  const pool = new Pool({ processes: PROCESSES, context: method, initializer: soakInit, initargs: [busyMarks] });
  for (const worker of poolWorkers()) seenPids.add(worker.pid!);
  const stopChaos = startChaos();
  const reports: PhaseReport[] = [];
  try {
    reports.push(await imapPhase(pool));
    if (!reports[0]!.hang) reports.push(await mapPhase(pool));
  } finally {
    stopChaos();
  }
  const stats = pool.stats();
  for (const worker of poolWorkers()) seenPids.add(worker.pid!);
  const liveBefore = poolWorkers();
  const terminated = await withDeadline(pool.terminate(), "terminate()");

  // What is left behind.
  const leftWorkers = new Set([...liveBefore.filter((worker) => worker.isAlive()), ...poolWorkers()]).size + pool.stats().workers;
  let leftPids: number[] = [];
  if (method === "spawn") {
    // Give the kernel a moment to reap what terminate() killed.
    for (let i = 0; i < 50 && [...seenPids].some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    leftPids = [...seenPids].filter(alive);
  }
  const shmNew = [...shmEntries()].filter((name) => !shmBefore.has(name));
  const shmLeaked = shmNew.filter((name) => shmOurs.has(name));
  const shmOthers = shmNew.filter((name) => !shmOurs.has(name));
  if (terminated === "hang") violations.push("terminate() hung");
  if (leftWorkers > 0) violations.push(`${leftWorkers} pool workers still alive after terminate()`);
  if (leftPids.length > 0) violations.push(`worker pids still running after terminate(): ${leftPids.join(", ")}`);
  if (shmLeaked.length > 0) violations.push(`new /dev/shm entries left by this run: ${shmLeaked.join(", ")}`);

  const table = reports.map((r) => ({
    phase: r.phase,
    "tasks ok": r.ok,
    "lost (WorkerLostError)": r.lost,
    "other errors": r.otherErrors,
    "wrong values": r.wrong,
    [method === "spawn" ? "kills sent" : "self-exits planned"]: r.deaths,
    hang: r.hang ? "YES" : "no",
    seconds: Number(r.seconds.toFixed(1)),
  }));
  console.table(table);
  console.table([
    {
      "workers replaced (stats)": stats.workersReplaced,
      "tasks done / failed (stats)": `${stats.tasksDone} / ${stats.tasksFailed}`,
      "all ok results correct": reports.every((r) => r.wrong === 0) ? "yes" : "NO",
      "worker pids seen": method === "spawn" ? seenPids.size : "n/a (threads)",
      "workers left after terminate": method === "spawn" ? leftPids.length : leftWorkers,
      "new /dev/shm entries (ours)": shmLeaked.length,
    },
  ]);
  if (shmOthers.length > 0) console.log(`(new /dev/shm entries not held by this run, from other programs: ${shmOthers.length})`);
  if (violations.length > 0) {
    console.log(`FAIL: ${violations.length} violation(s)`);
    for (const violation of violations) console.log(`  - ${violation}`);
    process.exit(1);
  }
  console.log("PASS");
  process.exit(0);
}

await main();
