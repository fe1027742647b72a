// Mirrors seed 002_718d0dbe59824e89.txt §2 "常用方法", apply_async and the
// AsyncResult table: Pool(4), four p.apply_async(worker, (i,),
// callback=callback, error_callback=callback), each result logged at once,
// then a loop that polls ready() until all are done and logs every get().
// Shows: applyAsync() returns at once (the "-----end------" line comes
// before any task finishes); the four tasks run in parallel on four
// workers; the callback runs in the main process with each value as it
// arrives. Beyond the seed: get(timeout) throwing TimeoutError, ready() and
// successful() before and after, and the errorCallback of a task that throws.
// The seed's 2 s sleep is 0.5 s here, its 1 s polling interval 0.1 s.
//
// Run: node --import tsx examples/pool-apply-async.ts
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, TimeoutError, currentProcess, isMain, type AsyncResult } from "multiproc";

function log(message: string): void {
  console.log(`${process.pid} ${currentProcess().name} ${message}`);
}

export async function worker(k: number): Promise<number> {
  await sleep(500);
  log(`printing-${k}`);
  return k + 5;
}

export async function fails(k: number): Promise<number> {
  await sleep(100);
  throw new RangeError(`no value for ${k}`);
}

function callback(value: unknown): void {
  log(`callback: ${value instanceof Error ? `${value.name}: ${value.message}` : String(value)}\t type=${typeof value}`);
}

if (isMain(import.meta)) {
  const p = new Pool(4);
  const reqs: AsyncResult<number>[] = [];
  for (let i = 0; i < 4; i++) {
    const req = p.applyAsync(worker, [i], { callback, errorCallback: callback });
    log(`${req}~~~~~~~~${req.constructor.name}`);
    reqs.push(req);
  }
  console.log("-----end------");
  let polls = 0;
  for (;;) {
    polls++;
    if (reqs.every((r) => r.ready())) {
      for (const r of reqs) log(`get() → ${await r.get()}`);
      break;
    }
    await sleep(100);
  }
  console.log(`all four ready after ${polls} polls of ready(); successful() = [${reqs.map((r) => r.successful()).join(", ")}]`);

  console.log("\n-- get(timeout), successful(), errorCallback --");
  const slow = p.applyAsync(worker, [10]);
  try {
    await slow.get(100);
  } catch (err) {
    log(`get(100) → ${err instanceof TimeoutError ? "TimeoutError" : "?"}: ${(err as Error).message}; ready() = ${slow.ready()}`);
  }
  try {
    slow.successful();
  } catch (err) {
    log(`successful() before it is ready throws: ${(err as Error).message}`);
  }
  log(`get() without a timeout → ${await slow.get()}; successful() = ${slow.successful()}`);

  const bad = p.applyAsync(fails, [7], { callback, errorCallback: callback });
  await bad.wait(); // wait() never throws the task's error
  log(`a task that throws: ready() = ${bad.ready()}, successful() = ${bad.successful()}`);
  try {
    await bad.get();
  } catch (err) {
    log(`get() rethrows it: ${(err as Error).name}: ${(err as Error).message}`);
  }
  p.close();
  await p.join();
}
