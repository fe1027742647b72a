/*
 * The pool's result messages (src/pool/protocol.ts) written and read back
 * without processes: a worker holds many outcomes and sends them as one
 * message; the parent must read each, in order, exactly as it was held.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MaybeEncodingError } from "../src/errors.ts";
import { OutcomeWriter, ResultKind, firstOutcomeAt, readOutcome, readResultAt, resultHeader, type Outcome } from "../src/pool/protocol.ts";

interface Held {
  ok: boolean;
  value: unknown;
  ms: number;
  chunk: boolean;
}

/** Hold `outcomes` in one writer, write its message at an odd offset of a buffer, and read every outcome back. */
function roundTrip(outcomes: Held[]): { slot: number; generation: number; read: Outcome[] } {
  const writer = new OutcomeWriter(3, 7);
  for (const { ok, value, ms, chunk } of outcomes) writer.add(ok, value, ms, chunk);
  assert.equal(writer.count, outcomes.length);
  const at = 5;
  const bytes = new Uint8Array(at + writer.length + 3);
  writer.fill(bytes, at);
  const header = readResultAt(bytes, at, writer.length, resultHeader());
  assert.equal(header.kind, ResultKind.Results);
  assert.equal(header.arg, outcomes.length, "the message counts its outcomes");
  const read: Outcome[] = [];
  let next = firstOutcomeAt(header);
  for (let i = 0; i < header.arg; i++) {
    const outcome: Outcome = { ok: false, ms: 0, value: undefined };
    next = readOutcome(bytes, next, outcome);
    read.push(outcome);
  }
  assert.equal(next, header.end, "the outcomes fill the message exactly");
  return { slot: header.slot, generation: header.generation, read };
}

describe("pool result messages: many outcomes in one", () => {
  test("thousands of number results, one chunk each, come back in order (the writer grows as it holds them)", () => {
    const held = Array.from({ length: 5000 }, (_, i) => ({ ok: true, value: [i * i + 0.5], ms: i / 1000, chunk: true }));
    const { slot, generation, read } = roundTrip(held);
    assert.deepEqual([slot, generation], [3, 7]);
    read.forEach((outcome, i) => assert.deepEqual(outcome, { ok: true, ms: i / 1000, value: [i * i + 0.5] }, `outcome ${i}`));
  });

  test("every kind of value and error, mixed, each in its place", () => {
    const error = new RangeError("out of range");
    const held: Held[] = [
      { ok: true, value: 42, ms: 1, chunk: false },
      { ok: true, value: ["one string"], ms: 2, chunk: true },
      { ok: true, value: new Float64Array([1.5, 2.5, 3.5]), ms: 3, chunk: true },
      { ok: true, value: [{ nested: [1, "two", null] }, 7], ms: 4, chunk: true },
      { ok: false, value: error, ms: 5, chunk: true },
      { ok: true, value: "x".repeat(20_000), ms: 6, chunk: false },
      { ok: true, value: [() => 1], ms: 7, chunk: true },
      { ok: true, value: new Uint8Array([9, 8, 7]), ms: 8, chunk: false },
    ];
    const { read } = roundTrip(held);
    assert.equal(read.length, held.length);
    assert.deepEqual(read[0], { ok: true, ms: 1, value: 42 });
    assert.deepEqual(read[1], { ok: true, ms: 2, value: ["one string"] });
    assert.deepEqual(read[2], { ok: true, ms: 3, value: [1.5, 2.5, 3.5] });
    assert.deepEqual(read[3], { ok: true, ms: 4, value: [{ nested: [1, "two", null] }, 7] });
    assert.equal(read[4]!.ok, false);
    assert.ok(read[4]!.value instanceof RangeError && read[4]!.value.message === "out of range", String(read[4]!.value));
    assert.deepEqual(read[5], { ok: true, ms: 6, value: "x".repeat(20_000) });
    assert.equal(read[6]!.ok, false, "a result that cannot travel is its task's error");
    assert.ok(read[6]!.value instanceof MaybeEncodingError, String(read[6]!.value));
    assert.deepEqual(read[7], { ok: true, ms: 8, value: new Uint8Array([9, 8, 7]) });
  });

  test("a writer emptied after a message holds the next outcomes alone (after a large one too)", () => {
    const writer = new OutcomeWriter(0, 1);
    writer.add(true, 1, 0, false);
    writer.add(true, "y".repeat(3_000_000), 0, false);
    writer.clear();
    assert.equal(writer.count, 0);
    writer.add(true, 3, 0.25, false);
    const bytes = new Uint8Array(writer.length);
    writer.fill(bytes, 0);
    const header = readResultAt(bytes, 0, bytes.length, resultHeader());
    assert.equal(header.arg, 1);
    const outcome: Outcome = { ok: false, ms: 0, value: undefined };
    assert.equal(readOutcome(bytes, firstOutcomeAt(header), outcome), bytes.length);
    assert.deepEqual(outcome, { ok: true, ms: 0.25, value: 3 });
  });
});
