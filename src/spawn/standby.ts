/*
 * Warm standby: one pre-started child per start method, already booted and
 * waiting for its start payload (our answer to Python's forkserver; Node.js
 * cannot fork). start() hands the payload to the spare instead of booting a
 * runtime, which takes a child's start from tens of milliseconds to a few.
 *
 * A spare is only made once a program has started two children with the
 * same method (a program that starts one child pays nothing), is dropped
 * after a few idle seconds, and is never used if what it inherited has
 * changed since it started (cwd, environment, execArgv: its fingerprint).
 * Spares are unref'd, die with this process (the kernel's parent-death
 * signal for spawn spares), and are not children until they are used.
 * MULTIPROC_STANDBY=0 turns the mechanism off.
 *
 * Talks to: spawnChild.ts and threadChild.ts, which make and launch spares.
 */
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

/** After a start: from the second one on, prepare the next spare once the current work has run. */
export function replenish(method: StartMethod, fingerprint: () => string, make: () => Spare | null): void {
  const slot = slotOf(method);
  if (!standbyEnabled() || slot.starts < 2 || slot.spare || slot.pending) return;
  slot.pending = true;
  setImmediate(() => {
    slot.pending = false;
    if (slot.spare) return;
    const spare = make();
    if (!spare) return;
    slot.spare = spare;
    slot.fingerprint = fingerprint();
    slot.idle = setTimeout(() => {
      if (slot.spare === spare) slot.spare = null;
      spare.discard();
    }, IDLE_MS).unref();
  }).unref();
}
