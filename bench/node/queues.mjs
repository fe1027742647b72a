/*
 * Workload "queues" (issue #4): Queue, SimpleQueue and Pipe between processes,
 * against Python's multiprocessing (bench/python/queues.py prints the same
 * metrics) and Node's own MessagePort between threads (a reference: it cannot
 * cross processes).
 *
 *   200k small ints, 1 → 1           one producer child puts 0..199,999 (await put; SimpleQueue: put;
 *                                    Pipe: send), the parent gets them all; msgs/s from "go" (an Event the
 *                                    child waits on once it is up) to the last get. The sum is checked.
 *   20k × 64 KiB, 1 → 1              the same with 20,000 Uint8Arrays of 64 KiB; GB/s (2^30 bytes).
 *   4 → 4, 200k ints                 4 producer children (50,000 each) and 4 consumer children
 *                                    (50,000 gets each, await get), one Queue; msgs/s from go until every
 *                                    consumer has reported its sum on a results queue.
 *   Pipe round trip                  one echo child, WARM_TRIPS unmeasured then ROUND_TRIPS × (send, recv)
 *                                    from the parent; µs per round trip (mean of a run; median of runs),
 *                                    blocking forms on both ends (sync) or await recv() on both (async).
 */
import { Worker, MessageChannel } from "node:worker_threads";
import { Event, JoinableQueue, Pipe, Process, Queue, Semaphore, SimpleQueue, getContext, isMain } from "../../dist/index.js";
import { compare, now } from "../lib/measure.mjs";
import { consume, echo, produce, produceBlocks, produceSimple, sendInts } from "../lib/queue_targets.mjs";

const INTS = "200k small ints, 1 → 1";
const BLOCKS = "20k × 64 KiB, 1 → 1";
const MANY = "4 → 4, 200k ints";
const ROUND_TRIP = "Pipe round trip";

const N = 200_000;
const BLOCK_COUNT = 20_000;
const BLOCK_SIZE = 64 * 1024;
const ROUND_TRIPS = 10_000;
/** Round trips before the clock starts: both processes' loops get compiled (a fresh child is cold). */
const WARM_TRIPS = 2_000;
const RUNS = Math.min(Number(process.env.BENCH_RUNS) || 10, 10);

/** Start children, wait until each is up, set go; resolve with the ms from go until `finish` resolves. */
async function timed(ProcessClass, specs, finish) {
  const ready = new Semaphore(0);
  const go = new Event();
  const children = specs.map(([target, args]) => new ProcessClass({ target, args: [...args, ready, go] }));
  for (const child of children) child.start();
  for (let i = 0; i < children.length; i++) await ready.acquire();
  const t0 = now();
  go.set();
  await finish();
  const ms = now() - t0;
  for (const child of children) await child.join();
  return ms;
}

/** N ints from a `target` child that sends them into `childEnd`, taken here with `receive()`. */
async function ints(ProcessClass, target, childEnd, receive) {
  let sum = 0;
  const ms = await timed(ProcessClass, [[target, [childEnd, N]]], async () => {
    for (let i = 0; i < N; i++) sum += await receive();
  });
  if (sum !== (N * (N - 1)) / 2) throw new Error(`wrong sum ${sum}`);
  return { [INTS]: (N / ms) * 1000 };
}

function intsThroughQueue(ProcessClass, QueueClass, target) {
  const queue = new QueueClass();
  return ints(ProcessClass, target, queue, () => queue.get());
}

async function intsThroughPipe() {
  const [reader, writer] = Pipe(false);
  try {
    return await ints(Process, sendInts, writer, () => reader.recv());
  } finally {
    reader.close();
    writer.close();
  }
}

