/*
 * The start-method state (the part of Python's context.py that process.py
 * needs): which method is the default, and which one a Process class is
 * bound to. A leaf module, so that process.ts, the pool and context.ts can
 * all use it without importing one another at load.
 *
 * Talks to: context.ts (re-exports it), process.ts, pool/engine.ts.
 */
import { ProcessError } from "./errors.ts";
import { shared } from "./runtime.ts";

export type StartMethod = "spawn" | "thread";

const startMethods: readonly StartMethod[] = ["spawn", "thread"];

/** Set on a Process class bound to one start method (ctx.Process). */
export const boundMethod = Symbol("multiproc.startMethod");

/** Set explicitly, or fixed by first use (Python's `_actual_context`). */
const state = shared<{ method: StartMethod | null }>("context.startMethod", () => ({ method: null }));

export function checkMethod(method: unknown): StartMethod {
  if (!startMethods.includes(method as StartMethod)) {
    throw new ProcessError(`cannot find context for ${JSON.stringify(method)}: start methods are ${startMethods.map((m) => `"${m}"`).join(", ")}`);
  }
  return method as StartMethod;
}

/** The start methods this platform supports, the default first. */
export function getAllStartMethods(): StartMethod[] {
  return [...startMethods];
}

/** The default start method; fixes it if it was not set yet (as Python's get_start_method()). */
export function getStartMethod(): StartMethod {
  state.method ??= "spawn";
  return state.method;
}

/**
 * Change the default start method. Allowed once, before anything used the
 * default, unless `force` is true (Python's rule).
 */
export function setStartMethod(method: StartMethod, force = false): void {
  const chosen = checkMethod(method);
  if (state.method !== null && !force) throw new ProcessError("context has already been set");
  state.method = chosen;
}

/** The start method a Process class uses: its context's, or the default. */
export function startMethodOf(cls: unknown): StartMethod {
  let current = cls as { [boundMethod]?: StartMethod } | null;
  while (current) {
    if (Object.prototype.hasOwnProperty.call(current, boundMethod)) return current[boundMethod]!;
    current = Object.getPrototypeOf(current) as typeof current;
  }
  return getStartMethod();
}
