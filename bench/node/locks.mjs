/*
 * Workload "locks" (issue #3): cross-process Lock and Event, against Python's
 * multiprocessing (bench/python/locks.py prints the same metrics).
 *
 *   Lock acquire+release, uncontended    one process, LOOPS × (acquire, release), ops/s:
 *     multiproc acquireSync()            lock.acquireSync(); lock.release()
 *     multiproc await acquire()          await lock.acquire(); lock.release()
 *     Atomics CAS mutex (ref)            a hand-rolled compareExchange / exchange pair on a SharedArrayBuffer:
 *                                        the floor for a lock word in JavaScript
 *   Lock contended: 2 × 200k             two children, each 200,000 × (acquire, value.value += 1, release)
 *                                        on one Value("i"), ms from "go" until both are done; the total is
 *                                        checked to be exactly 400,000. The children live for the whole
 *                                        script (started once, ready before the first run); one run is one
 *                                        round: reset, go.release(2), wait for both done.
 *     multiproc Lock + Value             a separate Lock, acquireSync() (Value's .value never locks)
 *     multiproc Value.getLock()          the Value's own lock (an RLock, as Python's), acquireSync()
 *     multiproc await acquire()          a separate Lock, await acquire()
 *   Event set→wake p50 / p90, round trip / 2   a ping-pong of two Events with one child, ROUND_TRIPS per
 *                                        run: the parent sets ping and waits for pong; the child waits for
 *                                        ping, clears it, writes process.hrtime.bigint() (CLOCK_MONOTONIC,
 *                                        the same clock in every process) into a RawValue("q") and sets
 *                                        pong. set→wake = the parent's clock when its wait returns minus
 *                                        the child's stamp, in µs; p50 and p90 of one run's round trips.
 *                                        "round trip / 2" (median) cross-checks it.
 *     multiproc await wait()             await event.wait() on both ends
 *     multiproc waitSync()               event.waitSync() on both ends
 */
import {
  Event,
  Lock,
  Process,
  RawValue,
  Semaphore,
  Value,
  isMain,
} from "../../dist/index.js";
import { contend, echoAsync, echoSync } from "../lib/shared_targets.mjs";
import { compare, now } from "../lib/measure.mjs";

const UNCONTENDED = "Lock acquire+release, uncontended";
const CONTENDED = "Lock contended: 2 × 200k (acquire, += 1, release)";
const WAKE_P50 = "Event set→wake p50";
const WAKE_P90 = "Event set→wake p90";
const HALF_ROUND_TRIP = "Event round trip / 2";

const LOOPS = 1_000_000;
const PER_CHILD = 200_000;
const ROUND_TRIPS = 1_000;

// --- uncontended: one function per case, so that each loop is compiled for its own call sites.

function lockSync(lock) {
  const t0 = now();
  for (let i = 0; i < LOOPS; i++) {
    lock.acquireSync();
    lock.release();
  }
  return { [UNCONTENDED]: (LOOPS / (now() - t0)) * 1000 };
}

async function lockAsync(lock) {
  const t0 = now();
  for (let i = 0; i < LOOPS; i++) {
    await lock.acquire();
    lock.release();
  }
  return { [UNCONTENDED]: (LOOPS / (now() - t0)) * 1000 };
}

/** The reference: the least a lock word costs in JavaScript (no owner, no death detection, no futex). */
function atomicsMutex(words) {
  const t0 = now();
  for (let i = 0; i < LOOPS; i++) {
    if (Atomics.compareExchange(words, 0, 0, 1) !== 0) throw new Error("the reference mutex is never contended");
    if (Atomics.exchange(words, 0, 0) !== 1) throw new Error("unreachable");
  }
  return { [UNCONTENDED]: (LOOPS / (now() - t0)) * 1000 };
}

// --- contended

