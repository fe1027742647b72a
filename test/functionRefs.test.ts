/* Finding a function's module and export (src/functionRefs.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { locateFunction, registerTarget } from "../src/functionRefs.ts";
import { libraryOwn } from "../src/runtime.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

test("an exported function is still found after garbage collections", async () => {
  const { neverCalledBeforeStart } = await import("./fixtures/untouched.ts");
  for (let i = 0; i < 10; i++) gc();
  const ref = locateFunction(neverCalledBeforeStart);
  assert.equal(ref.name, "neverCalledBeforeStart");
  assert.match(ref.module, /fixtures\/untouched\.ts$/);
});

test("a class whose code names the class itself is found, and a Process subclass like it starts; a class inside a function is still a closure", async () => {
  const { CountingProcess } = await import("./fixtures/targets.ts");
  assert.equal(locateFunction(CountingProcess).name, "CountingProcess");
  const child = new CountingProcess();
  child.start();
  await child.join();
  assert.equal(child.exitCode, 0);
  assert.equal(CountingProcess.starts, 1);
  function makeLocal() {
    return class Local {
      static make(): Local {
        return new Local();
      }
    };
  }
  assert.throws(() => locateFunction(makeLocal()), /closure/);
});

test("errors give CommonJS advice for a CommonJS function and ES module advice for an ES one", async () => {
  const { createRequire } = await import("node:module");
  const cjs = createRequire(import.meta.url)("./fixtures/cjs-unexported.cjs") as { exported: () => void; hidden: () => () => void };
  assert.equal(locateFunction(cjs.exported).name, "exported");
  assert.throws(
    () => locateFunction(cjs.hidden()),
    (err: Error) => /hidden\(\) is not exported/.test(err.message) && /module\.exports/.test(err.message) && /registerTarget\(module, fn\)/.test(err.message) && !/import\.meta/.test(err.message),
  );
  function local() {}
  assert.throws(
    () => locateFunction(local),
    (err: Error) => /export function/.test(err.message) && /registerTarget\(import\.meta, fn\)/.test(err.message) && !/module\.exports/.test(err.message),
  );
});

test("registerTarget: another copy of the library (same version) may register its own twin of a library target; another function under the same module and name is refused", () => {
  const meta = { url: "file:///virtual/library-chunk.js" };
  registerTarget(meta, libraryOwn(function twin() {}));
  assert.doesNotThrow(() => registerTarget(meta, libraryOwn(function twin() {})));
  assert.throws(() => registerTarget(meta, function twin() {}), /another function named "twin" is already registered/);
});
