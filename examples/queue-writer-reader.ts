// Seed 004 "进程间通信-Queue": a writer process puts A, B, C with random
// pauses, a reader process prints what it gets in an endless loop; the main
// process waits for the writer, then terminates the reader, which has no
// way out of its loop. (Waiting a moment before terminate lets the reader
// print C: the seed's terminate() can beat it to the last item.)
//
// Run: node --import tsx examples/queue-writer-reader.ts
import { Process, Queue, isMain } from "multiproc";
import { setTimeout as sleep } from "node:timers/promises";

export async function processWrite(q: Queue<string>): Promise<void> {
  console.log(`writer: ${process.pid}`);
  for (const value of ["A", "B", "C"]) {
    console.log(`put ${value} on the queue...`);
    await q.put(value);
    await sleep(Math.random() * 1000);
  }
}

export async function processRead(q: Queue<string>): Promise<void> {
  console.log(`reader: ${process.pid}`);
  for (;;) {
    const value = await q.get();
    console.log(`got ${value} from the queue...`);
  }
}

if (isMain(import.meta)) {
  console.log(`main process: ${process.pid}`);
  const q = new Queue<string>();
  const writer = new Process({ target: processWrite, args: [q] });
  const reader = new Process({ target: processRead, args: [q] });
  console.log("starting the children...");
  writer.start();
  reader.start();
  await writer.join();
  while (!q.empty()) await sleep(10);
  await sleep(100);
  reader.terminate(); // the reader's loop never ends by itself
  await reader.join();
  console.log(`reader terminated (exit code ${reader.exitCode}); main process done.`);
}
