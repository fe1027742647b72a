/*
 * Workload "pool" (issue #5): a Pool of 2 workers, multiproc (spawn and thread contexts) against
 * Python's multiprocessing.Pool(2) (bench/python/pool.py prints the same metrics) and the Node thread
 * pools piscina, tinypool and workerpool, each with exactly 2 workers.
 *
 *   pool 200k × x*x, one task per item          tasks/s. multiproc: await pool.map(square, items, { chunksize: 1 }).
 *                                               Peers: one run("square", x) per item, PEER_ITEMS of them, at most
 *                                               WINDOW in flight (see below).
 *   pool 200k × x*x, chunks of 100              items/s. multiproc: map(square, items, { chunksize: 100 }).
 *                                               Peers: 2,000 tasks of squareChunk(100 items), results flattened.
 *   pool 200k × x*x, map default chunksize      items/s. multiproc: map(square, items) (Python's rule: 8 chunks
 *                                               of 25,000 for 2 workers). Peers: 8 tasks of squareChunk(25,000).
 *   pool 64 × ~20 ms CPU tasks, speedup over serial
 *                                               x. burn(n), n fixed (≈20 ms on the bench machine): each
 *                                               round times 64 × burn(n) serially here, then each pool's
 *                                               map(burn, 64 × [n], { chunksize: 1 }) (peers: 64 tasks); speedup =
 *                                               serial ms of the round / pool ms.
 *   create Pool(2) + 1 task + shut down         ms. new Pool({ processes: 2, context }), await apply(square, [3]),
 *                                               await terminate(); peers: constructor with 2 threads, one run, destroy.
 *                                               "(cold)": multiproc with its warm standby off (MULTIPROC_STANDBY=0).
 *                                               Each run first waits for a quiet machine (settle()).
 *
 * One pool per implementation lives through the first four workloads (a warm pool, as a program would keep:
 * before the first measured round each runs WARM_ITEMS square tasks and WARM_BURNS burns); the last one
 * creates a fresh pool every run. Every result is checked, after the clock stops.
 *
 * Peers submit tasks through `submitAll`, which keeps at most WINDOW (1,024) tasks in flight: tinypool and
 * workerpool slow down with the length of their queue (with all 200,000 tasks queued at once, both ran at
 * ≈7k tasks/s instead of 20–30k/s), and piscina is also faster with a window. At 20–40k tasks/s the peers
 * would take 5–10 s a run for 200k items, so the one-task-per-item peers do PEER_ITEMS (50,000), the first
 * items of the same list; a rate, the metric compares as it is.
 *
 * multiproc's Pool is looked up at run time: when dist/ does not export it yet, its rows are skipped and a
 * note says so; the peers are measured either way.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as multiproc from "../../dist/index.js";
import { Piscina } from "piscina";
import { Tinypool } from "tinypool";
import workerpool from "workerpool";
import { compare, now, RUNS as DEFAULT_RUNS } from "../lib/measure.mjs";
import { burn, square } from "../lib/pool_targets.mjs";

const PER_ITEM = "pool 200k × x*x, one task per item";
const CHUNKS_100 = "pool 200k × x*x, chunks of 100";
const CHUNKS_DEFAULT = "pool 200k × x*x, map default chunksize";
const SPEEDUP = "pool 64 × ~20 ms CPU tasks, speedup over serial";
const CREATE = "create Pool(2) + 1 task + shut down";

const N = 200_000;
const PEER_ITEMS = 50_000;
const WINDOW = 1024;
const BURN_TASKS = 64;
/**
 * burn(BURN_N) takes ≈20 ms on the bench machine (calibrated once: a calibration at every start moved with the
 * machine's load of the moment, and a script once got 11 ms tasks out of it). A constant keeps the work the
 * same from run to run; the note the script prints gives the serial time per task it measured.
 */
const BURN_N = 10_000_000;
/** A run taking longer than this is taken as stuck (the slowest, a peer's 50,000 tasks, takes ≈2 s). */
const RUN_LIMIT_MS = 60_000;
const CREATE_LIMIT_MS = 10_000;
/** Before each create run: wait for this long a quiet machine, at most SETTLE_MAX_MS (see settle()). */
const SETTLE_MS = 50;
const SETTLE_MAX_MS = 500;
/** Python's map() rule for 2 workers: divmod(len, 2 * 4), rounded up. */
const DEFAULT_CHUNK = Math.ceil(N / (2 * 4));

// Run counts: the heavy workloads (one task per item, the 64 burns) are capped so the script stays near 2 minutes.
// Their warm-up is a smaller pass (WARM_ITEMS tasks, WARM_BURNS burns) per pool rather than full rounds.
const HEAVY_RUNS = Math.min(DEFAULT_RUNS, 5);
const LIGHT_RUNS = Math.min(DEFAULT_RUNS, 10);
// The speedup moves 2–3% from round to round (the five pools traded places between runs of 5 and 7 rounds on
// 4 December), as wide as the gaps between them: 9 rounds (~45 s) for a steadier median. bench/python/pool.py too.
const SPEEDUP_RUNS = Math.min(DEFAULT_RUNS, 9);
const WARM_ITEMS = 20_000;
const WARM_BURNS = 8;

