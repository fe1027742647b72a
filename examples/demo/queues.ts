/*
 * Demo scenes for queues and pipes: producers and daemon consumers around a
 * JoinableQueue (seed 000 §6.2, sped up), data that outlives the process that
 * put it, and a Pipe between two processes timed over many round trips.
 */
import { JoinableQueue, Pipe, Process, Queue, currentProcess, getContext, type Connection } from "multiproc";
import { isMainThread } from "node:worker_threads";
import { childSay, say, secondsSince, type Scene } from "./scene.ts";

export async function produce(queue: JoinableQueue<string>, food: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await queue.put(`${food}${i}`);
  childSay(`${currentProcess().name} (pid ${process.pid}) produced ${count} × ${food}`);
}

export async function consume(queue: JoinableQueue<string>, eaten: Queue<string>): Promise<void> {
  const me = `${currentProcess().name} (${isMainThread ? "pid" : "a thread in pid"} ${process.pid})`;
  for (;;) {
    const item = await queue.get();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await eaten.put(`${item} by ${me}`);
    queue.taskDone();
  }
}

export async function putAndLeave(queue: Queue<Uint8Array | string>): Promise<void> {
  await queue.put(`hello from pid ${process.pid}, who is gone by now`);
  await queue.put(new Uint8Array(3 * 1024 * 1024).fill(42));
}

export function echo(conn: Connection<number>, rounds: number): void {
  for (let i = 0; i < rounds; i++) conn.send(conn.recvSync() + 1);
}

const producersAndConsumers: Scene = {
  title: "Producers → JoinableQueue → daemon consumers (one a thread), q.join() [spawn + thread]",
  async run() {
    const queue = new JoinableQueue<string>();
    const eaten = new Queue<string>();
    const consumers = [
      new Process({ target: consume, args: [queue, eaten], daemon: true, name: "consumer-1" }),
      new (getContext("thread").Process)({ target: consume, args: [queue, eaten], daemon: true, name: "consumer-2" }),
    ];
    const producers = ["bun", "mantou", "flatbread"].map((food, i) => new Process({ target: produce, args: [queue, food, 4], name: `producer-${i + 1}` }));
    for (const child of [...consumers, ...producers]) child.start();
    for (const producer of producers) await producer.join();
    const start = performance.now();
    await queue.join();
    say(`q.join() returned ${secondsSince(start)} after the producers finished: all 12 items done`);
    const byConsumer = new Map<string, number>();
    while (!eaten.empty()) {
      const who = (await eaten.get()).split(" by ")[1]!;
      byConsumer.set(who, (byConsumer.get(who) ?? 0) + 1);
    }
    for (const [who, count] of byConsumer) say(`${who} ate ${count}`);
    for (const consumer of consumers) consumer.terminate();
    for (const consumer of consumers) await consumer.join();
    say("the daemon consumers were terminated; nothing was left behind");
  },
};

const outliveAndPipe: Scene = {
  title: "What a child put outlives it; a Pipe round trip between processes [spawn]",
  async run() {
    const queue = new Queue<Uint8Array | string>();
    const child = new Process({ target: putAndLeave, args: [queue] });
    child.start();
    await child.join();
    say(`the child exited (code ${child.exitCode}) before anyone read; the queue holds ${queue.qsize()} items:`);
    say(`  ${await queue.get()}`);
    const block = (await queue.get()) as Uint8Array;
    say(`  a ${block.length / 2 ** 20} MB block, every byte ${block[0]} (Python's Queue would have kept the child alive until someone read it)`);
    const rounds = 20_000;
    const [here, there] = Pipe<number>();
    const echo_ = new Process({ target: echo, args: [there, rounds] });
    echo_.start();
    there.close();
    let value = 0;
    here.send(value);
    value = here.recvSync();
    const start = performance.now();
    for (let i = 1; i < rounds; i++) {
      here.send(value);
      value = here.recvSync();
    }
    const perTrip = ((performance.now() - start) / (rounds - 1)) * 1000;
    await echo_.join();
    say(`${rounds} send/recv round trips with the child: the counter reached ${value}, ${perTrip.toFixed(1)} µs per round trip`);
  },
};

export const queueScenes: Scene[] = [producersAndConsumers, outliveAndPipe];
