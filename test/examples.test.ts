/* The seed examples that prove a property, run as the programs they are. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const examples = fileURLToPath(new URL("../examples/", import.meta.url));

function runExample(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", `${examples}${name}`], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("ticket buying (seed 000 §四): with a Lock exactly one of five buyers gets the last ticket; without, all five do", async () => {
  const run = await runExample("ticket-lock.ts");
  assert.equal(run.code, 0, run.stderr);
  const [locked, unlocked] = run.stdout.split("without a lock:");
  assert.equal(locked!.match(/bought a ticket/g)?.length, 1);
  assert.equal(locked!.match(/found no ticket left/g)?.length, 4);
  assert.equal(unlocked!.match(/bought a ticket/g)?.length, 5);
});

test("add/sub counter (seed 001 锁的使用): under a Lock a shared Value ends at exactly 0", async () => {
  const run = await runExample("counter-lock.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /num result with the lock: +0\n/);
});

test("Queue(3) (seed 000 §五): Full on a full queue with block false or after the timeout, Empty on an empty one", async () => {
  const run = await runExample("queue-basics.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /put\(4, \{ block: false \}\) → Full: .* true/);
  assert.match(run.stdout, /put\(4, \{ timeout: 300 \}\) → Full after/);
  assert.match(run.stdout, /got 1 2 3 empty=true/);
  assert.match(run.stdout, /get\(\{ block: false \}\) → Empty: .* true/);
});

test("producer/consumer with a sentinel (seed 000 §6.1): all nine foods are consumed and the consumer ends", async () => {
  const run = await runExample("producer-consumer.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.match(/c1 consumed/g)?.length, 9);
  assert.match(run.stdout, /consumer exit code 0/);
});

test("JoinableQueue with daemon consumers (seed 000 §6.2): join returns after all nine are done", async () => {
  const run = await runExample("producer-consumer-joinable.ts");
  assert.equal(run.code, 0, run.stderr);
  const [beforeJoin] = run.stdout.split("q.join() returned");
  assert.equal(beforeJoin!.match(/c[12] consumed/g)?.length, 9);
});

test("writer/reader (seed 004): the reader gets A, B, C in order and is terminated", async () => {
  const run = await runExample("queue-writer-reader.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.stdout.match(/got ([ABC]) from/g), ["got A from", "got B from", "got C from"]);
  assert.match(run.stdout, /reader terminated \(exit code -15\)/);
});

test("Pipe echo: replies come back, then EOF ends the child", async () => {
  const run = await runExample("pipe-echo.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /got back HELLO/);
  assert.match(run.stdout, /bytes reversed: setyb/);
  assert.match(run.stdout, /the other end is closed, bye/);
  assert.match(run.stdout, /child exit code 0/);
});
