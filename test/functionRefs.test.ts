/* Finding a function's module and export (src/functionRefs.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { locateFunction } from "../src/functionRefs.ts";

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
