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
