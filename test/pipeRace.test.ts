/*
 * The end of a pipe's stream against its last message: a writer that sends
 * and closes at once must never make the reader lose what it sent. The
 * reader tried the ring, found it empty, and only then saw that no writer
 * was left; if the last writer wrote and closed in between, recv() threw
 * EOFError with the message unread (issue 12: seen once in a full run).
 * The window is short, so each child does it many times, with the reader
 * already waiting when the message and the close arrive.
 *
 * And the holders of an end against a look at them: a writer's first send
 * checks that some reader lives; if the child the read end was just sent to
 * took over its entry while the writer read it, the writer saw a thread id
 * from before and a start time from after, called the reader dead and threw
 * BrokenPipeError (seen in full runs right after start()). Each round here
 * sends at a different moment of the child's taking over.
 */
import { test, describe, afterEach } from "node:test";
import assert from "node:assert/strict";
import { EOFError, Pipe, getContext, type Process, type StartMethod } from "../src/index.ts";
import * as targets from "./fixtures/pipeRaceTargets.ts";

const methods: StartMethod[] = ["spawn", "thread"];
/** Hang guards, never timing assertions. */
const HANG_MS = 60_000;
const SUITE_MS = 10 * HANG_MS;
const ROUNDS = 1000;

const running: Process[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.isAlive()) child.kill();
});

for (const method of methods) {
  describe(`pipe end of stream against the last message (${method})`, { timeout: SUITE_MS }, () => {
    test(`${ROUNDS} writers that send and close at once: each message arrives before EOFError`, async () => {
      const [carrier, carrierChild] = Pipe();
      const child = new (getContext(method).Process)({ target: targets.sendAndCloseEach, args: [carrierChild] });
      child.start();
      running.push(child);
      carrierChild.close();
      for (let round = 0; round < ROUNDS; round++) {
        const [reader, writer] = Pipe(false);
        carrier.send(writer);
        writer.close();
        // Waiting already when the message and the close come: the reader's look at the ring and at its writers straddle them.
        assert.equal(await reader.recv(HANG_MS), round, `round ${round}: the last message before the close`);
        await assert.rejects(reader.recv(HANG_MS), EOFError);
        reader.close();
      }
      carrier.send(null);
      await child.join(HANG_MS);
      assert.equal(child.exitCode, 0);
      carrier.close();
    });

    test(`${ROUNDS} read ends sent to a running child: the first send, racing the child's taking the end over, finds the reader alive`, async () => {
      const [carrier, carrierChild] = Pipe();
      const child = new (getContext(method).Process)({ target: targets.recvAndCloseEach, args: [carrierChild] });
      child.start();
      running.push(child);
      carrierChild.close();
      for (let round = 0; round < ROUNDS; round++) {
        const [reader, writer] = Pipe(false);
        carrier.send(reader);
        reader.close();
        // A different moment each round (up to about what the child takes to open the end), never a timing assertion.
        const until = performance.now() + (round % 50) * 0.01;
        while (performance.now() < until);
        writer.send(round);
        assert.equal(await carrier.recv(HANG_MS), round);
        writer.close();
      }
      carrier.send(null);
      await child.join(HANG_MS);
      assert.equal(child.exitCode, 0);
      carrier.close();
    });
  });
}