const targetsFile = fileURLToPath(new URL("../lib/pool_targets.mjs", import.meta.url));
const workerpoolScript = fileURLToPath(new URL("../lib/workerpool_worker.mjs", import.meta.url));
const items = Array.from({ length: N }, (_, i) => i);
const peerItems = items.slice(0, PEER_ITEMS);

/** Each implementation: a function that opens its pool, resolving with { warm, map1, mapChunks, mapDefault, burnAll, close }. */
function multiprocImpl(context) {
  return async () => {
    const pool = new multiproc.Pool({ processes: 2, context });
    return {
      warm: async (n) => {
        await pool.map(square, items.slice(0, WARM_ITEMS), { chunksize: 1 });
        await pool.map(burn, new Array(WARM_BURNS).fill(n), { chunksize: 1 });
      },
      map1: () => pool.map(square, items, { chunksize: 1 }),
      mapChunks: () => pool.map(square, items, { chunksize: 100 }),
      mapDefault: () => pool.map(square, items),
      burnAll: (n) => pool.map(burn, new Array(BURN_TASKS).fill(n), { chunksize: 1 }),
      close: () => pool.terminate(),
    };
  };
}

/** A peer pool, given its `run(name, arg)`: the same workloads as tasks of the shared targets. */
function peer(run, close) {
  return {
    warm: async (n) => {
      await submitAll(run, "square", items.slice(0, WARM_ITEMS));
      await submitAll(run, "burn", new Array(WARM_BURNS).fill(n));
    },
    map1: () => submitAll(run, "square", peerItems),
    mapChunks: () => chunked(run, 100),
    mapDefault: () => chunked(run, DEFAULT_CHUNK),
    burnAll: (n) => submitAll(run, "burn", new Array(BURN_TASKS).fill(n)),
    close,
  };
}

/** One task per arg, at most WINDOW in flight; results in order. */
async function submitAll(run, name, args) {
  const out = new Array(args.length);
  let next = 0;
  async function lane() {
    while (next < args.length) {
      const i = next++;
      out[i] = await run(name, args[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(WINDOW, args.length) }, lane));
  return out;
}

/** The items as squareChunk tasks of `size`, results flattened into one array (what map() returns). */
async function chunked(run, size) {
  const chunks = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  const parts = await submitAll(run, "squareChunk", chunks);
  const out = new Array(items.length);
  let k = 0;
  for (const part of parts) for (let j = 0; j < part.length; j++) out[k++] = part[j];
  return out;
}

const piscinaOptions = () => ({ filename: targetsFile, minThreads: 2, maxThreads: 2 });
const workerpoolOptions = () => ({ minWorkers: 2, maxWorkers: 2 });

const peers = {
  piscina: async () => {
    const pool = new Piscina(piscinaOptions());
    return peer((name, arg) => pool.run(arg, { name }), () => pool.destroy());
  },
  tinypool: async () => {
    const pool = new Tinypool(piscinaOptions());
    return peer((name, arg) => pool.run(arg, { name }), () => pool.destroy());
  },
  workerpool: async () => {
    const pool = workerpool.pool(workerpoolScript, workerpoolOptions());
    return peer((name, arg) => pool.exec(name, [arg]), () => pool.terminate());
  },
};

/** Create + one task + shut down, per implementation. */
const creators = {
  "multiproc spawn": () => createMultiproc("spawn"),
  "multiproc spawn (cold)": () => createMultiprocCold("spawn"),
  "multiproc thread": () => createMultiproc("thread"),
  "multiproc thread (cold)": () => createMultiprocCold("thread"),
  piscina: async () => {
    const pool = new Piscina(piscinaOptions());
    const r = await pool.run(3, { name: "square" });
    await pool.destroy();
    return r;
  },
  tinypool: async () => {
    const pool = new Tinypool(piscinaOptions());
    const r = await pool.run(3, { name: "square" });
    await pool.destroy();
    return r;
  },
  workerpool: async () => {
    const pool = workerpool.pool(workerpoolScript, workerpoolOptions());
    const r = await pool.exec("square", [3]);
    await pool.terminate();
    return r;
  },
};

async function createMultiproc(context) {
  const pool = new multiproc.Pool({ processes: 2, context });
  const r = await pool.apply(square, [3]);
  await pool.terminate();
  return r;
}

/** The same with the warm standby off for this run (MULTIPROC_STANDBY=0): every worker boots a runtime. */
async function createMultiprocCold(context) {
  process.env.MULTIPROC_STANDBY = "0";
  try {
    return await createMultiproc(context);
  } finally {
    delete process.env.MULTIPROC_STANDBY;
  }
}

/** Busy and total CPU ticks of the whole machine (/proc/stat), as bench/run.ts reads them. */
function machineTicks() {
  const fields = readFileSync("/proc/stat", "latin1").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3] - fields[4] - fields[7], total };
}