/** Two contender children that live across runs; run() is one round of 2 × PER_CHILD increments. */
async function contenders(lockOf, mode) {
  const value = new Value("i", 0);
  const lock = lockOf(value);
  const ready = new Semaphore(0);
  const go = new Semaphore(0);
  const done = new Semaphore(0);
  const stop = new Event();
  const children = [0, 1].map(() => new Process({ target: contend, args: [value, lock, PER_CHILD, mode, ready, go, done, stop] }));
  for (const child of children) child.start();
  for (const _ of children) await ready.acquire();
  return {
    run() {
      value.value = 0;
      const t0 = now();
      go.release(2);
      done.acquireSync();
      done.acquireSync();
      const ms = now() - t0;
      if (value.value !== 2 * PER_CHILD) throw new Error(`lost updates: total ${value.value}, expected ${2 * PER_CHILD}`);
      return { [CONTENDED]: ms };
    },
    async close() {
      stop.set();
      go.release(2);
      for (const child of children) {
        await child.join();
        if (child.exitCode !== 0) throw new Error(`contender exited with ${child.exitCode}`);
      }
    },
  };
}

// --- Event ping-pong

function quantile(values, q) {
  const sorted = Float64Array.from(values).sort();
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo] + (sorted[Math.ceil(pos)] - sorted[lo]) * (pos - lo);
}

function latencies(wake, roundTrip) {
  return { [WAKE_P50]: quantile(wake, 0.5), [WAKE_P90]: quantile(wake, 0.9), [HALF_ROUND_TRIP]: quantile(roundTrip, 0.5) / 2 };
}

/** One echo child that lives across runs, up when this resolves; run() is ROUND_TRIPS ping-pongs. */
async function echo(mode) {
  const ping = new Event();
  const pong = new Event();
  const stop = new Event();
  const stamp = new RawValue("q", 0n);
  const child = new Process({ target: mode === "async" ? echoAsync : echoSync, args: [ping, pong, stamp, stop] });
  child.start();
  await pong.wait(); // the child is up (a blocking wait here would keep the child's start from completing)
  pong.clear();
  const wake = new Float64Array(ROUND_TRIPS);
  const roundTrip = new Float64Array(ROUND_TRIPS);
  const hrtime = process.hrtime.bigint;
  return {
    run: mode === "async"
      ? async () => {
        for (let i = 0; i < ROUND_TRIPS; i++) {
          const t0 = hrtime();
          ping.set();
          await pong.wait();
          const t1 = hrtime();
          pong.clear();
          wake[i] = Number(t1 - stamp.value) / 1000;
          roundTrip[i] = Number(t1 - t0) / 1000;
        }
        return latencies(wake, roundTrip);
      }
      : () => {
        for (let i = 0; i < ROUND_TRIPS; i++) {
          const t0 = hrtime();
          ping.set();
          pong.waitSync();
          const t1 = hrtime();
          pong.clear();
          wake[i] = Number(t1 - stamp.value) / 1000;
          roundTrip[i] = Number(t1 - t0) / 1000;
        }
        return latencies(wake, roundTrip);
      },
    async close() {
      stop.set();
      ping.set();
      await child.join();
      if (child.exitCode !== 0) throw new Error(`echo child exited with ${child.exitCode}`);
    },
  };
}

if (isMain(import.meta)) {
  const lock = new Lock();
  const words = new Int32Array(new SharedArrayBuffer(64));
  await compare([
    { impl: "multiproc acquireSync()", unit: "ops/s", run: () => lockSync(lock) },
    { impl: "multiproc await acquire()", unit: "ops/s", run: () => lockAsync(lock) },
    { impl: "Atomics CAS mutex (ref)", unit: "ops/s", run: () => atomicsMutex(words) },
  ]);

  // Started one after the other: each waits until its children are up, so no start overlaps a measured round.
  const crews = [
    ["multiproc Lock + Value", await contenders(() => new Lock(), "sync")],
    ["multiproc Value.getLock()", await contenders((value) => value.getLock(), "sync")],
    ["multiproc await acquire()", await contenders(() => new Lock(), "async")],
  ];
  await compare(crews.map(([impl, crew]) => ({ impl, unit: "ms", run: crew.run })));
  for (const [, crew] of crews) await crew.close();

  const echoes = [
    ["multiproc await wait()", await echo("async")],
    ["multiproc waitSync()", await echo("sync")],
  ];
  await compare(echoes.map(([impl, e]) => ({ impl, unit: "µs", run: e.run })));
  for (const [, e] of echoes) await e.close();
}
