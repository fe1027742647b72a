/*
 * Demo scenes for shared objects: a Lock that makes five processes buy the
 * last ticket one at a time (seed 000 §四), and a Value two processes count
 * on under a Lock (seed 001 锁的使用).
 */
import { sellLastTicket } from "../ticket-lock.ts";
import { addAndSubtract } from "../counter-lock.ts";
import { say, type Scene } from "./scene.ts";

const tickets: Scene = {
  title: "A Lock across processes: five buyers, one ticket [spawn]",
  async run() {
    say("with a Lock (each buyer checks, then buys under the lock):");
    const left = await sellLastTicket(true);
    say(`tickets left: ${left}; exactly one buyer got it`);
    say("without a lock (same buyers, same file):");
    await sellLastTicket(false);
    say("every buyer 'bought' the last ticket: the lock is what made the first run right");
  },
};

const counter: Scene = {
  title: "A shared Value under a Lock: +1 and -1, a million times each, in two processes [spawn]",
  async run() {
    say(`with the lock:    ${await addAndSubtract(true)} (exact)`);
    say(`without the lock: ${await addAndSubtract(false)} (updates lost when both loops run at once)`);
  },
};

export const sharedScenes: Scene[] = [tickets, counter];
