/*
 * Per-thread state shared by every copy of the library loaded in this thread.
 * A program can load the package twice (its ESM entry and a source copy, or
 * two versions in node_modules); the child bootstrap and the user's module
 * must still agree on "am I a child", "which process am I" and the
 * registries, so that state lives on globalThis under a registered symbol
 * rather than in module scope.
 */

const slot = Symbol.for("multiproc.runtime");

type Slots = Map<string, unknown>;

function slots(): Slots {
  const holder = globalThis as unknown as { [slot]?: Slots };
  holder[slot] ??= new Map();
  return holder[slot];
}

/** The shared value stored under `key`, created by `init` on first use in this thread. */
export function shared<T>(key: string, init: () => T): T {
  const all = slots();
  if (!all.has(key)) all.set(key, init());
  return all.get(key) as T;
}
