/*
 * Pipe and Connection (src/connection.ts over the shared-memory channels of
 * src/channel.ts): values and bytes, polling, timeouts and aborts, the end of
 * the stream (close, process exit, SIGKILL), broken pipes, and ends passed on
 * to children, grandchildren and through other pipes. Python's
 * _TestConnection, _TestPoll and _TestPicklingConnections, across real
 * processes (spawn) and threads.
 */
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  BrokenPipeError,
  BufferTooShort,
  EOFError,
  Pipe,
  SerializationError,
  TimeoutError,
  getContext,
  type Connection,
  type Process,
  type StartMethod,
  type Target,
} from "../src/index.ts";
import * as targets from "./fixtures/pipeTargets.ts";
import { waitUntil } from "./helpers.ts";

const methods: StartMethod[] = ["spawn", "thread"];
/** A hang guard, never a timing assertion. */
const HANG_MS = 60_000;
const SUITE_MS = 8 * HANG_MS;
/** A hang guard for an end of stream that should come within a fraction of a second. */
const EOF_GUARD_MS = 20_000;

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

const running: Process[] = [];

function start(method: StartMethod, target: Target, args: unknown[]): Process {
  const child = new (getContext(method).Process)({ target, args });
  child.start();
  running.push(child);
  return child;
}

/** Wait for `child` (hang guard) and check it ended well. */
async function joinedOk(child: Process): Promise<void> {
  await child.join(HANG_MS);
  assert.equal(child.exitCode, 0, "the child ended with exit code 0");
}

afterEach(() => {
  // A failed test must not leave a child hanging on a pipe.
  for (const child of running.splice(0)) if (child.isAlive()) child.kill();
});

function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

