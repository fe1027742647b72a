/*
 * What bench/run.ts compares, per metric: which implementations get a ratio
 * column (the references) and the goals the issues set. A metric that is not
 * listed here is still printed, just without ratios or goals.
 *
 * `impl` and `metric` strings must match what the workload scripts print.
 */
export interface Goal {
  impl: string;
  vs: string;
  /** Pass when impl is at most this many times worse than vs (slower, or lower throughput). */
  within: number;
  issue: string;
}

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
};
