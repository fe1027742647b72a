/*
 * The one convention for every method that can wait (DESIGN 1b): a number of
 * milliseconds or `{ timeout, signal, block }`, and a helper that races a
 * promise against the timeout and the AbortSignal.
 */
import { abortError } from "./errors.ts";

export interface WaitOptions {
  /** Milliseconds; undefined or null waits forever. */
  timeout?: number | null;
  signal?: AbortSignal;
}

export interface BlockingWaitOptions extends WaitOptions {
  /** false: do not wait at all (the timeout is then ignored, as in Python). */
  block?: boolean;
}

/**
 * What every waiting method takes: milliseconds (undefined or null: no
 * limit) or options. `block` matters only where Python has it (acquire,
 * get, put); elsewhere it is ignored.
 */
export type Wait = number | null | undefined | BlockingWaitOptions;

export interface ParsedWait {
  timeout: number | null;
  signal: AbortSignal | undefined;
  block: boolean;
}

const FOREVER: Readonly<ParsedWait> = Object.freeze({ timeout: null, signal: undefined, block: true });

export function parseWait(wait: Wait): ParsedWait {
  if (wait === undefined) return FOREVER;
  const options: BlockingWaitOptions = typeof wait === "object" && wait !== null ? wait : { timeout: wait };
  const { timeout = null, signal, block = true } = options;
  if (timeout !== null && (typeof timeout !== "number" || Number.isNaN(timeout))) {
    throw new TypeError(`timeout must be a number of milliseconds, got ${typeof timeout === "string" ? JSON.stringify(timeout) : String(timeout)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
  if (typeof block !== "boolean") throw new TypeError(`block must be a boolean, got ${typeof block}`);
  return { timeout: timeout === Infinity ? null : timeout, signal, block };
}

/**
 * Wait for `promise` for at most `timeout` ms. Resolves true when it settled
 * in time (its rejection propagates), false on timeout; rejects with the
 * abort reason when `signal` aborts.
 */
export function settleWithin(promise: Promise<unknown>, timeout: number | null, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (timeout === null && !signal) return promise.then(() => true);
  return new Promise<boolean>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => finish(() => reject(abortError(signal!)));
    const finish = (settle: () => void) => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      settle();
    };
    if (timeout !== null) timer = setTimeout(() => finish(() => resolve(false)), Math.max(0, timeout));
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      () => finish(() => resolve(true)),
      (err: unknown) => finish(() => reject(err)),
    );
  });
}

function ignore(): void {}

/**
 * Mark `promise` as handled and return it: a caller who awaits it still sees
 * the rejection, one who drops it (a `put` nobody awaits) does not get an
 * unhandled rejection that would end the process (DESIGN 1b).
 */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(ignore);
  return promise;
}
