// Seed 000 §6.2 "生产者消费者模型 终极版": the consumers call taskDone() for
// every item and run forever as daemons; the main process waits for the
// producers, then q.join() waits until every item has been taken *and*
// processed. When the main code ends, the daemon consumers are terminated:
// no sentinels needed.
//
// Run: node --import tsx examples/producer-consumer-joinable.ts
import { JoinableQueue, Process, isMain } from "multiproc";
import { setTimeout as sleep } from "node:timers/promises";

export async function producer(q: JoinableQueue<string>, name: string, food: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const res = `${food}${i}`;
    await sleep(500);
    await q.put(res);
    console.log(`${name} produced ${res}`);
  }
}

export async function consumer(q: JoinableQueue<string>, name: string): Promise<void> {
  for (;;) {
    const res = await q.get();
    await sleep(500);
    console.log(`${name} consumed ${res}`);
    q.taskDone(); // one item fully handled
  }
}

if (isMain(import.meta)) {
  const q = new JoinableQueue<string>();
  const producers = [
    new Process({ target: producer, args: [q, "p1", "bun"] }),
    new Process({ target: producer, args: [q, "p2", "mantou"] }),
    new Process({ target: producer, args: [q, "p3", "flatbread"] }),
  ];
  const consumers = [new Process({ target: consumer, args: [q, "c1"] }), new Process({ target: consumer, args: [q, "c2"] })];
  for (const c of consumers) c.daemon = true;
  for (const p of producers) p.start();
  for (const c of consumers) c.start();
  for (const p of producers) await p.join();
  await q.join(); // every item put has been marked done
  console.log("q.join() returned: all 9 items consumed; the daemon consumers end with the main code");
}
