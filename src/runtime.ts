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

/**
 * A Node.js built-in module. The library takes built-ins through this
 * function rather than `import ... from "node:fs"`: an ES import of a
 * built-in builds a facade that reads every export, and reading
 * `fs.ReadStream` alone loads the whole streams stack (4 ms measured), at
 * every child start. Heavy ones (child_process, net, crypto, inspector) are
 * only fetched by the code paths that need them.
 */
export function builtin<Name extends keyof BuiltinModules>(name: Name): BuiltinModules[Name] {
  return process.getBuiltinModule(name) as BuiltinModules[Name];
}

interface BuiltinModules {
  "node:child_process": typeof import("node:child_process");
  "node:events": typeof import("node:events");
  "node:fs": typeof import("node:fs");
  "node:os": typeof import("node:os");
  "node:path": typeof import("node:path");
  "node:url": typeof import("node:url");
  "node:util": typeof import("node:util");
  "node:v8": typeof import("node:v8");
  "node:crypto": typeof import("node:crypto");
  "node:dns": typeof import("node:dns");
  "node:inspector": typeof import("node:inspector");
  "node:module": typeof import("node:module");
  "node:net": typeof import("node:net");
  "node:worker_threads": typeof import("node:worker_threads");
  "node:test": typeof import("node:test");
  "node:stream": typeof import("node:stream");
}

let packageRequire: NodeJS.Require | undefined;

/** require() relative to this package (for its dependencies, CommonJS user modules and the addon). */
export function requireFromPackage(): NodeJS.Require {
  packageRequire ??= builtin("node:module").createRequire(import.meta.url);
  return packageRequire;
}

/** On the library's own classes and targets: the version of the copy that defined them, read only when two copies meet. */
const libraryVersion = Symbol.for("multiproc.libraryVersion");

type Marked = object & { [libraryVersion]?: () => string };

function ownVersion(): string {
  return (requireFromPackage()("../package.json") as { version: string }).version;
}

/**
 * Mark a class or function as the library's own. Two copies of the library can meet in one thread (two of
 * its builds, or a build and the copy a require hook such as tsx's made of it), each registering its own
 * class or target under the same name: that is no clash when both are the library's, of the same version.
 */
export function libraryOwn<T extends object>(value: T): T {
  Object.defineProperty(value, libraryVersion, { value: ownVersion });
  return value;
}

export function isLibraryOwn(value: object): boolean {
  return Object.hasOwn(value, libraryVersion);
}

/** Whether `a` and `b` are the library's own, from copies of the same version. */
export function sameLibraryVersion(a: Marked, b: Marked): boolean {
  return isLibraryOwn(a) && isLibraryOwn(b) && a[libraryVersion]!() === b[libraryVersion]!();
}