describe("Pipe in one process", { timeout: SUITE_MS }, () => {
  test("a duplex pair: both ends read and write; values go both ways", async () => {
    const [a, b] = Pipe();
    assert.deepEqual([a.readable, a.writable, b.readable, b.writable], [true, true, true, true]);
    assert.deepEqual([a.closed, b.closed], [false, false]);
    a.send("to b");
    b.send({ to: "a" });
    assert.equal(await b.recv(HANG_MS), "to b");
    assert.deepEqual(await a.recv(HANG_MS), { to: "a" });
    b.send(42);
    assert.equal(a.recvSync(HANG_MS), 42);
    a.close();
    b.close();
  });

  test("Pipe(false) is [reader, writer]: the flags say which; the wrong direction throws", async () => {
    const [reader, writer] = Pipe(false);
    assert.deepEqual([reader.readable, reader.writable], [true, false]);
    assert.deepEqual([writer.readable, writer.writable], [false, true]);
    assert.throws(() => reader.send("x"), /read-only/);
    assert.throws(() => reader.sendBytes(bytes("x")), /read-only/);
    await assert.rejects(writer.recv(), /write-only/);
    assert.throws(() => writer.recvSync(), /write-only/);
    await assert.rejects(writer.recvBytes(), /write-only/);
    await assert.rejects(writer.recvBytesInto(new Uint8Array(8)), /write-only/);
    await assert.rejects(async () => writer.poll(), /write-only/);
    assert.throws(() => writer.pollSync(), /write-only/);
    assert.equal(await reader.poll(), false, "nothing was sent by the refused calls");
    writer.send("one way");
    assert.equal(await reader.recv(HANG_MS), "one way");
    reader.close();
    writer.close();
  });

  test("sendBytes: offset == length sends an empty message; a negative or out-of-range offset or size is a RangeError and sends nothing", async () => {
    const [a, b] = Pipe();
    const msg = bytes("abcdefghijklmnopqrstuvwxyz");
    a.sendBytes(msg, 26);
    assert.equal((await b.recvBytes()).length, 0);
    for (const [offset, size] of [[27], [22, 5], [26, 1], [-1], [4, -1], [-1, 2], [0, 27]] as Array<[number, number?]>) {
      assert.throws(() => a.sendBytes(msg, offset, size), RangeError, `offset ${offset}, size ${String(size)}`);
    }
    assert.throws(() => a.sendBytes(new ArrayBuffer(4), 5), RangeError);
    assert.equal(await b.poll(), false, "the refused calls sent nothing");
    a.sendBytes(msg, 22, 4);
    assert.equal(text(await b.recvBytes()), "wxyz");
    a.close();
    b.close();
  });

  test("recvBytesInto: a negative offset or one past the end is a RangeError and consumes nothing", async () => {
    const [a, b] = Pipe();
    a.sendBytes(bytes("kept"));
    await assert.rejects(b.recvBytesInto(new Uint8Array(8), -1), RangeError);
    await assert.rejects(b.recvBytesInto(new Uint8Array(8), 9), RangeError);
    assert.throws(() => b.recvBytesIntoSync(new Uint8Array(8), 9), RangeError);
    assert.equal(await b.poll(), true);
    assert.equal(text(await b.recvBytes()), "kept");
    a.close();
    b.close();
  });

  test("poll: false at once on an empty pipe (also poll(-1), poll(50), pollSync); true after a send, however often asked; false again once read", async () => {
    const [a, b] = Pipe();
    assert.equal(await a.poll(), false);
    assert.equal(await a.poll(-1), false);
    assert.equal(await a.poll(50), false);
    assert.equal(await a.poll({ timeout: 50 }), false);
    assert.equal(a.pollSync(), false);
    assert.equal(a.pollSync(50), false);
    b.send("here");
    for (let i = 0; i < 5; i++) assert.equal(await a.poll(), true, "repeated polls do not consume");
    assert.equal(a.pollSync(), true);
    assert.equal(await a.poll(HANG_MS), true);
    assert.equal(await a.recv(HANG_MS), "here");
    assert.equal(await a.poll(), false);
    a.close();
    b.close();
  });

  test("a zero-length message makes poll true until it is read; boundaries are kept, empty messages included, consecutive ones never merged", async () => {
    const [reader, writer] = Pipe(false);
    writer.sendBytes(new Uint8Array(0));
    assert.equal(await reader.poll(), true);
    assert.equal(await reader.poll(), true);
    assert.equal(reader.pollSync(), true);
    assert.equal((await reader.recvBytes()).length, 0);
    assert.equal(await reader.poll(), false);
    const chunks = ["a", "", "bc", "", "", "def", "g"];
    for (const chunk of chunks) writer.sendBytes(bytes(chunk));
    const got: string[] = [];
    for (let i = 0; i < chunks.length; i++) got.push(text(i % 2 ? reader.recvBytesSync() : await reader.recvBytes()));
    assert.deepEqual(got, chunks);
    assert.equal(await reader.poll(), false);
    reader.close();
    writer.close();
  });

  test("EOF: once the other end is closed, what it sent is read first, then recv, recvSync, recvBytes and recvBytesInto give EOFError; poll is true at EOF", async () => {
    const [a, b] = Pipe();
    a.send(1);
    a.sendBytes(bytes("two"));
    a.send("three");
    a.close();
    assert.equal(await b.poll(), true);
    assert.equal(await b.recv(HANG_MS), 1);
    assert.equal(text(await b.recvBytes()), "two");
    assert.equal(b.recvSync(HANG_MS), "three");
    await assert.rejects(b.recv(HANG_MS), EOFError);
    assert.throws(() => b.recvSync(HANG_MS), EOFError);
    await assert.rejects(b.recvBytes(), EOFError);
    assert.throws(() => b.recvBytesSync(), EOFError);
    await assert.rejects(b.recvBytesInto(new Uint8Array(8)), EOFError);
    assert.equal(await b.poll(), true, "poll is true at EOF");
    assert.equal(await b.poll(HANG_MS), true);
    assert.equal(b.pollSync(), true);
    b.close();
  });

  test("send and sendBytes to a closed end throw BrokenPipeError (duplex and one-way)", () => {
    const [a, b] = Pipe();
    b.close();
    assert.throws(() => a.send("nobody reads"), BrokenPipeError);
    assert.throws(() => a.sendBytes(bytes("nobody reads")), BrokenPipeError);
    a.close();
    const [reader, writer] = Pipe(false);
    reader.close();
    assert.throws(() => writer.send(1), BrokenPipeError);
    writer.close();
  });

  test("close(): closed is true, close again is fine, and every use after it is an error", async () => {
    const [a, b] = Pipe();
    a.close();
    assert.equal(a.closed, true);
    a.close();
    assert.equal(a.closed, true);
    await assert.rejects(a.recv(), /closed/);
    assert.throws(() => a.recvSync(), /closed/);
    await assert.rejects(a.recvBytes(), /closed/);
    await assert.rejects(a.recvBytesInto(new Uint8Array(4)), /closed/);
    assert.throws(() => a.send(1), /closed/);
    assert.throws(() => a.sendBytes(bytes("x")), /closed/);
    await assert.rejects(async () => a.poll(), /closed/);
    await assert.rejects(b.recv(HANG_MS), EOFError);
    b.close();
  });

  test("recv with a timeout gives TimeoutError (recv(ms), recv({ timeout }), recvSync(ms)); the pipe works afterwards", async () => {
    const [a, b] = Pipe();
    await assert.rejects(a.recv(30), TimeoutError);
    await assert.rejects(a.recv({ timeout: 30 }), TimeoutError);
    assert.throws(() => a.recvSync(30), TimeoutError);
    b.send("late");
    assert.equal(await a.recv({ timeout: HANG_MS }), "late");
    a.close();
    b.close();
  });

  test("recv with an AbortSignal: already aborted rejects at once without consuming; aborted later rejects with the reason; the pipe works afterwards", async () => {
    const [a, b] = Pipe();
    b.send("kept");
    await assert.rejects(a.recv({ signal: AbortSignal.abort() }), isAbortError);
    assert.equal(await a.recv(HANG_MS), "kept");
    const controller = new AbortController();
    const pending = a.recv({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error("stop waiting")), 20);
    await assert.rejects(pending, /stop waiting/);
    b.send("after the abort");
    assert.equal(await a.recv(HANG_MS), "after the abort");
    a.close();
    b.close();
  });

  test("an unsendable value (a closure) throws SerializationError with its path at send, sends nothing, and the pipe still works", async () => {
    const [a, b] = Pipe();
    let caught: unknown;
    try {
      a.send({ ok: 1, cb: () => 1 });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof SerializationError, `a SerializationError, got ${String(caught)}`);
    assert.equal(caught.path, "value.cb");
    assert.throws(() => a.send([1, { deep: [() => 2] }]), (err: unknown) => err instanceof SerializationError && err.path === "value[1].deep[0]");
    assert.equal(await b.poll(), false, "nothing was sent");
    a.send("fine");
    assert.equal(await b.recv(HANG_MS), "fine");
    a.close();
    b.close();
  });

  test("Symbol.dispose closes: a `using` end is closed at the end of its scope and the peer sees EOF", async () => {
    const [a, b] = Pipe();
    {
      using scoped = b;
      scoped.send("last words");
    }
    assert.equal(b.closed, true);
    assert.equal(await a.recv(HANG_MS), "last words");
    await assert.rejects(a.recv(HANG_MS), EOFError);
    a[Symbol.dispose]();
    assert.equal(a.closed, true);
  });

  test("one end may have more than 32 holders at once (Python has no cap): a writer sent 40 times works in every copy", async () => {
    const [reader, writer] = Pipe(false);
    const [carrier, carried] = Pipe();
    for (let i = 0; i < 40; i++) carrier.send(writer);
    const copies: Connection[] = [];
    for (let i = 0; i < 40; i++) copies.push((await carried.recv(HANG_MS)) as Connection);
    writer.close();
    copies.forEach((copy, i) => copy.send(i));
    for (const copy of copies) copy.close();
    const got: unknown[] = [];
    for (let i = 0; i < 40; i++) got.push(await reader.recv(HANG_MS));
    assert.deepEqual(got, [...Array(40).keys()]);
    await assert.rejects(reader.recv(HANG_MS), EOFError);
    for (const end of [reader, carrier, carried]) end.close();
  });

  test("a string with a lone surrogate arrives unchanged (structured clone and Python's pickle both keep it)", async () => {
    const [a, b] = Pipe();
    const odd = ["x\ud800y", "\udc00", "pair \ud83d\ude00 then lone \ud83d"];
    for (const value of odd) a.send(value);
    for (const value of odd) assert.equal(await b.recv(HANG_MS), value);
    a.close();
    b.close();
  });

  test("strings are written straight into the ring: every UTF-8 length, across the ring's end, arrive unchanged", async () => {
    const [a, b] = Pipe();
    // Enough traffic that records wrap around the end of the ring, in 1-, 2-, 3- and 4-byte characters.
    const strings: string[] = [];
    for (let i = 0; i < 3000; i++) strings.push(["a", "é", "€", "😀"][i % 4]!.repeat(i % 97) + String(i));
    for (let round = 0; round < 3; round++) {
      for (const value of strings) a.send(value);
      for (const value of strings) assert.equal(await b.recv(HANG_MS), value);
    }
    a.send("");
    assert.equal(b.recvSync(HANG_MS), "");
    a.close();
    b.close();
  });
});

