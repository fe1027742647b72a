// Seed 001 "锁的使用" (add/sub under a Lock): one process adds 1 a million
// times, another subtracts 1 a million times, each holding the lock around
// the whole loop, on a counter they share. The seed's Python keeps the
// counter in a global, which processes do not share (each child changes its
// own copy and the parent prints its untouched 0); here the counter is a
// shared Value, so the 0 at the end is the real result of both loops.
// A second run without the lock, with both loops interleaved, shows what
// the lock prevents.
//
// Run: node --import tsx examples/counter-lock.ts
import { Barrier, Lock, Process, Value, isMain } from "multiproc";

const ROUNDS = 1_000_000;

/** The seed's add(): take the lock, then a million read-modify-writes of the shared counter. */
export function add(lock: Lock | null, num: Value<"i">, start: Barrier): void {
  start.waitSync();
  lock?.acquireSync();
  for (let i = 0; i < ROUNDS; i++) num.value += 1;
  lock?.release();
}

export function sub(lock: Lock | null, num: Value<"i">, start: Barrier): void {
  start.waitSync();
  lock?.acquireSync();
  for (let i = 0; i < ROUNDS; i++) num.value -= 1;
  lock?.release();
}

/** Run add and sub in two processes at once; resolves with the final counter. */
export async function addAndSubtract(withLock: boolean): Promise<number> {
  const lock = withLock ? new Lock() : null;
  const num = new Value("i", 0);
  const start = new Barrier(2);
  const children = [add, sub].map((target) => new Process({ target, args: [lock, num, start] }));
  for (const child of children) child.start();
  for (const child of children) await child.join();
  return num.value;
}

if (isMain(import.meta)) {
  console.log(`num result with the lock:    ${await addAndSubtract(true)}`);
  console.log(`num result without the lock: ${await addAndSubtract(false)} (increments and decrements lost in the race)`);
}