/**
 * Wait (at most SETTLE_MAX_MS) for SETTLE_MS in which the machine is idle (at most 10% busy), so that what the
 * last pool left running (threads still being torn down after destroy() resolved, multiproc's standby spare
 * booting for the next start) does not land in the next pool's time.
 */
async function settle() {
  const deadline = now() + SETTLE_MAX_MS;
  while (now() < deadline) {
    const before = machineTicks();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const after = machineTicks();
    if ((after.busy - before.busy) * 10 <= after.total - before.total) return;
  }
}

function checkSquares(impl, out, n) {
  let ok = Array.isArray(out) && out.length === n;
  for (let i = 0; ok && i < n; i++) ok = out[i] === i * i;
  if (!ok) throw new Error(`${impl}: wrong squares (length ${out?.length})`);
}

/**
 * [ms, result] of fn(). A run that has not finished after `limitMs` fails the script with the implementation's
 * name (instead of hanging until bench/run.ts kills it, with no word on which pool was stuck).
 */
async function timed(fn, impl, limitMs = RUN_LIMIT_MS) {
  let timer;
  const stuck = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${impl}: a run did not finish in ${limitMs / 1000} s`)), limitMs);
  });
  try {
    const t0 = now();
    const out = await Promise.race([fn(), stuck]);
    return [now() - t0, out];
  } finally {
    clearTimeout(timer);
  }
}

if (multiproc.isMain(import.meta)) {
  const impls = {};
  if (typeof multiproc.Pool === "function") {
    impls["multiproc spawn"] = multiprocImpl("spawn");
    impls["multiproc thread"] = multiprocImpl("thread");
  } else {
    console.log("note: multiproc rows skipped: dist/index.js does not export Pool yet (npm run build once src/pool.ts is in)");
    for (const impl of Object.keys(creators)) if (impl.startsWith("multiproc")) delete creators[impl];
  }
  Object.assign(impls, peers);

  const n = BURN_N;
  const expected = burn(n);
  const open = {};
  for (const [impl, make] of Object.entries(impls)) open[impl] = await make();
  // Warm-up: each pool's workers run both kinds of task before the first measured round (JIT, lazy starts).
  for (let i = 0; i < WARM_BURNS; i++) burn(n);
  for (const pool of Object.values(open)) await pool.warm(n);

  const cases = (unit, workload) =>
    Object.entries(open).map(([impl, pool]) => ({ impl, unit, run: () => workload(impl, pool) }));

  await compare(
    cases("tasks/s", async (impl, pool) => {
      const [ms, out] = await timed(pool.map1, impl);
      const count = impl.startsWith("multiproc") ? N : PEER_ITEMS;
      checkSquares(impl, out, count);
      return { [PER_ITEM]: (count / ms) * 1000 };
    }),
    { runs: HEAVY_RUNS, warmup: 0 },
  );
  for (const [metric, key] of [[CHUNKS_100, "mapChunks"], [CHUNKS_DEFAULT, "mapDefault"]]) {
    await compare(
      cases("items/s", async (impl, pool) => {
        const [ms, out] = await timed(pool[key], impl);
        checkSquares(impl, out, N);
        return { [metric]: (N / ms) * 1000 };
      }),
      { runs: LIGHT_RUNS },
    );
  }

  // Each round: 64 × burn(n) serially on this thread first (the round's reference), then each pool.
  let serialMs = 0;
  const serialTimes = [];
  await compare(
    [
      {
        impl: "serial",
        unit: "x",
        run: async () => {
          const t0 = now();
          let bad = 0;
          for (let i = 0; i < BURN_TASKS; i++) if (burn(n) !== expected) bad++;
          serialMs = now() - t0;
          if (bad) throw new Error("serial burn: wrong result");
          serialTimes.push(serialMs);
          return {};
        },
      },
      ...cases("x", async (impl, pool) => {
        const [ms, out] = await timed(() => pool.burnAll(n), impl);
        if (out.length !== BURN_TASKS || out.some((v) => v !== expected)) throw new Error(`${impl}: wrong burn results`);
        return { [SPEEDUP]: serialMs / ms };
      }),
    ],
    { runs: SPEEDUP_RUNS, warmup: 0 },
  );
  serialTimes.sort((a, b) => a - b);
  const serialMedian = serialTimes[serialTimes.length >> 1];
  console.log(`note: burn n = ${n.toLocaleString("en-US")}; serial task here: ` +
    `${(serialMedian / BURN_TASKS).toFixed(1)} ms (median round / ${BURN_TASKS})`);

  for (const pool of Object.values(open)) await pool.close();

  await compare(
    Object.entries(creators).map(([impl, create]) => ({
      impl,
      unit: "ms",
      run: async () => {
        await settle();
        const [ms, r] = await timed(create, impl, CREATE_LIMIT_MS);
        if (r !== 9) throw new Error(`${impl}: apply returned ${r}`);
        return { [CREATE]: ms };
      },
    })),
  );
}
