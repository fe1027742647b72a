/*
 * Helpers shared by the Node workload scripts (bench/node/*.mjs): run cases
 * round-robin, summarise samples, print one JSON line per (impl, metric).
 * bench/run.ts reads those lines; the format is the same as bench/python/_measure.py.
 */
import { performance } from "node:perf_hooks";

/** Number of measured runs per case (BENCH_RUNS overrides, e.g. BENCH_RUNS=5 for a smoke run). */
export const RUNS = Number(process.env.BENCH_RUNS) || 30;
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);

export const now = () => performance.now();

// Children inherit execArgv and NODE_OPTIONS: a loader such as tsx would add its boot time to every child measured.
if (process.execArgv.length > 0 || process.env.NODE_OPTIONS) {
  console.error(`warning: run workload scripts with plain node (execArgv ${JSON.stringify(process.execArgv)}, ` +
    `NODE_OPTIONS ${JSON.stringify(process.env.NODE_OPTIONS ?? "")}): children inherit them`);
}

/**
 * Run every case WARMUP times, then RUNS times, interleaved (case 1, case 2, ..., case 1, ...)
 * so that a slow spell of the machine hits all of them alike rather than one.
 * A case is `{ impl, unit, run }`; `run()` resolves with `{ [metric]: value }` for one run.
 * Prints one line per (impl, metric) with the median.
 */
export async function compare(cases, { runs = RUNS, warmup = WARMUP } = {}) {
  const samples = new Map(); // `${impl}\0${metric}` -> { impl, metric, unit, values }
  for (let round = -warmup; round < runs; round++) {
    for (const c of cases) {
      const result = await c.run();
      if (round < 0) continue;
      for (const [metric, value] of Object.entries(result)) {
        const key = `${c.impl}\0${metric}`;
        if (!samples.has(key)) samples.set(key, { impl: c.impl, metric, unit: c.unit, values: [] });
        samples.get(key).values.push(value);
      }
    }
  }
  for (const s of samples.values()) emit(s.impl, s.metric, s.values, s.unit);
}

/** Print the median of `values` as one JSON line; spread_pct is half the interquartile range, relative to the median. */
export function emit(impl, metric, values, unit) {
  const sorted = [...values].sort((a, b) => a - b);
  const value = quantile(sorted, 0.5);
  const spread = value === 0 ? 0 : ((quantile(sorted, 0.75) - quantile(sorted, 0.25)) / 2 / value) * 100;
  const line = { impl, metric, value: round(value), unit, runs: values.length, spread_pct: round(spread) };
  process.stdout.write(JSON.stringify(line) + "\n");
}

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function round(x) {
  return Number(x.toPrecision(4));
}
