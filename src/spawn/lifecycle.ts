/*
 * The parent's side of every child's life after start: which children are
 * alive, and what happens to them when this process finishes (Python's
 * util._exit_function).
 *
 * Children do not keep this process alive by themselves (their handles are
 * unref'd), so the event loop empties as soon as the program's own work is
 * done. At that moment ('beforeExit', Python's "main code finished") daemon
 * children are terminated and every child still alive is held, so the
 * process stays up until each has exited and been reaped: non-daemon
 * children are waited for, daemon children do not outlive us, no zombies.
 * A hard exit (`process.exit()`) still sends daemon children SIGTERM; if this
 * process is killed, the kernel kills them (see bootstrap.ts).
 */

import { shared } from "../runtime.ts";
import type { Readable } from "node:stream";

/** A started child, whatever its start method. */
export interface ChildHandle {
  readonly pid: number;
  /** OS pid for spawn children, thread id for thread children. */
  readonly ident: number;
  readonly daemon: boolean;
  /** Resolves with the exit code once the child has exited and been reaped. */
  readonly exited: Promise<number>;
  /** The exit code if the child is known to have exited, else null; may look at the OS synchronously. */
  poll(): number | null;
  terminate(): void;
  kill(): void;
  /** Keep this process alive until the child exits; returns the release function. */
  hold(): () => void;
  /** The child's output, when it was started with `stdio: "pipe"`. */
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
}

/**
 * Counted holds on a handle that can be ref'd: the first hold refs it, the
 * last release unrefs it, and each release function works once. The
 * launchers' hold() is this.
 */
export function holdCounter(handle: { ref(): unknown; unref(): unknown }): () => () => void {
  let holds = 0;
  return () => {
    if (holds++ === 0) handle.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--holds === 0) handle.unref();
    };
  };
}

/** Grace period between SIGTERM and SIGKILL for daemon children at exit. */
const DAEMON_GRACE_MS = 1000;

interface Lifecycle {
  children: Set<ChildHandle>;
  /** Children already being waited for at exit. */
  finishing: WeakSet<ChildHandle>;
  hooked: boolean;
}

const lifecycle = shared<Lifecycle>("lifecycle", () => ({ children: new Set(), finishing: new WeakSet(), hooked: false }));

export function track(child: ChildHandle): void {
  if (!lifecycle.hooked) {
    lifecycle.hooked = true;
    process.on("beforeExit", finishChildren);
    process.on("exit", terminateDaemons);
  }
  lifecycle.children.add(child);
  void child.exited.then(() => lifecycle.children.delete(child));
}

export function liveChildren(): ChildHandle[] {
  return [...lifecycle.children];
}

function finishChildren(): void {
  for (const child of lifecycle.children) {
    if (lifecycle.finishing.has(child) || child.poll() !== null) continue;
    lifecycle.finishing.add(child);
    const release = child.hold();
    void child.exited.then(release);
    if (child.daemon) {
      child.terminate();
      setTimeout(() => child.poll() === null && child.kill(), DAEMON_GRACE_MS).unref();
    }
  }
}

function terminateDaemons(): void {
  for (const child of lifecycle.children) {
    if (child.daemon && child.poll() === null) child.terminate();
  }
}

/**
 * A promise that keeps this process alive while someone awaits it, by
 * holding the child until it settles. Children are unref'd (see above), so a
 * bare `await child.exited` would otherwise let the event loop run dry.
 * A subclass, because `await` on a plain Promise never calls an own `then`.
 */
class HeldPromise<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  hold: (() => () => void) | undefined;

  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    const release = this.hold?.() ?? (() => {});
    const settled = super.then(
      (value) => {
        release();
        return value;
      },
      (reason: unknown) => {
        release();
        throw reason;
      },
    );
    return settled.then(onFulfilled, onRejected);
  }
}

export function heldWhileAwaited<T>(promise: Promise<T>, child: Pick<ChildHandle, "hold">): Promise<T> {
  const held = new HeldPromise<T>((resolve, reject) => promise.then(resolve, reject));
  held.hold = () => child.hold();
  return held;
}
