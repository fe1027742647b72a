/*
 * The channel's in-place paths (the pool's result loop uses them): records
 * written by fill() straight into the ring and read by drain() where they
 * lie, including records that wrap around the ring's end, mixed with the
 * copying tryWrite/tryRead, and across processes.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Channel } from "../src/channel.ts";
import { Segment } from "../src/heap.ts";
import { RawArray } from "../src/sharedctypes.ts";
import { TIMED_OUT } from "../src/native.ts";
import { PoolChannel } from "../src/pool/protocol.ts";
import { getContext, type StartMethod } from "../src/index.ts";
import { checkRecord, patternMessage, patternRecord, recordLength } from "./fixtures/channelRecords.ts";
import * as targets from "./fixtures/channelTargets.ts";

/** Hang guard, never a timing assertion. */
const HANG_MS = 120_000;

/** Drain everything there now, checking each record against the next expected number. */
function drainChecked(channel: Channel, next: number, max = Infinity): number {
  let at = next;
  for (;;) {
    const seen = channel.drain(max, (tag, bytes, offset, length) => {
      checkRecord(at++, tag, bytes, offset, length);
      return true;
    });
    if (seen === 0 || max !== Infinity) return at;
  }
}

describe("channel: records written and read in place", () => {
  test("in-place writes and in-place reads keep order and bytes, across many wraps of the ring", () => {
    const channel = Channel.create(0);
    let written = 0;
    let read = 0;
    // Keep ~20 records (up to 60 KB) in a 64 KiB ring, so that the tail and head wrap around its end again and again.
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 10; i++) assert.ok(channel.tryWrite(patternRecord(written++), false));
      read = drainChecked(channel, read, 10);
    }
    read = drainChecked(channel, read);
    assert.equal(read, written);
    assert.equal(channel.drain(10, () => true), 0, "nothing left");
  });

  test("drain stops after a record its visitor declines, and the next drain starts at the one after it", () => {
    const channel = Channel.create(0);
    for (let i = 0; i < 5; i++) channel.tryWrite(patternRecord(i), false);
    const seen: number[] = [];
    const first = channel.drain(100, (tag, bytes, at, length) => {
      checkRecord(seen.length, tag, bytes, at, length);
      seen.push(seen.length);
      return seen.length < 2;
    });
    assert.equal(first, 2);
    assert.equal(drainChecked(channel, 2), 5);
  });

  test("in-place and copying writes and reads mix in one order", () => {
    const channel = Channel.create(0);
    let written = 0;
    let read = 0;
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 8; i++) {
        const n = written++;
        channel.tryWrite(n % 2 === 0 ? patternRecord(n) : patternMessage(n), false);
      }
      for (let i = 0; i < 4; i++) {
        const message = channel.tryRead();
        assert.ok(message);
        checkRecord(read++, message.tag, message.payload, 0, message.payload.length);
      }
      read = drainChecked(channel, read, 4);
    }
    read = drainChecked(channel, read);
    assert.equal(read, written);
  });

  test("bytes a visitor copies stay as they were after the ring is written over", () => {
    const channel = Channel.create(0);
    const copies: Uint8Array[] = [];
    for (let round = 0; round < 200; round++) {
      channel.tryWrite(patternRecord(round), false);
      channel.drain(1, (_tag, bytes, at, length) => {
        copies.push(bytes.slice(at, at + length));
        return true;
      });
    }
    copies.forEach((copy, i) => checkRecord(i, i % 200, copy, 0, copy.length));
    assert.equal(copies[7]!.length, recordLength(7));
  });

  for (const method of ["spawn", "thread"] as StartMethod[]) {
    test(`records a ${method} child writes in place arrive whole and in order`, { timeout: HANG_MS }, async () => {
      const channel = Channel.create(0);
      const count = 3000;
      const child = new (getContext(method).Process)({ target: targets.writeRecords, args: [new PoolChannel(channel), count] });
      child.start();
      let read = 0;
      while (read < count) {
        read = drainChecked(channel, read);
        if (read < count) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await child.join();
      assert.equal(child.exitCode, 0);
      assert.equal(read, count);
    });
  }
});

