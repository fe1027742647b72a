// Beyond the seeds (which stop at apply_async): Pool's map family, and what
// happens when a worker dies in the middle of a task.
// Shows:
//   - map() of a CPU-bound function (counting primes in ranges) over two
//     workers, with onProgress reporting items done and `progress: "primes"`
//     (a bar on stderr, drawn only when stderr is a terminal);
//   - imap(): results stream in input order while later ones still run;
//   - imapUnordered(): results in the order they finish;
//   - a target that calls process.exit(1) for one input of an imap: only
//     that item fails, with WorkerLostError, the others arrive, and the pool
//     replaces the worker. (Python's pool never settles that task: it hangs.)
//
// Run: node --import tsx examples/pool-map.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, WorkerLostError, isMain } from "multiproc";

/** How many primes lie in [lo, hi): plain trial division, to keep a CPU busy. */
export function countPrimes([lo, hi]: [number, number]): number {
  let count = 0;
  for (let n = Math.max(lo, 2); n < hi; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

export async function slowSquare(n: number): Promise<string> {
  await sleep(n * 60);
  return `${n}² = ${n * n} (pid ${process.pid})`;
}

export function fragileSquare(n: number): string {
  if (n === 3) process.exit(1); // the worker dies in the middle of this task
  return `${n}² = ${n * n} (pid ${process.pid})`;
}

function seconds(start: number): string {
  return `${((performance.now() - start) / 1000).toFixed(2)} s`;
}

if (isMain(import.meta)) {
  const pool = new Pool(2);

  console.log("-- map: primes below 2,000,000 in 20 ranges, on 2 workers --");
  const ranges: [number, number][] = Array.from({ length: 20 }, (_, i) => [i * 100_000, (i + 1) * 100_000]);
  // onProgress is called as items finish; the lines are printed after the map, so as not to mix with the bar.
  const reported: string[] = [];
  let milestone = 0;
  let start = performance.now();
  const counts = await pool.map(countPrimes, ranges, {
    chunksize: 1,
    progress: "primes",
    onProgress(done, total) {
      if (done === total || done >= milestone) {
        reported.push(`  progress: ${done}/${total} ranges done after ${seconds(start)}`);
        milestone = done + 5;
      }
    },
  });
  for (const line of reported) console.log(line);
  console.log(`  ${counts.reduce((a, b) => a + b, 0)} primes below 2,000,000 (first ranges: ${counts.slice(0, 4).join(", ")}, ...) in ${seconds(start)}`);

  console.log("\n-- imap: in input order, each as soon as it and those before it are done --");
  start = performance.now();
  for await (const line of pool.imap(slowSquare, [6, 1, 2, 1, 2, 1])) console.log(`  ${seconds(start)}  ${line}`);

  console.log("\n-- imapUnordered: in the order they finish --");
  start = performance.now();
  for await (const line of pool.imapUnordered(slowSquare, [6, 1, 2, 1, 2, 1])) console.log(`  ${seconds(start)}  ${line}`);

  console.log("\n-- a worker dies in the middle of one item of an imap --");
  const results = pool.imap(fragileSquare, [0, 1, 2, 3, 4, 5, 6]);
  for (let n = 0; n < 7; n++) {
    try {
      console.log(`  fragileSquare(${n}): ${(await results.next()).value}`);
    } catch (err) {
      if (!(err instanceof WorkerLostError)) throw err;
      console.log(`  fragileSquare(${n}): WorkerLostError: ${err.message} (exitCode ${err.exitCode})`);
    }
  }
  const stats = pool.stats();
  console.log(`  the pool goes on: workersReplaced = ${stats.workersReplaced}, workers = ${stats.workers}, tasksFailed = ${stats.tasksFailed}`);
  console.log(`  and still works: ${await pool.apply(fragileSquare, [7])}`);

  pool.close();
  await pool.join();
}
