/* Serialization (src/reduction.ts): what travels, how, and the errors for what cannot. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deserialize } from "node:v8";
import { decodeMessageSync, dumps, encodeMessage, loads, loadsIfImported, MessageTag, reduce, registerRebuilder, type Reducible } from "../src/reduction.ts";
import { Empty, Lock, ProcessError, registerSerializable, SerializationError, TimeoutError } from "../src/index.ts";
import { double, Greeter } from "./fixtures/targets.ts";

async function roundTrip<T>(value: T): Promise<T> {
  return (await loads(dumps(value).data)) as T;
}

test("plain data takes the structured-clone path unchanged", async () => {
  const value = { a: [1, "x", null, undefined, true], n: -0, big: 10n ** 30n, when: new Date(0), re: /x+/gi, bytes: new Uint16Array([1, 2]) };
  assert.deepEqual(await roundTrip(value), value);
});

test("an error keeps its class, message, stack, cause and own fields", async () => {
  const original = Object.assign(new TypeError("bad thing", { cause: new RangeError("root") }), { code: "E_BAD", detail: { n: 1 } });
  const copy = await roundTrip(original);
  assert.ok(copy instanceof TypeError);
  assert.equal(copy.message, "bad thing");
  assert.equal(copy.stack, original.stack);
  assert.ok(copy.cause instanceof RangeError);
  assert.equal((copy.cause as Error).message, "root");
  assert.equal(copy.code, "E_BAD");
  assert.deepEqual(copy.detail, { n: 1 });
  assert.deepEqual(Object.keys(copy), ["code", "detail"]);
});

test("library errors keep their class; an unknown error class keeps its name", async () => {
  assert.ok((await roundTrip(new Empty("nothing"))) instanceof Empty);
  const timeout = await roundTrip(new TimeoutError("late"));
  assert.ok(timeout instanceof TimeoutError && timeout instanceof ProcessError);
  class LocalError extends Error {}
  LocalError.prototype.name = "LocalError";
  const local = await roundTrip(new LocalError("x"));
  assert.equal(local.name, "LocalError");
  assert.ok(local instanceof Error);
  const aggregate = await roundTrip(new AggregateError([new Error("a")], "many"));
  assert.ok(aggregate instanceof AggregateError);
  assert.equal(aggregate.errors[0].message, "a");
});

test("a library error names no module for the receiver to import; a value holding a Lock is rebuilt without an import", () => {
  // Every receiver has the library's classes registered, and its travelling types' rebuilders.
  const [modules] = deserialize(dumps(new Empty("nothing")).data) as [string[]];
  assert.deepEqual(modules, []);
  const lock = new Lock();
  const rebuilt = loadsIfImported(dumps({ lock }).data)?.value as { lock: Lock } | undefined;
  assert.ok(rebuilt?.lock instanceof Lock);
  lock.acquireSync();
  assert.ok(rebuilt.lock.locked());
  lock.release();
});

test("instances of registered classes keep their class; functions travel by reference", async () => {
  const copy = await roundTrip({ g: new Greeter("you"), f: double, again: double });
  assert.ok(copy.g instanceof Greeter);
  assert.equal(copy.g.greet(), "hello you");
  assert.equal(copy.f, double);
  assert.equal(copy.again, double);
});

test("cycles survive, including through tagged values", async () => {
  const node: { self?: unknown; err?: Error } = {};
  node.self = node;
  node.err = Object.assign(new Error("e"), { owner: node });
  const copy = await roundTrip(node);
  assert.equal(copy.self, copy);
  assert.equal((copy.err as Error & { owner: unknown }).owner, copy);
});

test("what cannot travel is refused with the path inside the value", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ args: [1, { cb: () => 1 }] }, /args\[1\]\.cb cannot be sent/],
    [{ list: [Symbol("s")] }, /list\[0\] is a symbol/],
    [{ m: new Map([["k", new WeakSet()]]) }, /m\.k is a WeakSet/],
    [{ p: Promise.resolve(1) }, /p is a Promise/],
    [{ "odd key": { deep: [new SharedArrayBuffer(8)] } }, /\["odd key"\]\.deep\[0\] is a SharedArrayBuffer/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => dumps(value, { root: "" }), (err: unknown) => err instanceof SerializationError && message.test(err.message));
  }
});

test("registerSerializable refuses a second class under the same name", () => {
  class Greeter2 {}
  assert.throws(() => registerSerializable(Greeter2, "Greeter"), /already registered/);
});

test("objects implementing [reduce] travel as their reduced state and are rebuilt on arrival", async () => {
  class Handle implements Reducible {
    constructor(readonly id: string) {}
    [reduce]() {
      return { type: "test.Handle", module: import.meta.url, state: { id: this.id } };
    }
  }
  registerRebuilder("test.Handle", (state) => new Handle(`reopened ${(state as { id: string }).id}`));
  const copy = await roundTrip({ h: new Handle("seg-1") });
  assert.ok(copy.h instanceof Handle);
  assert.equal(copy.h.id, "reopened seg-1");
});

test("messages: arrays of numbers travel as float64s and come back equal; anything else in an array takes structured clone", () => {
  const roundTrip = (value: unknown) => decodeMessageSync(encodeMessage(value));
  const numbers = [0, -0, 1.5, -(2 ** 53), 2 ** 53, NaN, Infinity, -Infinity, 1e-300, 7];
  const message = encodeMessage(numbers);
  assert.equal(message.tag, MessageTag.Numbers);
  const back = roundTrip(numbers) as number[];
  assert.deepEqual(back, numbers);
  assert.ok(Object.is(back[1], -0));
  const large = Array.from({ length: 100_000 }, (_, i) => i * i);
  assert.deepEqual(roundTrip(large), large);
  // A message read out of a shared ring at an odd offset still decodes.
  const shifted = new Uint8Array(message.payload.length + 1);
  shifted.set(message.payload, 1);
  assert.deepEqual(decodeMessageSync({ tag: MessageTag.Numbers, payload: shifted.subarray(1) }), numbers);
  for (const other of [[1, "2"], [1, , 3], [1, null], [], [1n]]) {
    assert.notEqual(encodeMessage(other).tag, MessageTag.Numbers, String(other));
    assert.deepEqual(roundTrip(other), other);
  }
  // An Array subclass is not a plain array: it keeps the general path (which, unregistered, gives a plain array).
  assert.notEqual(encodeMessage(new (class Tuple extends Array<number> {})()).tag, MessageTag.Numbers);
});
