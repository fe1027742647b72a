/*
 * Functions travel between processes by reference, the way Python pickles a
 * module-level function as "module + qualified name": the sender finds which
 * module exports the function and under what name, the receiver imports that
 * module and takes the export. This module does both halves.
 *
 * Finding the module of a function object is the hard half: JavaScript has
 * no `fn.__module__`. We ask V8 itself through an in-process inspector
 * session (synchronous, no debugger enabled): `[[FunctionLocation]]` names
 * the script, `[[Scopes]]` tells a module-level function from a closure.
 * The export name then comes from `require.cache` (CommonJS) or from lexing
 * the module's export statements (ES modules). Results are cached per
 * function, so the cost is paid once.
 *
 * Talks to: reduction.ts (functions inside values), process.ts (targets).
 */
import { builtin, requireFromPackage, shared } from "./runtime.ts";
import { FunctionLookupError } from "./errors.ts";

export { FunctionLookupError };

const { readFileSync } = builtin("node:fs");
const { fileURLToPath, pathToFileURL } = builtin("node:url");
const { isAbsolute } = builtin("node:path");


/** Where a function can be found again: a module (file URL, or a path for CommonJS) and an export. */
export interface FunctionRef {
  module: string;
  /** Export name; "module.exports" for a CommonJS module that exports the function itself. */
  name: string;
  /** Registered with registerTarget: look it up in the registry after importing the module. */
  registered?: true;
}

// Any callable may be a target; its parameters are the caller's business.
type AnyFunction = Function;

interface Registry {
  byKey: Map<string, AnyFunction>;
  refs: WeakMap<AnyFunction, FunctionRef>;
}

const registry = shared<Registry>("functionRefs.registry", () => ({ byKey: new Map(), refs: new WeakMap() }));

function registryKey(module: string, name: string): string {
  return `${module}#${name}`;
}

/** What identifies a module from inside it: `import.meta` in ESM, `module` in CommonJS. */
export type ModuleHandle = { url: string } | { filename: string };

export function moduleUrlOf(handle: ModuleHandle): string {
  if ("url" in handle && typeof handle.url === "string") return handle.url;
  if ("filename" in handle && typeof handle.filename === "string") return pathToFileURL(handle.filename).href;
  throw new TypeError("expected import.meta (ES module) or module (CommonJS)");
}

/**
 * Make `fn` findable by other processes even though it is not exported (or
 * the automatic lookup cannot see it). Call it at the top level of the
 * module that defines `fn`, outside the `isMain` guard, so the child
 * registers it too when it imports the module.
 */
export function registerTarget<F extends AnyFunction>(meta: ModuleHandle, fn: F): F {
  if (typeof fn !== "function") throw new TypeError("registerTarget(meta, fn): fn must be a function");
  if (!fn.name) throw new TypeError("registerTarget(meta, fn): fn must have a name (use a function declaration)");
  const module = moduleUrlOf(meta);
  const key = registryKey(module, fn.name);
  const existing = registry.byKey.get(key);
  if (existing && existing !== fn) {
    throw new TypeError(`registerTarget: another function named "${fn.name}" is already registered for ${module}`);
  }
  registry.byKey.set(key, fn);
  registry.refs.set(fn, { module, name: fn.name, registered: true });
  return fn;
}


const located = shared("functionRefs.located", () => new WeakMap<AnyFunction, FunctionRef>());

/**
 * Where `fn` can be found by another process. Throws FunctionLookupError,
 * naming the fix, for anonymous functions, closures, methods, bound
 * functions, and functions their module does not export.
 */
export function locateFunction(fn: AnyFunction, what = "target"): FunctionRef {
  const ref = registry.refs.get(fn) ?? located.get(fn);
  if (ref) return ref;
  const found = lookup(fn, what);
  located.set(fn, found);
  return found;
}

const fix = "export it from its module (`export function name(...)`), or register it with registerTarget(import.meta, fn)";