async function blocksThroughQueue() {
  const queue = new Queue();
  let bytes = 0;
  const ms = await timed(Process, [[produceBlocks, [queue, BLOCK_COUNT, BLOCK_SIZE]]], async () => {
    for (let i = 0; i < BLOCK_COUNT; i++) bytes += (await queue.get()).length;
  });
  if (bytes !== BLOCK_COUNT * BLOCK_SIZE) throw new Error(`wrong byte count ${bytes}`);
  return { [BLOCKS]: bytes / 2 ** 30 / (ms / 1000) };
}

async function manyToMany() {
  const queue = new Queue();
  const results = new Queue();
  const per = N / 4;
  const specs = [];
  for (let k = 0; k < 4; k++) specs.push([produce, [queue, per]]);
  for (let k = 0; k < 4; k++) specs.push([consume, [queue, per, results]]);
  let sum = 0;
  const ms = await timed(Process, specs, async () => {
    for (let k = 0; k < 4; k++) sum += await results.get();
  });
  if (sum !== 4 * ((per * (per - 1)) / 2)) throw new Error(`wrong sum ${sum}`);
  return { [MANY]: (N / ms) * 1000 };
}

async function roundTrip(mode) {
  const [here, there] = Pipe();
  const child = new Process({ target: echo, args: [there, ROUND_TRIPS + WARM_TRIPS, mode] });
  child.start();
  there.close();
  for (let i = 0; i < WARM_TRIPS; i++) {
    here.send(i);
    await here.recv();
  }
  const t0 = now();
  if (mode === "sync") {
    for (let i = 0; i < ROUND_TRIPS; i++) {
      here.send(i);
      here.recvSync();
    }
  } else {
    for (let i = 0; i < ROUND_TRIPS; i++) {
      here.send(i);
      await here.recv();
    }
  }
  const us = ((now() - t0) / ROUND_TRIPS) * 1000;
  await child.join();
  here.close();
  return { [ROUND_TRIP]: us };
}

/** The reference: a MessagePort to a worker thread, posting N ints the other way. */
async function messagePort() {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(
    `const { workerData } = require("node:worker_threads");
     const { port, n } = workerData;
     port.once("message", () => { for (let i = 0; i < n; i++) port.postMessage(i); });`,
    { eval: true, workerData: { port: port2, n: N }, transferList: [port2] },
  );
  await new Promise((resolve) => worker.once("online", resolve));
  let sum = 0;
  let got = 0;
  const t0 = now();
  await new Promise((resolve) => {
    port1.on("message", (value) => {
      sum += value;
      if (++got === N) resolve();
    });
    port1.postMessage("go");
  });
  const ms = now() - t0;
  port1.close();
  await worker.terminate();
  if (sum !== (N * (N - 1)) / 2) throw new Error(`wrong sum ${sum}`);
  return { [INTS]: (N / ms) * 1000 };
}

if (isMain(import.meta)) {
  const thread = getContext("thread").Process;
  await compare(
    [
      { impl: "multiproc Queue", unit: "msgs/s", run: () => intsThroughQueue(Process, Queue, produce) },
      { impl: "multiproc Queue (thread)", unit: "msgs/s", run: () => intsThroughQueue(thread, Queue, produce) },
      { impl: "multiproc SimpleQueue", unit: "msgs/s", run: () => intsThroughQueue(Process, SimpleQueue, produceSimple) },
      { impl: "multiproc Pipe", unit: "msgs/s", run: intsThroughPipe },
      { impl: "node MessagePort, threads (ref)", unit: "msgs/s", run: messagePort },
    ],
    { runs: RUNS },
  );
  await compare([{ impl: "multiproc Queue", unit: "GB/s", run: blocksThroughQueue }], { runs: RUNS });
  await compare([{ impl: "multiproc Queue", unit: "msgs/s", run: manyToMany }], { runs: RUNS });
  await compare(
    [
      { impl: "multiproc Pipe, sync", unit: "µs", run: () => roundTrip("sync") },
      { impl: "multiproc Pipe, async", unit: "µs", run: () => roundTrip("async") },
    ],
    { runs: RUNS },
  );
}