describe("channel: whenReadable, the result loop's wait", () => {
  test("a message already there: ready is called before whenReadable returns, and there is nothing to cancel", () => {
    const channel = Channel.create(0);
    channel.tryWrite(patternRecord(0), false);
    let called = 0;
    const cancel = channel.whenReadable(() => called++);
    assert.equal(called, 1);
    assert.equal(cancel(), false);
    assert.equal(drainChecked(channel, 0), 1);
  });

  test("cancelled while it sleeps: true, and a later message does not call ready", async () => {
    const channel = Channel.create(0);
    let called = 0;
    const cancel = channel.whenReadable(() => called++);
    assert.equal(called, 0);
    assert.equal(cancel(), true);
    assert.equal(cancel(), false, "once");
    channel.tryWrite(patternRecord(0), false);
    // Give a wrongly kept wait the time to deliver (the waiter thread's callback comes through the event loop).
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(called, 0);
    // The channel still wakes a new sleeper.
    const arrived = new Promise<void>((resolve) => channel.whenReadable(resolve));
    await arrived;
    assert.equal(drainChecked(channel, 0), 1);
  });

  for (const method of ["spawn", "thread"] as StartMethod[]) {
    test(`a loop that sleeps in whenReadable and drains gets every record a ${method} child writes`, { timeout: HANG_MS }, async () => {
      const channel = Channel.create(0);
      const count = 3000;
      const child = new (getContext(method).Process)({ target: targets.writeRecords, args: [new PoolChannel(channel), count] });
      child.start();
      let read = 0;
      let sleeps = 0;
      while (read < count) {
        read = drainChecked(channel, read);
        if (read < count) {
          await new Promise<void>((resolve) => channel.whenReadable(resolve));
          sleeps++;
        }
      }
      await child.join();
      assert.equal(child.exitCode, 0);
      assert.equal(read, count);
      assert.ok(sleeps >= 1, "it slept at least once (the child was not done before the first drain)");
    });
  }
});

describe("segment waits take themselves off a count of sleepers as they end", () => {
  const WORD = 0;
  const COUNT = 1;

  /** Spin (blocking this thread, so no callback can run) until `count` reads 0; false after a hang guard. */
  function spinUntilZero(words: Int32Array): boolean {
    const until = performance.now() + 10_000;
    while (performance.now() < until) if (Atomics.load(words, COUNT) === 0) return true;
    return false;
  }

  test("woken: the waiter thread settles the count before the wait's callback runs on this thread", async () => {
    const segment = Segment.create(64);
    const words = segment.int32;
    Atomics.add(words, COUNT, 1);
    let called = false;
    const waiting = segment.waitAsync(WORD, 0, 60_000, undefined, COUNT).then((result) => {
      called = true;
      return result;
    });
    // Let the waiter thread go to sleep on the word (a change before it sleeps settles too, as "changed").
    await new Promise((resolve) => setTimeout(resolve, 20));
    Atomics.store(words, WORD, 1);
    segment.wake(WORD, 1);
    assert.ok(spinUntilZero(words), "the count went back to 0 while this thread was busy");
    assert.equal(called, false, "before the callback ran");
    assert.ok([0, 2].includes(await waiting), "woken, or saw the change");
    assert.equal(Atomics.load(words, COUNT), 0, "settled once");
  });

  for (const method of ["spawn", "thread"] as StartMethod[]) {
    test(`lingering waits on a word a ${method} child changes round after round all end, each settling its count once`, { timeout: HANG_MS }, async () => {
      // The native waiter keeps watching a lingering wait's word after it ends and is not woken for the next wait
      // on it: this ping-pong makes the child's move land before, during and after the parent's next wait is added.
      // The waits have no timeout, so one left out of the waiter's set would hang here. (A wake lost in the race
      // between the child's look at the count and the parent's add would cost only until the word's watch expires,
      // 20 ms: native/waiter.c argues why the add's own look at the word closes it.)
      const words = new RawArray("i", 2);
      const { view, block } = words;
      const turn = block.offset / 4;
      const rounds = 2000;
      const child = new (getContext(method).Process)({ target: targets.pingPong, args: [words, rounds] });
      child.start();
      for (let round = 0; round < rounds; round++) {
        for (;;) {
          const seen = Atomics.load(view, 0);
          if (seen === 2 * round + 1) break;
          Atomics.add(view, 1, 1);
          await new Promise((resolve) => block.segment.waitThen(turn, seen, -1, turn + 1, resolve, true));
        }
        Atomics.store(view, 0, 2 * round + 2);
      }
      await child.join();
      assert.equal(child.exitCode, 0);
      assert.equal(Atomics.load(view, 0), 2 * rounds);
      assert.equal(Atomics.load(view, 1), 0, "every wait settled its count once");
    });
  }

  test("timed out, aborted while waiting, aborted before, and blocking: each settles once", async () => {
    const segment = Segment.create(64);
    const words = segment.int32;
    Atomics.add(words, COUNT, 1);
    assert.equal(await segment.waitAsync(WORD, 0, 10, undefined, COUNT), TIMED_OUT);
    assert.equal(Atomics.load(words, COUNT), 0);

    Atomics.add(words, COUNT, 1);
    const controller = new AbortController();
    const aborted = segment.waitAsync(WORD, 0, 60_000, controller.signal, COUNT);
    controller.abort();
    await assert.rejects(aborted);
    assert.equal(Atomics.load(words, COUNT), 0);

    Atomics.add(words, COUNT, 1);
    await assert.rejects(segment.waitAsync(WORD, 0, 60_000, controller.signal, COUNT));
    assert.equal(Atomics.load(words, COUNT), 0);

    Atomics.add(words, COUNT, 1);
    assert.equal(segment.wait(WORD, 0, 10, COUNT), TIMED_OUT);
    assert.equal(Atomics.load(words, COUNT), 0);
  });
});
