// Seed 000 §五 "进程间通信": a Queue of size 3. put with block + timeout,
// put with block=false on a full queue (Full at once: the timeout means
// nothing then), get, and get with block=false on an empty queue (Empty).
// The seed's script dies at its 4th put with queue.Full; here each error is
// caught and printed so that the whole tour runs.
//
// Run: node --import tsx examples/queue-basics.ts
import { Empty, Full, Queue } from "multiproc";

const q = new Queue<number>(3); // queue size 3

// block: true (the default): wait while the queue is full, here at most 3 s.
await q.put(1, { block: true, timeout: 3000 });
await q.put(2, { block: true, timeout: 3000 });
await q.put(3, { block: true, timeout: 3000 });
console.log(">>>>", `qsize=${q.qsize()} full=${q.full()}`);

// block: false on a full queue: Full at once (putNowait(4) is the same).
try {
  await q.put(4, { block: false });
} catch (err) {
  console.log(`put(4, { block: false }) → ${(err as Error).name}: ${(err as Error).message}`, err instanceof Full);
}
// A blocking put with a timeout waits that long for room, then gives up with Full.
const started = performance.now();
try {
  await q.put(4, { timeout: 300 });
} catch (err) {
  console.log(`put(4, { timeout: 300 }) → ${(err as Error).name} after ${Math.round(performance.now() - started)} ms`);
}

const res1 = await q.get();
const res2 = await q.get();
const res3 = await q.get();
console.log("got", res1, res2, res3, `empty=${q.empty()}`);
// block: false on an empty queue: Empty at once (getNowait() is the same).
try {
  await q.get({ block: false });
} catch (err) {
  console.log(`get({ block: false }) → ${(err as Error).name}: ${(err as Error).message}`, err instanceof Empty);
}
