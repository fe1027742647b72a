// Seed 004 "进程池中的Queue": a Pool(2) runs a writer and then a reader
// with Pool.apply (one after the other, so the reader finds everything the
// writer put); they share a `manager.Queue()`, a proxy that reconnects in
// each pool worker. (A plain `Queue` would do too here, and faster: this
// library's queues travel to pool workers, Python's do not.)
//
// Run: node --import tsx examples/manager-queue-pool.ts
import { Manager, Pool, isMain, type QueueProxy } from "multiproc";
import { setTimeout as sleep } from "node:timers/promises";

export async function processWrite(q: QueueProxy<string>): Promise<void> {
  console.log(`writer: ${process.pid}`);
  for (const value of ["A", "B", "C"]) {
    console.log(`put ${value} on the queue...`);
    await q.put(value);
    await sleep(Math.random() * 300);
  }
}

export async function processRead(q: QueueProxy<string>): Promise<void> {
  console.log(`reader: ${process.pid}`);
  while (!(await q.empty())) {
    const value = await q.get();
    console.log(`got ${value} from the queue...`);
  }
}

if (isMain(import.meta)) {
  console.log(`main process: ${process.pid}`);
  const po = new Pool(2);
  {
    await using manager = await Manager();
    const q = await manager.Queue<string>();
    console.log(`the queue lives in the manager: ${q}`);
    // apply waits for each task: the writer has finished before the reader starts.
    await po.apply(processWrite, [q]);
    await po.apply(processRead, [q]);
    po.close();
    await po.join();
  }
  console.log("main process done.");
}
