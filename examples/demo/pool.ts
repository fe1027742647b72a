/*
 * Demo scenes for Pool: a CPU-bound map over two workers against the same
 * work done serially (with progress reported as it goes), and a worker that
 * dies in the middle of a task without hanging the pool, on "spawn" and on
 * "thread".
 *
 * Targets are exported: the workers import this module to find them.
 */
import { Pool, Value, WorkerLostError, currentProcess, type StartMethod } from "multiproc";
import { setTimeout as sleep } from "node:timers/promises";
import { isMainThread } from "node:worker_threads";
import { say, secondsSince, type Scene } from "./scene.ts";
import { countPrimes } from "../pool-map.ts";

// ---- targets ---------------------------------------------------------------

/** A pool initializer: counts the workers that are up. */
export function workerUp(up: Value<"i">): void {
  up.add(1);
}

/** n², and who computed it; the worker running n = 3 exits in the middle of it. */
export function squareOrDie(n: number): string {
  if (n === 3) process.exit(1);
  return `${n * n} from ${currentProcess().name} (${isMainThread ? "pid" : "a thread in pid"} ${process.pid})`;
}

// ---- scenes ----------------------------------------------------------------

const primesMap: Scene = {
  title: "Pool: a CPU-bound map with progress, 2 workers vs serial [spawn]",
  async run() {
    const ranges: [number, number][] = Array.from({ length: 24 }, (_, i) => [i * 100_000, (i + 1) * 100_000]);
    const up = new Value("i", 0);
    const pool = new Pool({ processes: 2, initializer: workerUp, initargs: [up] });
    while (up.value < 2) await sleep(10); // both workers are up: their start is not timed below
    // onProgress is called as ranges finish; its lines are printed after the map, so as not to mix with the bar.
    const reported: string[] = [];
    let next = 0;
    const start = performance.now();
    const counts = await pool.map(countPrimes, ranges, {
      chunksize: 1,
      progress: "primes",
      onProgress(done, total) {
        if (done < next && done !== total) return;
        reported.push(`progress: ${String(done).padStart(2)}/${total} ranges after ${secondsSince(start)}`);
        next = done + 8;
      },
    });
    const parallelMs = performance.now() - start;
    for (const line of reported) say(line);
    const primes = counts.reduce((a, b) => a + b, 0);
    say(`Pool(2).map: ${primes} primes below ${ranges.length / 10} million in ${(parallelMs / 1000).toFixed(2)} s`);
    await pool.terminate();

    const serialStart = performance.now();
    const serial = ranges.map(countPrimes).reduce((a, b) => a + b, 0);
    const serialMs = performance.now() - serialStart;
    say(`serially, here:  ${serial} primes in ${(serialMs / 1000).toFixed(2)} s`);
    say(`speedup ×${(serialMs / parallelMs).toFixed(2)} on 2 workers (the machine is shared: less if its CPUs are busy)`);
  },
};

function workerDies(method: StartMethod): Scene {
  return {
    title: `Pool: a worker dies, the pool does not hang [${method}]`,
    async run() {
      const pool = new Pool({ processes: 2, context: method });
      const calls = [0, 1, 2, 3, 4, 5].map((n) => pool.applyAsync(squareOrDie, [n]));
      for (const [n, call] of calls.entries()) {
        try {
          say(`squareOrDie(${n}) = ${await call}`);
        } catch (err) {
          if (!(err instanceof WorkerLostError)) throw err;
          say(`squareOrDie(${n}) → WorkerLostError: ${err.message}`);
        }
      }
      const { workersReplaced, tasksDone, tasksFailed, workers } = pool.stats();
      say(`stats(): tasksDone ${tasksDone}, tasksFailed ${tasksFailed}, workersReplaced ${workersReplaced}, workers ${workers}`);
      say(`the pool still works: squareOrDie(7) = ${await pool.apply(squareOrDie, [7])}`);
      say("(Python's pool would never settle squareOrDie(3): its get() waits forever)");
      pool.close();
      await pool.join();
    },
  };
}

export const poolScenes: Scene[] = [primesMap, workerDies("spawn"), workerDies("thread")];
