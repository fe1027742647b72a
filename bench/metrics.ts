/*
 * What bench/run.ts compares, per metric: which implementations get a ratio
 * column (the references) and the goals the issues set. A metric that is not
 * listed here is still printed, just without ratios or goals.
 *
 * `impl` and `metric` strings must match what the workload scripts print.
 */
/** A goal relative to another implementation in the same table. */
export interface RelativeGoal {
  impl: string;
  vs: string;
  /**
   * Pass when impl is at most this many times worse than vs (slower, or lower throughput).
   * Below 1 it asks impl to beat vs: 0.5 on a time is "at most half of vs", 1 / 1.5 on a
   * throughput "at least 1.5x vs".
   */
  within: number;
  issue: string;
}

/** A goal in the metric's own unit: pass when impl's value is no worse than `value` (at most, for a time). */
export interface AbsoluteGoal {
  impl: string;
  value: number;
  issue: string;
}

export type Goal = RelativeGoal | AbsoluteGoal;

export interface MetricSpec {
  /** Implementations to divide by, one ratio column each. */
  refs: string[];
  goals?: Goal[];
  /** Default: "lower" for time units (ns, µs, ms, s), "higher" otherwise (ops/s, MB/s, ...). */
  better?: "lower" | "higher";
}

export const metrics: Record<string, MetricSpec> = {
  "start+join no-op": {
    refs: ["raw fork", "raw Worker", "python spawn"],
    goals: [
      { impl: "multiproc spawn", vs: "raw fork", within: 1.15, issue: "#2" },
      { impl: "multiproc thread", vs: "raw Worker", within: 1.15, issue: "#2" },
      { impl: "multiproc spawn (cold)", vs: "raw fork", within: 1.15, issue: "#2, standby off" },
      { impl: "multiproc thread (cold)", vs: "raw Worker", within: 1.15, issue: "#2, standby off" },
    ],
  },
  "start() call": { refs: ["raw fork", "raw Worker", "python spawn"] },

  // locks: bench/node/locks.mjs, bench/python/locks.py
  "Lock acquire+release, uncontended": {
    refs: ["python mp.Lock", "Atomics CAS mutex (ref)"],
    goals: [
      { impl: "multiproc acquireSync()", vs: "python mp.Lock", within: 1 / 1.5, issue: "#3" },
      { impl: "multiproc await acquire()", value: 5_000_000, issue: "#3" },
    ],
  },
  "Lock contended: 2 × 200k (acquire, += 1, release)": {
    refs: ["python Lock + Value", "python Lock + RawValue"],
    goals: [{ impl: "multiproc Lock + Value", vs: "python Lock + Value", within: 0.5, issue: "#3" }],
  },
  "Event set→wake p50": {
    refs: ["python Event.wait()"],
    goals: [
      { impl: "multiproc await wait()", value: 60, issue: "#3" },
      { impl: "multiproc waitSync()", value: 15, issue: "#3" },
    ],
  },
  "Event set→wake p90": { refs: ["python Event.wait()"] },
  "Event round trip / 2": { refs: ["python Event.wait()"] },

  // shared memory: bench/node/shared_memory.mjs, bench/python/shared_memory.py
  "10M doubles: allocate": { refs: ["python Array('d', lock=False)"] },
  "10M doubles: child loop write": { refs: ["python Array('d', lock=False)"] },
  "10M doubles: parent sum": { refs: ["python Array('d', lock=False)"] },
  "10M doubles: end to end": {
    refs: ["python Array('d', lock=False)"],
    goals: [{ impl: "multiproc SharedArray", value: 1000, issue: "#3" }],
  },
  "10M doubles: bulk copy": {
    refs: ["node Float64Array.set, local (ref)", "python Array('d', lock=False)"],
    goals: [{ impl: "multiproc SharedArray", vs: "node Float64Array.set, local (ref)", within: 1 / 0.8, issue: "#3, >= 80% of memcpy" }],
  },

  // queues and pipes: bench/node/queues.mjs, bench/python/queues.py
  "200k small ints, 1 → 1": {
    refs: ["python Queue", "python SimpleQueue", "python Pipe", "node MessagePort, threads (ref)"],
    goals: [
      { impl: "multiproc Queue", value: 1_000_000, issue: "#4" },
      { impl: "multiproc Queue", vs: "python Queue", within: 1 / 10, issue: "#4" },
    ],
  },
  "20k × 64 KiB, 1 → 1": {
    refs: ["python Queue"],
    goals: [{ impl: "multiproc Queue", value: 3, issue: "#4" }],
  },
  "4 → 4, 200k ints": {
    refs: ["python Queue"],
    goals: [{ impl: "multiproc Queue", vs: "python Queue", within: 1 / 3, issue: "#4" }],
  },
  "Pipe round trip": {
    refs: ["python Pipe"],
    goals: [
      { impl: "multiproc Pipe, sync", value: 10, issue: "#4" },
      { impl: "multiproc Pipe, async", value: 40, issue: "#4" },
    ],
  },

  // Pool: bench/node/pool.mjs, bench/python/pool.py
  "pool 200k × x*x, one task per item": {
    refs: ["python fork", "piscina"],
    goals: [
      { impl: "multiproc spawn", value: 150_000, issue: "#5" },
      { impl: "multiproc thread", value: 150_000, issue: "#5" },
      { impl: "multiproc spawn", vs: "piscina", within: 1 / 3, issue: "#5" },
      { impl: "multiproc thread", vs: "piscina", within: 1 / 3, issue: "#5" },
    ],
  },
  "pool 200k × x*x, chunks of 100": {
    refs: ["python fork", "piscina"],
    goals: [
      { impl: "multiproc spawn", value: 3_000_000, issue: "#5" },
      { impl: "multiproc thread", value: 3_000_000, issue: "#5" },
    ],
  },
  "pool 200k × x*x, map default chunksize": {
    refs: ["python fork", "piscina"],
    goals: [
      { impl: "multiproc spawn", value: 5_500_000, issue: "#5" },
      { impl: "multiproc thread", value: 5_500_000, issue: "#5" },
    ],
  },
  "pool 64 × ~20 ms CPU tasks, speedup over serial": {
    refs: ["python fork", "piscina"],
    better: "higher",
    goals: [
      { impl: "multiproc spawn", value: 1.9, issue: "#5" },
      { impl: "multiproc thread", value: 1.9, issue: "#5" },
    ],
  },
  // Pool latency: bench/node/pool_latency.mjs, bench/python/pool_latency.py
  "pool fresh Pool(2): first map of 20k × x*x, chunksize 1": {
    refs: ["python fork"],
    goals: [
      { impl: "multiproc spawn", vs: "python fork", within: 1 / 4.5, issue: "#11" },
      { impl: "multiproc thread", vs: "python fork", within: 1 / 4.5, issue: "#11" },
    ],
  },
  "pool Pool(2).map of 2 × ~200 ms CPU tasks, time / one task's": {
    refs: ["python fork"],
    better: "lower",
    goals: [
      { impl: "multiproc spawn", value: 1.1, issue: "#11" },
      { impl: "multiproc thread", value: 1.1, issue: "#11" },
    ],
  },
  "pool Pool(4).map of 4 × ~200 ms CPU tasks, time / one task's": {
    refs: ["python fork"],
    better: "lower",
    goals: [
      { impl: "multiproc spawn", vs: "python fork", within: 1.1, issue: "#11" },
      { impl: "multiproc thread", vs: "python fork", within: 1.1, issue: "#11" },
    ],
  },
  "create Pool(2) + 1 task + shut down": {
    refs: ["python fork", "piscina"],
    goals: [
      { impl: "multiproc spawn", value: 40, issue: "#5" },
      { impl: "multiproc thread", value: 35, issue: "#5" },
    ],
  },

  // Pool on Redis: bench/node/redis_pool.mjs (2 `multiproc worker` processes against a plain BullMQ twin)
  "redis pool map 100k × x*x, default chunksize": {
    refs: ["plain BullMQ"],
    goals: [{ impl: "multiproc redis", vs: "plain BullMQ", within: 1 / 0.8, issue: "#14" }],
  },
  "redis pool apply latency, idle": {
    refs: ["plain BullMQ"],
    goals: [{ impl: "multiproc redis", vs: "plain BullMQ", within: 1.5, issue: "#14" }],
    },
  // managers: bench/node/managers.mjs, bench/python/managers.py
  "Manager dict set from a child, one at a time": {
    refs: ["python Manager()"],
    goals: [{ impl: "multiproc Manager()", vs: "python Manager()", within: 1 / 3, issue: "#13" }],
  },
  "Manager dict get from a child, one at a time": {
    refs: ["python Manager()"],
    goals: [{ impl: "multiproc Manager()", vs: "python Manager()", within: 1 / 3, issue: "#13" }],
  },
  "Manager dict set from a child, 64 in flight": {
    refs: ["python Manager() (no pipelining)"],
    goals: [{ impl: "multiproc Manager()", vs: "python Manager() (no pipelining)", within: 1 / 10, issue: "#13" }],
  },
  "Manager Queue 1→1, 20,000 items via a Pool worker": {
    refs: ["python Manager()"],
    goals: [{ impl: "multiproc Manager()", vs: "python Manager()", within: 1 / 3, issue: "#13" }],
  },
  "Remote manager over TCP, dict set one at a time": {
    refs: ["python SyncManager (TCP)"],
    goals: [{ impl: "multiproc SyncManager (TCP)", vs: "python SyncManager (TCP)", within: 1 / 1.5, issue: "#13" }],
  },
};