for (const method of methods) {
  describe(`${method}: pipes across processes`, { timeout: SUITE_MS }, () => {
    test("a child echoes values of every kind; each keeps its type (Uint8Array, Buffer, Map, Date, errors of their class)", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.echo, [b]);
      b.close();
      const values: unknown[] = [
        { a: 1, nested: [1, "two", { three: [3] }] },
        "hello",
        "",
        "ünïcödé ✓ 𝄞",
        0,
        -0,
        3.5,
        -7,
        Number.NaN,
        Number.MAX_SAFE_INTEGER,
        null,
        undefined,
        true,
        false,
        10n ** 30n,
        [undefined, null, [[]]],
        new Uint8Array([1, 2, 3, 255]),
        new Uint8Array(0),
        Buffer.from("a buffer"),
        new Int32Array([1, -1, 2 ** 31 - 1]),
        new Map<unknown, unknown>([[1, { when: new Date(0) }], ["k", new Set([1, 2])]]),
        new Date(1_234_567_890_123),
      ];
      for (const value of values) a.send(value);
      for (const value of values) assert.deepStrictEqual(await a.recv(HANG_MS), value);

      a.send(new Uint8Array([9, 8]));
      const u8 = await a.recv(HANG_MS);
      assert.equal(Object.getPrototypeOf(u8), Uint8Array.prototype, "a Uint8Array stays a Uint8Array (not a Buffer)");
      a.send(Buffer.from("buf"));
      const buf = await a.recv(HANG_MS);
      assert.ok(Buffer.isBuffer(buf), "a Buffer stays a Buffer");
      assert.equal(buf.toString(), "buf");

      a.send(new RangeError("out of range"));
      const range = await a.recv(HANG_MS);
      assert.ok(range instanceof RangeError);
      assert.equal(range.message, "out of range");
      a.send(new EOFError("a library error"));
      const eof = await a.recv(HANG_MS);
      assert.ok(eof instanceof EOFError);
      assert.equal(eof.message, "a library error");
      a.send(new BufferTooShort("short", bytes("whole")));
      const short = await a.recv(HANG_MS);
      assert.ok(short instanceof BufferTooShort);
      assert.equal(text(short.data), "whole");

      a.close();
      await joinedOk(child);
    });

    test("a child echoes with the blocking recvSync", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.echoSync, [b]);
      b.close();
      const values = [1, "two", { three: 3 }, [4], null, new Uint8Array([5])];
      for (const value of values) {
        a.send(value);
        assert.deepStrictEqual(await a.recv(HANG_MS), value);
      }
      a.close();
      await joinedOk(child);
    });

    test("sendBytes slices (offset, size, views, ArrayBuffer); recvBytesInto fills at a byte offset; BufferTooShort carries the whole message; maxlength", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.echoBytes, [b]);
      b.close();
      const msg = bytes("abcdefghijklmnopqrstuvwxyz");
      a.sendBytes(msg);
      assert.equal(text(await a.recvBytes()), "abcdefghijklmnopqrstuvwxyz");
      a.sendBytes(msg, 20);
      assert.equal(text(await a.recvBytes()), "uvwxyz");
      a.sendBytes(msg, 7, 10);
      assert.equal(text(await a.recvBytes()), "hijklmnopq");
      a.sendBytes(msg, 26);
      assert.equal((await a.recvBytes()).length, 0, "offset == length sends an empty message");
      a.sendBytes(msg.subarray(3, 9), 2, 3);
      assert.equal(text(await a.recvBytes()), "fgh", "offsets count from the view's start");
      a.sendBytes(Buffer.from("a buffer"), 2, 3);
      assert.equal(text(await a.recvBytes()), "buf");
      a.sendBytes(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2);
      assert.deepEqual([...(await a.recvBytes())], [8, 7]);
      a.sendBytes(new Uint16Array([0x0102, 0x0304]), 2);
      assert.deepEqual([...(await a.recvBytes())], [4, 3], "offset and size are in bytes");

      const ints = new Int32Array([0, 1, 2, 3]);
      a.sendBytes(ints);
      const into = new Int32Array(10);
      assert.equal(await a.recvBytesInto(into), 16);
      assert.deepEqual([...into], [0, 1, 2, 3, 0, 0, 0, 0, 0, 0]);
      a.sendBytes(ints);
      const atOffset = new Int32Array(10);
      assert.equal(await a.recvBytesInto(atOffset, 3 * 4), 16);
      assert.deepEqual([...atOffset], [0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
      a.sendBytes(bytes("xyz"));
      const raw = new ArrayBuffer(6);
      assert.equal(a.recvBytesIntoSync(raw, 2), 3);
      assert.equal(text(new Uint8Array(raw, 2, 3)), "xyz");
      a.sendBytes(new Uint8Array(0));
      assert.equal(await a.recvBytesInto(new Uint8Array(4), 4), 0, "an empty message fits at offset == length");

      const long = bytes("a message longer than the forty bytes of the buffer it is read into");
      a.sendBytes(long);
      const small = new Uint8Array(40);
      const tooShort = await a.recvBytesInto(small).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(tooShort instanceof BufferTooShort, `BufferTooShort, got ${String(tooShort)}`);
      assert.equal(text(tooShort.data), text(long), "data is the whole message");
      assert.deepEqual([...small], new Array<number>(40).fill(0), "nothing was written into the buffer");
      a.sendBytes(bytes("0123456789"));
      assert.throws(
        () => a.recvBytesIntoSync(new Uint8Array(15), 6),
        (err: unknown) => err instanceof BufferTooShort && text(err.data) === "0123456789",
        "offset + message length past the end",
      );

      a.sendBytes(bytes("0123456789"));
      assert.equal(text(await a.recvBytes(10)), "0123456789", "a message of exactly maxlength is fine");
      a.sendBytes(bytes("0123456789"));
      await assert.rejects(a.recvBytes(9), /bad message length/);
      a.sendBytes(bytes("0123456789"));
      assert.throws(() => a.recvBytesSync(9), /bad message length/);

      a.close();
      await joinedOk(child);
    });

    test("EOFError after the child's target returns without closing its end, once what it sent is read; poll is true at EOF", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.sendAndReturn, [b, ["one", 2, { three: 3 }]]);
      b.close();
      assert.equal(await a.poll(HANG_MS), true);
      assert.equal(await a.recv(HANG_MS), "one");
      assert.equal(await a.recv(HANG_MS), 2);
      assert.deepEqual(await a.recv(HANG_MS), { three: 3 });
      await assert.rejects(a.recv(HANG_MS), EOFError);
      assert.equal(await a.poll(HANG_MS), true);
      await joinedOk(child);
      await assert.rejects(a.recvBytes(), EOFError);
      a.close();
    });

    test("poll() without waiting is true once the child that held the other end has exited (as recv already reports EOF)", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.sendAndReturn, [b, []]);
      b.close();
      await joinedOk(child);
      await assert.rejects(a.recv(HANG_MS), EOFError);
      assert.equal(await a.poll(), true, "poll() at EOF");
      assert.equal(a.pollSync(), true, "pollSync() at EOF");
      a.close();
    });

    test("EOFError once the child holding the other end is killed, after what it sent is read", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.sendAndHang, [b, ["sent before the kill", 2]]);
      b.close();
      assert.equal(await a.recv(HANG_MS), "sent before the kill");
      assert.equal(await a.poll(HANG_MS), true);
      child.kill();
      await child.join(HANG_MS);
      assert.equal(child.exitCode, -9);
      assert.equal(await a.recv(HANG_MS), 2, "what the child sent before it died is still there");
      await assert.rejects(a.recv(HANG_MS), EOFError);
      assert.equal(await a.poll(HANG_MS), true);
      a.close();
    });

    test("the parent closes the child's end right after start(): the child still receives and sends; EOF only once the child is gone", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.echoUntilExit, [b]);
      b.close();
      for (const value of [1, "two", [3]]) {
        a.send(value);
        assert.deepEqual(await a.recv(HANG_MS), value);
      }
      assert.equal(await a.poll(50), false, "no EOF while the child lives");
      await assert.rejects(a.recv(50), TimeoutError, "no EOF while the child lives");
      a.send("exit");
      await joinedOk(child);
      await assert.rejects(a.recv(HANG_MS), EOFError);
      a.close();
    });

    test("a child killed straight after start(), before it could run, still ends the stream: EOFError", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.sendAndHang, [b, []]);
      b.close();
      child.kill();
      await child.join(HANG_MS);
      assert.notEqual(child.exitCode, 0);
      // EOF after a death is noticed within a fraction of a second; the shorter guard only keeps a failure quick.
      await assert.rejects(a.recv(EOF_GUARD_MS), EOFError);
      a.close();
    });

    test("send to an end a child closed (and still alive) throws BrokenPipeError", async () => {
      const [a, b] = Pipe();
      const [report, reportChild] = Pipe();
      const child = start(method, targets.closeAndReport, [b, reportChild]);
      b.close();
      reportChild.close();
      assert.equal(await report.recv(HANG_MS), "closed");
      assert.equal(child.isAlive(), true);
      assert.throws(() => a.send("nobody reads"), BrokenPipeError);
      assert.throws(() => a.sendBytes(bytes("nobody reads")), BrokenPipeError);
      await assert.rejects(a.recv(HANG_MS), EOFError, "the child's close also ends the stream towards us");
      report.close();
      await joinedOk(child);
      a.close();
    });

    test("send once the reading child is killed throws BrokenPipeError (the writer notices the death)", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.sendAndHang, [b, ["ready"]]);
      b.close();
      assert.equal(await a.recv(HANG_MS), "ready");
      child.kill();
      await child.join(HANG_MS);
      let broken: unknown;
      await waitUntil(
        () => {
          try {
            a.send("anyone?");
            return false;
          } catch (err) {
            broken = err;
            return true;
          }
        },
        HANG_MS,
        "send to fail",
      );
      assert.ok(broken instanceof BrokenPipeError, `BrokenPipeError, got ${String(broken)}`);
      a.close();
    });

    test("poll in another process sees a message but never consumes it; the parent then reads it whole", async () => {
      const [reader, writer] = Pipe(false);
      const [report, reportChild] = Pipe();
      const message = bytes("a message the child polls for but must not take");
      writer.sendBytes(message);
      const child = start(method, targets.pollAndReport, [reader, reportChild]);
      reportChild.close();
      assert.deepEqual(await report.recv(HANG_MS), [true, true, true]);
      assert.equal(await reader.poll(), true);
      assert.equal(text(await reader.recvBytes()), text(message));
      assert.equal(await reader.poll(), false);
      report.close();
      await joinedOk(child);
      reader.close();
      writer.close();
    });

    test("message boundaries from a child are kept, empty messages included; then EOF", async () => {
      const [reader, writer] = Pipe(false);
      const chunks = ["", "first", "", "", "second", "x", ""];
      const child = start(method, targets.sendChunks, [writer, chunks.map(bytes)]);
      writer.close();
      assert.equal(await reader.poll(HANG_MS), true);
      const got: string[] = [];
      for (let i = 0; i < chunks.length; i++) got.push(text(await reader.recvBytes()));
      assert.deepEqual(got, chunks);
      await assert.rejects(reader.recvBytes(), EOFError);
      await joinedOk(child);
      reader.close();
    });

    test("a 16 MiB Uint8Array round-trips through a child, with send and with sendBytes", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.echo, [b]);
      b.close();
      const big = new Uint8Array(16 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4093) big[i] = (i / 4093) & 0xff;
      big[big.length - 1] = 0xab;
      a.send(big);
      const back = await a.recv(HANG_MS);
      assert.ok(back instanceof Uint8Array);
      assert.equal(back.length, big.length);
      assert.ok(Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(big), "the same bytes came back");
      a.sendBytes(big);
      const backBytes = await a.recvBytes();
      assert.equal(backBytes.length, big.length);
      assert.ok(Buffer.from(backBytes.buffer, backBytes.byteOffset, backBytes.byteLength).equals(big));
      a.close();
      await joinedOk(child);
    });

    test("100,000 small ints arrive in order, child to parent and parent to child", async () => {
      const n = 100_000;
      const [a, b] = Pipe();
      const sender = start(method, targets.sendCount, [b, n]);
      b.close();
      for (let i = 0; i < n; i++) {
        const value = await a.recv(HANG_MS);
        if (value !== i) assert.fail(`message ${i} was ${String(value)}`);
      }
      await assert.rejects(a.recv(HANG_MS), EOFError);
      await joinedOk(sender);
      a.close();

      const [c, d] = Pipe();
      const receiver = start(method, targets.expectCount, [d, n]);
      d.close();
      for (let i = 0; i < n; i++) c.send(i);
      assert.equal(await c.recv(HANG_MS), "ok");
      await joinedOk(receiver);
      c.close();
    });

    test("recv({ timeout }) gives TimeoutError while the child is alive and silent; recv({ signal }) aborted later gives AbortError; an aborted recv consumes nothing; the pipe works afterwards", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.echo, [b]);
      b.close();
      await assert.rejects(a.recv({ timeout: 50 }), TimeoutError);
      const controller = new AbortController();
      const pending = a.recv({ signal: controller.signal, timeout: HANG_MS });
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(pending, isAbortError);
      a.send("after the abort");
      assert.equal(await a.recv(HANG_MS), "after the abort");
      a.send("kept");
      assert.equal(await a.poll(HANG_MS), true);
      await assert.rejects(a.recv({ signal: AbortSignal.abort() }), isAbortError);
      assert.equal(await a.recv(HANG_MS), "kept");
      a.close();
      await joinedOk(child);
    });

    test("a Connection passed to a child and on to a grandchild still works; EOF reaches the grandchild", async () => {
      const [a, b] = Pipe();
      const child = start(method, targets.relayToGrandchild, [b, method]);
      b.close();
      for (const value of ["through", 2, { generations: 3 }]) {
        a.send(value);
        assert.deepEqual(await a.recv(HANG_MS), value);
      }
      a.close();
      await joinedOk(child);
    });

    test("a duplex Connection sent through another Pipe to a running child works there", async () => {
      const [carrier, carrierChild] = Pipe();
      const child = start(method, targets.useReceivedEnd, [carrierChild]);
      carrierChild.close();
      const [x, y] = Pipe();
      carrier.send(y);
      y.close();
      assert.deepEqual(await carrier.recv(HANG_MS), { readable: true, writable: true, closed: false });
      for (const value of ["hi", 2, new Uint8Array([3])]) {
        x.send(value);
        assert.deepStrictEqual(await x.recv(HANG_MS), value);
      }
      x.close();
      assert.equal(await carrier.recv(HANG_MS), "done");
      await joinedOk(child);
      carrier.close();
    });

    test("read-only and write-only ends keep their direction when sent to a child", async () => {
      {
        const [carrier, carrierChild] = Pipe();
        const child = start(method, targets.useReceivedEnd, [carrierChild]);
        carrierChild.close();
        const [reader, writer] = Pipe(false);
        carrier.send(reader);
        reader.close();
        assert.deepEqual(await carrier.recv(HANG_MS), { readable: true, writable: false, closed: false });
        writer.send(1);
        writer.send("two");
        writer.close();
        assert.equal(await carrier.recv(HANG_MS), 1);
        assert.equal(await carrier.recv(HANG_MS), "two");
        assert.equal(await carrier.recv(HANG_MS), "done");
        await joinedOk(child);
        carrier.close();
      }
      {
        const [carrier, carrierChild] = Pipe();
        const child = start(method, targets.useReceivedEnd, [carrierChild]);
        carrierChild.close();
        const [reader, writer] = Pipe(false);
        carrier.send(writer);
        writer.close();
        assert.deepEqual(await carrier.recv(HANG_MS), { readable: false, writable: true, closed: false });
        assert.equal(await reader.recv(HANG_MS), "from the child");
        await assert.rejects(reader.recv(HANG_MS), EOFError);
        assert.equal(await carrier.recv(HANG_MS), "done");
        await joinedOk(child);
        carrier.close();
        reader.close();
      }
    });
  });
}