function lookup(fn: AnyFunction, what: string): FunctionRef {
  const label = fn.name ? `${what} ${fn.name}()` : `${what}`;
  if (!fn.name || fn.name === "anonymous") {
    throw new FunctionLookupError(
      `${label} is an anonymous function, which another process cannot find. Give it a name and ${fix}.`,
    );
  }
  if (fn.name.startsWith("bound ")) {
    throw new FunctionLookupError(`${label} is a bound function, which another process cannot rebuild. Pass the function itself and its arguments instead.`);
  }
  const where = inspect(fn);
  if (!where) {
    throw new FunctionLookupError(`${label} is a native or built-in function; only functions from your own modules can be sent. Wrap it: ${fix}.`);
  }
  const path = where.url.startsWith("file:") ? fileURLToPath(where.url) : where.url;
  // CommonJS functions always sit in the module wrapper's closure; their exports are plain properties.
  const commonJs = isAbsolute(path) && requireFromPackage().cache[path] !== undefined;
  if (!commonJs && where.closure) {
    throw new FunctionLookupError(
      `${label} is defined inside another function (a closure), which another process cannot find. Move it to the top level of its module and ${fix}.`,
    );
  }
  const exportName = commonJs ? cjsExportName(path, fn) : esmExportName(where.url, fn);
  if (exportName === undefined) {
    throw new FunctionLookupError(`${label} is not exported from ${path}, so another process cannot find it: ${fix}.`);
  }
  return { module: commonJs ? path : where.url, name: exportName };
}

function cjsExportName(path: string, fn: AnyFunction): string | undefined {
  if (!isAbsolute(path)) return undefined;
  const cached = requireFromPackage().cache[path];
  if (!cached) return undefined;
  const exported: unknown = cached.exports;
  if (exported === fn) return "module.exports";
  if (exported !== null && (typeof exported === "object" || typeof exported === "function")) {
    for (const key of Object.keys(exported)) {
      if ((exported as Record<string, unknown>)[key] === fn) return key;
    }
  }
  return undefined;
}

interface Lexer {
  initSync(): void;
  parse(source: string): readonly [unknown, ReadonlyArray<{ n: string; ln?: string }>];
}

let lexer: Lexer | undefined;

function esmExportName(url: string, fn: AnyFunction): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  let source: string;
  try {
    source = readFileSync(fileURLToPath(url), "utf8");
  } catch {
    return undefined;
  }
  if (!lexer) {
    lexer = requireFromPackage()("es-module-lexer") as Lexer;
    lexer.initSync();
  }
  let exports: ReadonlyArray<{ n: string; ln?: string }>;
  try {
    exports = lexer.parse(source)[1];
  } catch {
    // A syntax the lexer does not know: trust the name; the child checks again on import.
    return fn.name;
  }
  const byLocal = exports.find((e) => e.ln === fn.name);
  if (byLocal) return byLocal.n;
  if (fn.name === "default" && exports.some((e) => e.n === "default")) return "default";
  return undefined;
}

interface Location {
  url: string;
  closure: boolean;
}

interface InspectorSession {
  connect(): void;
  post(method: string, params: object, callback: (err: Error | null, result: unknown) => void): void;
  on(event: "Debugger.scriptParsed", listener: (message: { params: CoverageScript }) => void): void;
  off(event: "Debugger.scriptParsed", listener: (message: { params: CoverageScript }) => void): void;
}

let session: InspectorSession | undefined;
const scriptUrls = new Map<string, string>();

function post<T>(method: string, params: object = {}): T {
  if (!session) {
    session = new (builtin("node:inspector").Session as unknown as new () => InspectorSession)();
    session.connect();
  }
  let failure: Error | null = null;
  let output: unknown;
  // An in-process session answers synchronously, before post() returns.
  session.post(method, params, (err, result) => {
    failure = err;
    output = result;
  });
  if (failure) throw failure;
  return output as T;
}

interface RemoteObject {
  objectId?: string;
  description?: string;
  value?: unknown;
}
interface PropertiesResult {
  result: Array<{ name: string; value?: RemoteObject }>;
  internalProperties?: Array<{ name: string; value?: RemoteObject }>;
}

const probeSlot = "__multiprocFunctionProbe";

function inspect(fn: AnyFunction): Location | undefined {
  const holder = globalThis as Record<string, unknown>;
  holder[probeSlot] = fn;
  const objectGroup = "multiproc";
  try {
    const { result } = post<{ result: RemoteObject }>("Runtime.evaluate", { expression: `globalThis.${probeSlot}`, objectGroup });
    if (!result.objectId) return undefined;
    const props = post<PropertiesResult>("Runtime.getProperties", { objectId: result.objectId, ownProperties: true });
    const internal = props.internalProperties ?? [];
    const location = internal.find((p) => p.name === "[[FunctionLocation]]")?.value?.value as { scriptId: string } | undefined;
    if (!location) return undefined;
    const url = scriptUrl(location.scriptId);
    if (!url) return undefined;
    const scopesId = internal.find((p) => p.name === "[[Scopes]]")?.value?.objectId;
    let closure = false;
    if (scopesId) {
      const scopes = post<PropertiesResult>("Runtime.getProperties", { objectId: scopesId, ownProperties: true });
      closure = scopes.result.some((scope) => {
        const kind = scope.value?.description ?? "";
        if (!/^(Closure|Local|Block|Catch|With|Eval)\b/.test(kind)) return false;
        // A class whose code names the class itself has a block scope holding just that name: its own, not an enclosing one.
        return !(kind.startsWith("Block") && isOwnClassScope(scope.value?.objectId, fn.name));
      });
    }
    return { url, closure };
  } finally {
    delete holder[probeSlot];
    post("Runtime.releaseObjectGroup", { objectGroup });
  }
}

