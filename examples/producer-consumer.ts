// Seed 000 §6.1 "生产者消费者模型 low版": three producers each make three
// foods half a second apart, one consumer eats them until it gets the
// end-of-work sentinel, which the main process puts once every producer
// has finished. One sentinel per consumer, as the seed explains.
//
// Run: node --import tsx examples/producer-consumer.ts
import { Process, Queue, isMain } from "multiproc";
import { setTimeout as sleep } from "node:timers/promises";

export async function producer(q: Queue<string | null>, name: string, food: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const res = `${food}${i}`;
    await sleep(500);
    await q.put(res);
    console.log(`${name} produced ${res}`);
  }
}

export async function consumer(q: Queue<string | null>, name: string): Promise<void> {
  for (;;) {
    const res = await q.get();
    if (!res) break; // the sentinel: every producer is done
    await sleep(500);
    console.log(`${name} consumed ${res}`);
  }
}

if (isMain(import.meta)) {
  const q = new Queue<string | null>();
  const producers = [
    new Process({ target: producer, args: [q, "p1", "bun"] }),
    new Process({ target: producer, args: [q, "p2", "mantou"] }),
    new Process({ target: producer, args: [q, "p3", "flatbread"] }),
  ];
  const c1 = new Process({ target: consumer, args: [q, "c1"] });
  for (const p of producers) p.start();
  c1.start();
  for (const p of producers) await p.join();
  await q.put(null); // one sentinel for the one consumer
  await c1.join();
  console.log(`all eaten; consumer exit code ${c1.exitCode}`);
}
