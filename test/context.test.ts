/* Start methods and contexts (src/context.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Context, Process, getAllStartMethods, getContext, getStartMethod, setStartMethod } from "../src/index.ts";

test("spawn is the default and listed first; thread is available", () => {
  assert.deepEqual(getAllStartMethods(), ["spawn", "thread"]);
  assert.equal(getStartMethod(), "spawn");
});

test("getContext(method) is cached, reports its method and is its own context", () => {
  const ctx = getContext("thread");
  assert.ok(ctx instanceof Context);
  assert.equal(getContext("thread"), ctx);
  assert.equal(ctx.getStartMethod(), "thread");
  assert.equal(ctx.getContext(), ctx);
  assert.throws(() => ctx.setStartMethod(), /cannot set start method of concrete context/);
});

test("a context's Process is a Process named like one", () => {
  const p = new (getContext("thread").Process)();
  assert.ok(p instanceof Process);
  assert.match(p.name, /^Process-\d+$/);
});

test("setStartMethod is allowed once the default is fixed only with force, and rejects unknown methods", () => {
  getStartMethod();
  assert.throws(() => setStartMethod("thread"), /context has already been set/);
  setStartMethod("thread", true);
  assert.equal(getStartMethod(), "thread");
  assert.equal(new Process().constructor, Process);
  setStartMethod("spawn", true);
  assert.throws(() => setStartMethod("fork" as never, true), /cannot find context for "fork"/);
  assert.throws(() => getContext("forkserver" as never), /cannot find context/);
});
