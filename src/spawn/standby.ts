/*
 * Warm standby: one pre-started child per start method, already booted and
 * waiting for its start payload (our answer to Python's forkserver; Node.js
 * cannot fork). start() hands the payload to the spare instead of booting a
 * runtime, which takes a child's start from tens of milliseconds to a few.
 *
 * A spare is only made once a program has started two children with the
 * same method (a program that starts one child pays nothing; for a pool's
 * workers, once a core is idle: see whileStartingWorkers), is dropped
 * after a few idle seconds, and is never used if what it inherited has
 * changed since it started (cwd, environment, execArgv: its fingerprint).
 * Spares are unref'd, die with this process (the kernel's parent-death
 * signal for spawn spares), and are not children until they are used.
 * MULTIPROC_STANDBY=0 turns the mechanism off.
 *
 * Talks to: spawnChild.ts and threadChild.ts, which make and launch spares;
 * pool/workers.ts starts its workers through whileStartingWorkers.
 */
import { idleCore } from "../procfs.ts";
import { shared } from "../runtime.ts";
import type { StartMethod } from "../context.ts";

/** A pre-started child; the launcher that made it knows how to hand it a payload. */
export interface Spare {
  discard(): void;
}

interface Slot {
  spare: Spare | null;
  fingerprint: string;
  starts: number;
  idle: NodeJS.Timeout | undefined;
  pending: boolean;
}

const IDLE_MS = 10_000;
/** While every core is busy, a pool worker's spare looks again this often for an idle one, for at most MAX_DEFER_MS. */
const QUIET_POLL_MS = 50;
const MAX_DEFER_MS = 2000;

const slots = shared("standby.slots", () => new Map<StartMethod, Slot>());

function slotOf(method: StartMethod): Slot {
  let slot = slots.get(method);
  if (!slot) {
    slot = { spare: null, fingerprint: "", starts: 0, idle: undefined, pending: false };
    slots.set(method, slot);
    process.once("exit", () => slot!.spare?.discard());
  }
  return slot;
}

/**
 * What a spare does while it waits: load the whole library, as a pool
 * worker or a target receiving a Queue will. A failure here is left for the
 * child's own import to report.
 */
export function preloadLibrary(): Promise<unknown> {
  return import("../index.ts").catch(() => undefined);
}

export function standbyEnabled(): boolean {
  return process.env.MULTIPROC_STANDBY !== "0";
}

/**
 * Called at every start: the spare for `method`, if it was started under the
 * same fingerprint (it leaves the slot either way), else null. The
 * fingerprint is only computed when there is a spare to compare.
 */
export function takeSpare<S extends Spare>(method: StartMethod, fingerprint: () => string): S | null {
  if (!standbyEnabled()) return null;
  const slot = slotOf(method);
  slot.starts++;
  const spare = slot.spare as S | null;
  clearTimeout(slot.idle);
  slot.spare = null;
  if (spare && slot.fingerprint !== fingerprint()) {
    spare.discard();
    return null;
  }
  return spare;
}

let startingWorkers = 0;

/**
 * Start pool workers with `start`: the spare their starts ask for boots
 * once a core is idle, or after MAX_DEFER_MS, rather than at once. A
 * runtime's boot takes a core for a tenth of a second; taken from the work
 * the workers are about to get (a new pool's first map), it cost that work
 * more than the spare saved the next start (a fresh Pool(2)'s first
 * 20k-task map: 186 ms with the spare booted at once, 140 ms with it
 * deferred). A machine that never idles still gets its spare, a little
 * later. Other starts (a Process of the program's own) replenish at once:
 * the next one may come right after.
 */
export function whileStartingWorkers<T>(start: () => T): T {
  startingWorkers++;
  try {
    return start();
  } finally {
    startingWorkers--;
  }
}

/** After a start: from the second one on, prepare the next spare once the current work has run (see whileStartingWorkers). */
export function replenish(method: StartMethod, fingerprint: () => string, make: () => Spare | null): void {
  const slot = slotOf(method);
  if (!standbyEnabled() || slot.starts < 2 || slot.spare || slot.pending) return;
  slot.pending = true;
  const deferUntil = startingWorkers > 0 ? performance.now() + MAX_DEFER_MS : 0;
  const attempt = (): void => {
    if (!slot.spare && performance.now() < deferUntil && !idleCore()) {
      setTimeout(attempt, QUIET_POLL_MS).unref();
      return;
    }
    slot.pending = false;
    if (slot.spare || !standbyEnabled()) return;
    const spare = make();
    if (!spare) return;
    slot.spare = spare;
    slot.fingerprint = fingerprint();
    slot.idle = setTimeout(() => {
      if (slot.spare === spare) slot.spare = null;
      spare.discard();
    }, IDLE_MS).unref();
  };
  setImmediate(attempt).unref();
}
