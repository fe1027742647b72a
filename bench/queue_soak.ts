/*
 * Producer/consumer kill soak: producers and consumers (spawn children)
 * share one unbounded Queue while a timer SIGKILLs a random one of them
 * every ~100 ms (one that is at work: a child still starting is left
 * alone) and starts a replacement. A process killed in the middle of
 * a put or a get may lose its own message, nothing else: no message may
 * arrive torn or twice, and the queue must keep working to the end.
 *
 *   node --import tsx bench/queue_soak.ts [kills] [seed]
 *
 * Prints one JSON line; exits 1 on any violation. Not a test: run it by
 * hand or with `npm run soak` (bench/README.md).
 */
import { Event, Process, Queue, RawArray } from "../src/index.ts";
import { isWhole, soakConsume, soakProduce } from "./lib/soak_targets.ts";

const KILLS = Number(process.argv[2] ?? 200);
const seed = Number(process.argv[3] ?? Date.now() % 1_000_000);
const PRODUCERS = 2;
const CONSUMERS = 2;
const KILL_EVERY_MS = 100;
/** Ids of one producer incarnation: base = incarnation * SPAN. */
const SPAN = 1e7;

let state = seed;
function random(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const queue = new Queue<number[]>();
const seen = new Queue<number>();
const torn = new Event();
/** Rounds each incarnation has done, at incarnation % SLOTS: only a child at work is killed. */
const SLOTS = 64;
const progress = new RawArray("i", SLOTS);
let incarnation = 0;
const slotOf = new Map<Process, number>();
function made(p: Process, slot: number): Process {
  progress.view[slot] = 0;
  slotOf.set(p, slot);
  return p;
}
const producer = () => made(new Process({ target: soakProduce, args: [queue, ++incarnation * SPAN, progress, incarnation % SLOTS], daemon: true }), incarnation % SLOTS);
const consumer = () => made(new Process({ target: soakConsume, args: [queue, seen, torn, progress, ++incarnation % SLOTS], daemon: true }), incarnation % SLOTS);
const producers = Array.from({ length: PRODUCERS }, producer);
const consumers = Array.from({ length: CONSUMERS }, consumer);
for (const p of [...producers, ...consumers]) p.start();

const ids = new Set<number>();
let duplicates = 0;
function record(id: number): void {
  if (ids.has(id)) duplicates++;
  ids.add(id);
}
const started = Date.now();
let kills = 0;
while (kills < KILLS) {
  await new Promise((resolve) => setTimeout(resolve, KILL_EVERY_MS));
  const pool = random() < 0.5 ? producers : consumers;
  const at = Math.floor(random() * pool.length);
  const victim = pool[at]!;
  if (Atomics.load(progress.view, slotOf.get(victim)!) > 0) {
    victim.kill();
    await victim.join();
    slotOf.delete(victim);
    pool[at] = pool === producers ? producer() : consumer();
    pool[at]!.start();
    kills++;
  }
  for (;;) {
    try {
      record(seen.getNowait());
    } catch {
      break;
    }
  }
}
for (const p of [...producers, ...consumers]) p.kill();
for (const p of [...producers, ...consumers]) await p.join();
// What is left: read by this process, which must find every message whole.
let tornLeft = 0;
for (;;) {
  let item: unknown;
  try {
    item = queue.getNowait();
  } catch {
    break;
  }
  if (isWhole(item)) record(item[0]!);
  else tornLeft++;
}
for (;;) {
  try {
    record(seen.getNowait());
  } catch {
    break;
  }
}
const result = {
  experiment: "producer/consumer kill",
  seed,
  kills,
  producers: PRODUCERS,
  consumers: CONSUMERS,
  messages: ids.size,
  torn: (torn.isSet() ? 1 : 0) + tornLeft,
  duplicates,
  seconds: Math.round((Date.now() - started) / 100) / 10,
};
console.log(JSON.stringify(result));
process.exit(result.torn === 0 && result.duplicates === 0 ? 0 : 1);
