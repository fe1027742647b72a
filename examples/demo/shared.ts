/*
 * Demo scenes for shared objects: a Lock that makes five processes buy the
 * last ticket one at a time (seed 000 §四). Later scenes for shared values
 * go here too.
 */
import { sellLastTicket } from "../ticket-lock.ts";
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

export const sharedScenes: Scene[] = [tickets];
