/* Targets of the queue and parent-kill soaks (bench/queue_soak.ts, bench/parent_soak.ts). */
import { SharedMemory, type Event, type Queue, type RawArray } from "../../src/index.ts";

/** A message whose elements are all the same id: a torn one would not be. Every 50th is large (160 KB). */
export function soakMessage(id: number, i: number): number[] {
  return new Array<number>(i % 50 === 49 ? 20_000 : (i % 300) + 1).fill(id);
}

export function isWhole(item: unknown): item is number[] {
  return Array.isArray(item) && item.length > 0 && item.every((x) => x === item[0]);
}

/** Put messages with ids base, base + 1, ... until killed; count them in progress[slot]. */
export function soakProduce(queue: Queue<number[]>, base: number, progress: RawArray<"i">, slot: number): void {
  for (let i = 0; ; i++) {
    queue.putSync(soakMessage(base + i, i));
    Atomics.add(progress.view, slot, 1);
  }
}

/** Take messages until killed; report each id on `seen`, and a damaged message on `torn`; count rounds in progress[slot]. */
export function soakConsume(queue: Queue<number[]>, seen: Queue<number>, torn: Event, progress: RawArray<"i">, slot: number): void {
  for (;; Atomics.add(progress.view, slot, 1)) {
    let item: unknown;
    try {
      item = queue.getSync({ timeout: 1000 });
    } catch {
      continue; // empty for a moment
    }
    if (isWhole(item)) seen.putSync(item[0]!);
    else torn.set();
  }
}

/** A child of the parent-kill program: holds a segment and waits to be left an orphan. */
export async function holdSegment(name: string): Promise<void> {
  const shm = new SharedMemory({ name });
  shm.buf[0] = 1;
  await new Promise((resolve) => setTimeout(resolve, 600_000));
}
