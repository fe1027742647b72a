/*
 * A child must never run the tests of the module it imports to find its
 * target. node:test runs a test as soon as a module calls test(), so a
 * worker importing a test file would run that file's tests, which start
 * pools, whose workers import the file again: an endless cascade, and each
 * child's report mixed into the parent's TAP stream.
 *
 * So when this process uses node:test, its children get a node:test whose
 * test(), describe() and hooks do nothing: importing a test file in a child
 * only defines its functions. ES imports are redirected by a resolve hook,
 * require() by a wrapper of Module._load. Children of a child inherit the
 * choice (their parent has loaded the inert node:test, never the real one).
 *
 * Talks to: process.ts (sets the header flag at start), child.ts (applies it).
 */
import { builtin, shared } from "../runtime.ts";

const state = shared("testFiles.state", () => ({ silenced: false }));

/** Whether children of this process must get the inert node:test. */
export function usesNodeTest(): boolean {
  if (state.silenced) return true;
  const loaded = (process as { moduleLoadList?: readonly string[] }).moduleLoadList;
  return loaded?.includes("NativeModule internal/test_runner/harness") ?? false;
}

const testFunctions = new Set(["default", "test", "it", "describe", "suite"]);
const hookFunctions = new Set(["before", "after", "beforeEach", "afterEach"]);

/** Replace node:test in this thread, before any user module is imported. */
export function silenceNodeTest(): void {
  if (state.silenced) return;
  state.silenced = true;
  const real = builtin("node:test") as unknown as Record<string, unknown>;
  // What require("node:test") returns: like the real one, the test function carrying the others.
  const cjs = (() => Promise.resolve()) as unknown as Record<string, unknown>;
  for (const variant of ["skip", "todo", "only"]) cjs[variant] = cjs;
  const hook = (): void => {};
  const lines = [
    "const inert = () => Promise.resolve();",
    "inert.skip = inert.todo = inert.only = inert;",
    "const hook = () => {};",
    'const real = process.getBuiltinModule("node:test");',
    "export default inert;",
  ];
  for (const key of Object.keys(real)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(key) || key === "default") continue;
    if (testFunctions.has(key)) {
      lines.push(`export { inert as ${key} };`);
      cjs[key] = cjs;
    } else if (hookFunctions.has(key)) {
      lines.push(`export { hook as ${key} };`);
      cjs[key] = hook;
    } else {
      lines.push(`export const ${key} = real.${key};`);
      Object.defineProperty(cjs, key, { get: () => real[key], enumerable: true });
    }
  }
  const stub = dataUrl(lines.join("\n"));
  const hooks = dataUrl(
    `export async function resolve(specifier, context, next) {\n` +
      `  return specifier === "node:test" ? { url: ${JSON.stringify(stub)}, shortCircuit: true } : next(specifier, context);\n}`,
  );
  const moduleApi = builtin("node:module");
  moduleApi.register(hooks);
  const Module = moduleApi.Module as unknown as { _load(request: string, ...rest: unknown[]): unknown };
  const load = Module._load;
  Module._load = function (this: unknown, request: string, ...rest: unknown[]) {
    return request === "node:test" ? cjs : load.call(this, request, ...rest);
  };
}

function dataUrl(source: string): string {
  return `data:text/javascript,${encodeURIComponent(source)}`;
}
