// Seed 000 §四 "进程的互斥锁" (ticket buying): five processes check the
// remaining tickets at the same time (concurrently), then buy under a Lock,
// one at a time. The ticket file holds one ticket, so exactly one purchase
// succeeds. The same program without the lock sells the last ticket to
// everyone who checked (shown second, for contrast). Where the seed sleeps
// so that every buyer reads the same count, the buyers here meet at a
// Barrier after checking: processes start at different speeds.
//
// Run: node --import tsx examples/ticket-lock.ts
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Barrier, Lock, Process, isMain } from "multiproc";

function check(ticketFile: string): void {
  const { count } = JSON.parse(readFileSync(ticketFile, "utf8")) as { count: number };
  console.log(`  ${process.pid} sees ${count} ticket(s) left`);
}

/** Read, think for a moment (so every buyer has read the same count), then buy if there is a ticket left. */
async function buy(ticketFile: string): Promise<boolean> {
  const tickets = JSON.parse(readFileSync(ticketFile, "utf8")) as { count: number };
  await sleep(200);
  if (tickets.count >= 1) {
    tickets.count -= 1;
    writeFileSync(ticketFile, JSON.stringify(tickets));
    console.log(`  ${process.pid} bought a ticket`);
    return true;
  }
  console.log(`  ${process.pid} found no ticket left`);
  return false;
}

/** The seed's task(mutex): check concurrently, buy under the lock. */
export async function task(ticketFile: string, mutex: Lock | null, checked: Barrier): Promise<void> {
  check(ticketFile);
  await checked.wait();
  if (!mutex) {
    await buy(ticketFile);
    return;
  }
  await using held = await mutex.hold();
  await buy(ticketFile);
}

/** Five buyers for one ticket; resolves with how many tickets are left in the file afterwards. */
export async function sellLastTicket(withLock: boolean): Promise<number> {
  const ticketFile = join(mkdtempSync(join(tmpdir(), "tickets-")), "test.json");
  writeFileSync(ticketFile, JSON.stringify({ count: 1 }));
  const mutex = withLock ? new Lock() : null;
  const checked = new Barrier(5);
  const buyers = Array.from({ length: 5 }, () => new Process({ target: task, args: [ticketFile, mutex, checked] }));
  for (const buyer of buyers) buyer.start();
  for (const buyer of buyers) await buyer.join();
  return (JSON.parse(readFileSync(ticketFile, "utf8")) as { count: number }).count;
}

if (isMain(import.meta)) {
  console.log("with a Lock:");
  console.log(`tickets left: ${await sellLastTicket(true)} (one ticket, one purchase)`);
  console.log("\nwithout a lock:");
  console.log(`tickets left: ${await sellLastTicket(false)} (and yet every buyer above bought "the last ticket")`);
}
