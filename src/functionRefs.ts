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
import { builtin, requireFromPackage, sameLibraryVersion, shared } from "./runtime.ts";
import { typeScriptReady } from "./spawn/typescript.ts";
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
  if (existing && existing !== fn && !sameLibraryVersion(existing, fn)) {
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

/** How to make a function findable, in the words of its module's system. */
function fixFor(commonJs: boolean): string {
  return commonJs
    ? "export it from its module (`module.exports.name = name`, or `exports.name = name`), or register it with registerTarget(module, fn)"
    : "export it from its module (`export function name(...)`), or register it with registerTarget(import.meta, fn)";
}

/** Whether the program runs as CommonJS: the advice for a function with no module of its own follows it. */
function programIsCommonJs(): boolean {
  return requireFromPackage().main !== undefined;
}

function lookup(fn: AnyFunction, what: string): FunctionRef {
  const label = fn.name ? `${what} ${fn.name}()` : `${what}`;
  const where = fn.name.startsWith("bound ") ? undefined : inspect(fn);
  const path = where ? (where.url.startsWith("file:") ? fileURLToPath(where.url) : where.url) : undefined;
  // CommonJS functions sit in the module wrapper's closure (so closures are not told apart); their exports are plain properties.
  const commonJs = where && path !== undefined ? isCommonJs(where, path) : programIsCommonJs();
  const fix = fixFor(commonJs);
  if (!fn.name || fn.name === "anonymous") {
    throw new FunctionLookupError(
      `${label} is an anonymous function, which another process cannot find. Give it a name and ${fix}.`,
    );
  }
  if (fn.name.startsWith("bound ")) {
    throw new FunctionLookupError(`${label} is a bound function, which another process cannot rebuild. Pass the function itself and its arguments instead.`);
  }
  if (!where || path === undefined) {
    throw new FunctionLookupError(`${label} is a native or built-in function; only functions from your own modules can be sent. Wrap it: ${fix}.`);
  }
  if (!commonJs && where.closure) {
    throw new FunctionLookupError(
      `${label} is defined inside another function (a closure), which another process cannot find. Move it to the top level of its module and ${fix}.`,
    );
  }
  // A module another loader evaluated (jest) is named by its path rather than a file URL.
  const url = where.url.startsWith("file:") ? where.url : pathToFileURL(path).href;
  const syntax = commonJs ? null : esmSyntax(url);
  const runner = testRunnerOf(path, syntax);
  if (runner) {
    throw new FunctionLookupError(
      `${label} is defined in a ${runner} test file (${path}), which a child process would have to import outside ${runner}. ` +
        `Move it into a helper module and import it from the test file.`,
    );
  }
  const exportName = commonJs ? cjsExportName(path, fn) : esmExportName(syntax, fn);
  if (exportName === undefined) {
    const inlined = bundledFrom(path, fn.name);
    if (inlined !== undefined) {
      const register = commonJs ? "registerTarget(module, fn)" : "registerTarget(import.meta, fn)";
      throw new FunctionLookupError(
        `${label} is not exported from ${path}, a bundle into which ${inlined} was inlined, so another process cannot find it. ` +
          `Export it from the bundle's entry point, keep ${inlined} out of the bundle (mark it external), ` +
          `or call ${register} next to it in ${inlined} (that works inside a bundle).`,
      );
    }
    throw new FunctionLookupError(`${label} is not exported from ${path}, so another process cannot find it: ${fix}.`);
  }
  return { module: commonJs ? path : url, name: exportName };
}

/**
 * The module a bundler (esbuild, which marks each inlined module with a `// path` line) inlined the
 * definition of `name` from, if `path` is such a bundle.
 */
function bundledFrom(path: string, name: string): string | undefined {
  let source: string;
  try {
    source = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const definition = new RegExp(`^\\s*(?:async\\s+)?(?:function\\*?|class)\\s+${name.replace(/[$]/g, "\\$&")}\\b`, "m").exec(source);
  if (!definition) return undefined;
  const markers = [...source.slice(0, definition.index).matchAll(/^\/\/ (\S+\.[cm]?[jt]sx?)$/gm)];
  return markers.at(-1)?.[1];
}

function isCommonJs(where: Location, path: string): boolean {
  return !where.esModule || (isAbsolute(path) && requireFromPackage().cache[path] !== undefined);
}

function cjsExportName(path: string, fn: AnyFunction): string | undefined {
  if (!isAbsolute(path)) return undefined;
  const cached = requireFromPackage().cache[path];
  // Loaded by another loader (jest's): trust the name; the child checks again when it requires the module.
  if (!cached) return fn.name;
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
  parse(source: string): readonly [ReadonlyArray<{ n?: string }>, ReadonlyArray<{ n: string; ln?: string }>];
}

let lexer: Lexer | undefined;

interface Syntax {
  exports: ReadonlyArray<{ n: string; ln?: string }>;
  imports: string[];
}

/** What an ES module's source exports and imports; null if it cannot be read, "unknown" for a syntax the lexer does not know. */
function esmSyntax(url: string): Syntax | null | "unknown" {
  if (!url.startsWith("file:")) return null;
  let source: string;
  try {
    source = readFileSync(fileURLToPath(url), "utf8");
  } catch {
    return null;
  }
  if (!lexer) {
    lexer = requireFromPackage()("es-module-lexer") as Lexer;
    lexer.initSync();
  }
  try {
    const [imports, exports] = lexer.parse(source);
    return { exports, imports: imports.flatMap((i) => (i.n === undefined ? [] : [i.n])) };
  } catch {
    return "unknown";
  }
}

function esmExportName(syntax: Syntax | null | "unknown", fn: AnyFunction): string | undefined {
  if (syntax === null) return undefined;
  // A syntax the lexer does not know: trust the name; the child checks again on import.
  if (syntax === "unknown") return fn.name;
  const byLocal = syntax.exports.find((e) => e.ln === fn.name);
  if (byLocal) return byLocal.n;
  if (fn.name === "default" && syntax.exports.some((e) => e.n === "default")) return "default";
  return undefined;
}

/** The test runner whose test file `path` is, if it is one that a child cannot import (node:test files can: testFiles.ts). */
function testRunnerOf(path: string, syntax: Syntax | null | "unknown"): string | undefined {
  const imports = typeof syntax === "object" && syntax !== null ? syntax.imports : [];
  if (imports.some((specifier) => /^vitest(\/|$)/.test(specifier))) return "vitest";
  if (imports.includes("@jest/globals")) return "jest";
  // Test globals need no import (jest's always, vitest's with `globals: true`); their expect knows the test file it runs.
  const globalExpect = (globalThis as { expect?: { getState?(): { testPath?: string } } }).expect;
  if (typeof globalExpect?.getState === "function" && globalExpect.getState().testPath === path) {
    return process.env.VITEST !== undefined ? "vitest" : "jest";
  }
  return undefined;
}

interface Location {
  url: string;
  closure: boolean;
  /** Defined in an ES module (else CommonJS, loaded by Node's loader or another, such as jest's). */
  esModule: boolean;
}

interface InspectorSession {
  connect(): void;
  post(method: string, params: object, callback: (err: Error | null, result: unknown) => void): void;
  on(event: string, listener: (message: { params: never }) => void): void;
  off(event: string, listener: (message: { params: never }) => void): void;
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
    const result = probe(objectGroup);
    if (!result?.objectId) return undefined;
    const props = post<PropertiesResult>("Runtime.getProperties", { objectId: result.objectId, ownProperties: true });
    const internal = props.internalProperties ?? [];
    const location = internal.find((p) => p.name === "[[FunctionLocation]]")?.value?.value as { scriptId: string } | undefined;
    if (!location) return undefined;
    const url = scriptUrl(location.scriptId);
    if (!url) return undefined;
    const scopesId = internal.find((p) => p.name === "[[Scopes]]")?.value?.objectId;
    let closure = false;
    let esModule = false;
    if (scopesId) {
      const scopes = post<PropertiesResult>("Runtime.getProperties", { objectId: scopesId, ownProperties: true });
      const chain = scopes.result.map((scope) => ({ kind: scope.value?.description ?? "", id: scope.value?.objectId }));
      const outermost = chain.filter((scope) => !/^(Global|Script)\b/.test(scope.kind)).at(-1);
      // Every function of an ES module sees the module scope; vite's runner makes it the outermost block.
      esModule = chain.some((scope) => scope.kind.startsWith("Module")) || (outermost?.kind.startsWith("Block") === true && scopeNames(outermost.id).includes(fn.name));
      closure = chain.some((scope) => {
        if (!/^(Closure|Local|Block|Catch|With|Eval)\b/.test(scope.kind)) return false;
        if (!scope.kind.startsWith("Block")) return true;
        const names = scopeNames(scope.id);
        // A class whose code names the class itself has a block scope holding just that name: its own, not an enclosing one.
        if (names.length === 1 && names[0] === fn.name) return false;
        // vitest (vite's module runner) evaluates a module's top level as the outermost block of a script.
        return !(scope === outermost && names.includes(fn.name));
      });
    }
    return { url, closure, esModule };
  } finally {
    delete holder[probeSlot];
    post("Runtime.releaseObjectGroup", { objectGroup });
  }
}

let probeContext: number | undefined;

/**
 * The function on the probe slot, as the inspector sees it. This module may run in a vm context of its own
 * (jest's): then the probe is on that context's global, and the default context does not see it.
 */
function probe(objectGroup: string): RemoteObject | undefined {
  const evaluate = (contextId?: number) =>
    post<{ result: RemoteObject }>("Runtime.evaluate", { expression: `globalThis.${probeSlot}`, objectGroup, contextId }).result;
  const found = evaluate(probeContext);
  if (found.objectId || probeContext !== undefined) return found;
  for (const contextId of contextIds()) {
    const other = evaluate(contextId);
    if (other.objectId) {
      probeContext = contextId;
      return other;
    }
  }
  return undefined;
}

function contextIds(): number[] {
  const ids: number[] = [];
  const remember = (message: { params: { context: { id: number } } }) => ids.push(message.params.context.id);
  // Enabling the runtime domain replays every execution context; nothing else of it is needed.
  session!.on("Runtime.executionContextCreated", remember);
  try {
    post("Runtime.enable");
    post("Runtime.disable");
  } finally {
    session!.off("Runtime.executionContextCreated", remember);
  }
  return ids;
}

function scopeNames(scopeId: string | undefined): string[] {
  if (!scopeId) return [];
  return post<PropertiesResult>("Runtime.getProperties", { objectId: scopeId, ownProperties: true }).result.map((binding) => binding.name);
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
    await typeScriptReady(module);
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
