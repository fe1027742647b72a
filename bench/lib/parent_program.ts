/*
 * The program bench/parent_soak.ts SIGKILLs: it creates a named segment, a
 * queue and a lock, starts two daemon children that attach the segment, prints
 * {"children": [pids], "segment": name} once they hold it, and waits.
 */
import { Process, Queue, SharedMemory, isMain } from "../../src/index.ts";
import { holdSegment } from "./soak_targets.ts";

if (isMain(import.meta)) {
  const shm = new SharedMemory({ create: true, size: 1 << 20 });
  const queue = new Queue<number>();
  queue.putNowait(1);
  const children = [0, 1].map(() => new Process({ target: holdSegment, args: [shm.name], daemon: true }));
  for (const child of children) child.start();
  while (shm.buf[0] !== 1) await new Promise((resolve) => setTimeout(resolve, 20));
  console.log(JSON.stringify({ children: children.map((c) => c.pid), segment: shm.name }));
  setInterval(() => {}, 1000);
}
