// Target functions for bench/node/pool.mjs. The same module serves every pool: multiproc's workers
// find `square`, `squareChunk` and `burn` here by reference (module URL + export name), piscina and
// tinypool load it as their worker file and call the export named in `run(task, { name })`, and
// workerpool's worker script (workerpool_worker.mjs) registers them. It imports nothing: a worker
// loads it at start, so what it costs to load is part of the pool start-up measured.

export function square(x) {
  return x * x;
}

/** The peers' chunk task: the squares of one slice of the items. */
export function squareChunk(xs) {
  const out = new Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i] * xs[i];
  return out;
}

/**
 * A fixed amount of CPU work: n rounds of xorshift32. Each round depends on the last and the result is
 * returned, so none of it can be optimised away; the caller calibrates n once (≈20 ms) and every run,
 * serial or in a pool, does the same n.
 */
export function burn(n) {
  let x = 2463534242 | 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}