function isOwnClassScope(scopeId: string | undefined, name: string): boolean {
  if (!scopeId || !name) return false;
  const { result } = post<PropertiesResult>("Runtime.getProperties", { objectId: scopeId, ownProperties: true });
  return result.length === 1 && result[0]!.name === name;
}

interface CoverageScript {
  scriptId: string;
  url: string;
}

function scriptUrl(scriptId: string): string | undefined {
  if (!scriptUrls.has(scriptId)) {
    // Best-effort coverage lists scripts with their ids and URLs without enabling the debugger (a few ms).
    const { result } = post<{ result: CoverageScript[] }>("Profiler.getBestEffortCoverage");
    for (const script of result) scriptUrls.set(script.scriptId, script.url);
  }
  if (!scriptUrls.has(scriptId)) {
    // Coverage forgets a module once a GC has dropped its functions' counters. Enabling the debugger replays
    // every script it knows (tens of ms), so it is only the fallback.
    session!.on("Debugger.scriptParsed", rememberScript);
    try {
      post("Debugger.enable");
      post("Debugger.disable");
    } finally {
      session!.off("Debugger.scriptParsed", rememberScript);
    }
  }
  const url = scriptUrls.get(scriptId);
  return url ? url : undefined;
}

function rememberScript(message: { params: CoverageScript }): void {
  scriptUrls.set(message.params.scriptId, message.params.url);
}

const namespaces = shared("functionRefs.namespaces", () => new Map<string, unknown>());

/** The function a FunctionRef names, importing its module (async: ES modules load asynchronously). */
export async function loadFunction(ref: FunctionRef): Promise<AnyFunction> {
  return pick(ref, await importModule(ref.module));
}

/**
 * The same as loadFunction, for a module already imported with importModule
 * (reduction.loads does that first) or one that require() can load.
 */
export function loadFunctionSync(ref: FunctionRef): AnyFunction {
  let namespace = namespaces.get(ref.module);
  if (namespace === undefined) {
    namespace = requireFromPackage()(ref.module.startsWith("file:") ? fileURLToPath(ref.module) : ref.module);
    namespaces.set(ref.module, namespace);
  }
  return pick(ref, namespace);
}

/** Whether importModule has loaded `module` in this thread already. */
export function isImported(module: string): boolean {
  return namespaces.has(module);
}

/** Import a module named by a file URL (ESM or CommonJS under a file URL) or an absolute CommonJS path. */
export async function importModule(module: string): Promise<unknown> {
  let namespace = namespaces.get(module);
  if (namespace === undefined) {
    namespace = !module.startsWith("file:") && isAbsolute(module) ? requireFromPackage()(module) : await import(module);
    namespaces.set(module, namespace);
  }
  return namespace;
}

function pick(ref: FunctionRef, namespace: unknown): AnyFunction {
  let found: unknown;
  if (ref.registered) {
    found = registry.byKey.get(registryKey(ref.module, ref.name));
  } else if (ref.name === "module.exports") {
    found = namespace && typeof namespace === "object" && "default" in namespace ? (namespace as { default: unknown }).default : namespace;
  } else if (namespace !== null && (typeof namespace === "object" || typeof namespace === "function")) {
    found = (namespace as Record<string, unknown>)[ref.name];
    if (found === undefined && "default" in namespace) {
      // A CommonJS module imported as ESM keeps its exports on `default`.
      const fallback = (namespace as { default: unknown }).default;
      if (fallback && typeof fallback === "object") found = (fallback as Record<string, unknown>)[ref.name];
    }
  }
  if (typeof found !== "function") {
    const how = ref.registered ? "registered with registerTarget" : "exported";
    const where = ref.module.startsWith("file:") ? fileURLToPath(ref.module) : ref.module;
    throw new FunctionLookupError(`${ref.name} is not ${how} by ${where} in this process`);
  }
  return found;
}
