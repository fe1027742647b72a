/*
 * Workload "pool latency" (issue 11): what a program that maps once sees.
 * multiproc (spawn and thread contexts) against Python's multiprocessing.Pool
 * (bench/python/pool_latency.py prints the same metrics).
 *
 *   pool fresh Pool(2): first map of 20k × x*x, chunksize 1
 *                                   tasks/s. Each run: a new Pool(2), one 100-item map (chunksize 1), then the
 *                                   measured map(square, 20,000 items, { chunksize: 1 }); the pool is terminated
 *                                   after the clock stops.
 *   pool Pool(2).map of 2 × ~200 ms CPU tasks, time / one task's
 *   pool Pool(4).map of 4 × ~200 ms CPU tasks, time / one task's
 *                                   x. Each round runs one burn(n) here (the round's reference), then
 *                                   map(burn, [n, n]) / [n, n, n, n] on a warm pool (one round first), default
 *                                   chunksize. On 2 free cores the ideal is 1 for 2 tasks, 2 for 4. A ratio, so
 *                                   that Python's slower burn compares: the work differs, the shape does not.
 *
 * burn(n) is a fixed amount of CPU work (bench/lib/pool_targets.mjs), n ≈ 200 ms on the bench machine.
 */
import * as multiproc from "../../dist/index.js";
import { compare, now, RUNS as DEFAULT_RUNS } from "../lib/measure.mjs";
import { burn, square } from "../lib/pool_targets.mjs";

const FIRST_MAP = "pool fresh Pool(2): first map of 20k × x*x, chunksize 1";
const TWO = "pool Pool(2).map of 2 × ~200 ms CPU tasks, time / one task's";
const FOUR = "pool Pool(4).map of 4 × ~200 ms CPU tasks, time / one task's";
const N = 20_000;
/** burn(BURN_N) ≈ 200 ms on the bench machine (ten times bench/node/pool.mjs's 20 ms burn). */
const BURN_N = 100_000_000;
const RUNS = Math.min(DEFAULT_RUNS, 10);

const items = Array.from({ length: N }, (_, i) => i);
const warmItems = items.slice(0, 100);

function checkSquares(out) {
  if (out.length !== N || out.some((v, i) => v !== i * i)) throw new Error(`wrong squares (length ${out.length})`);
}

async function firstMap(context) {
  const pool = new multiproc.Pool({ processes: 2, context });
  try {
    await pool.map(square, warmItems, { chunksize: 1 });
    const t0 = now();
    const out = await pool.map(square, items, { chunksize: 1 });
    const ms = now() - t0;
    checkSquares(out);
    return { [FIRST_MAP]: (N / ms) * 1000 };
  } finally {
    await pool.terminate();
  }
}

const expected = burn(BURN_N);

/** One burn here, then `count` burns through `pool`: the pool's time over the one task's. */
async function burnRatio(pool, count) {
  let t0 = now();
  if (burn(BURN_N) !== expected) throw new Error("wrong burn");
  const one = now() - t0;
  t0 = now();
  const out = await pool.map(burn, new Array(count).fill(BURN_N));
  const ms = now() - t0;
  if (out.length !== count || out.some((v) => v !== expected)) throw new Error("wrong burn results");
  return ms / one;
}

await compare(
  ["spawn", "thread"].map((context) => ({ impl: `multiproc ${context}`, unit: "tasks/s", run: () => firstMap(context) })),
  { runs: RUNS },
);

const pools = {};
for (const context of ["spawn", "thread"]) {
  pools[context] = { two: new multiproc.Pool({ processes: 2, context }), four: new multiproc.Pool({ processes: 4, context }) };
}
try {
  const cases = Object.entries(pools).map(([context, { two, four }]) => ({
    impl: `multiproc ${context}`,
    unit: "x",
    run: async () => ({ [TWO]: await burnRatio(two, 2), [FOUR]: await burnRatio(four, 4) }),
  }));
  await compare(cases, { runs: RUNS, warmup: 1 });
} finally {
  await Promise.all(Object.values(pools).flatMap(({ two, four }) => [two.terminate(), four.terminate()]));
}
