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
