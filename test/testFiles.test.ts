import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtures, runNode, runProgram } from "./helpers.ts";

const poolTestFile = join(fixtures, "testfile", "pool.test.ts");

for (const [how, args] of [
  ["node --test", ["--import", "tsx", "--test", "--test-reporter=tap", poolTestFile]],
  ["node (the test file run directly)", ["--import", "tsx", "--test-reporter=tap", poolTestFile]],
] as const) {
  test(`targets exported from a test file run under ${how} without the children running its tests`, async () => {
    const result = await runNode([...args], { timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    // The children's tests would show as more tests, or break the TAP stream.
    assert.match(result.stdout, /^# tests 3$/m);
    assert.match(result.stdout, /^# pass 3$/m);
    assert.doesNotMatch(result.stdout, /not ok/);
  });
}

test("a test file importing node:test's default export gets an inert test() in its children", async () => {
  const result = await runNode(["--test", "--test-reporter=tap", join(fixtures, "testfile", "default-import.test.mjs")], { timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /^# tests 1$/m);
  assert.match(result.stdout, /^# pass 1$/m);
});

test("a pool worker refuses to start processes while it imports a task's module, and the task fails with why", async () => {
  const result = await runProgram(join("testfile", "pool-import-starts.ts"));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /task failed: An attempt has been made to start a new process before the current process has finished its bootstrapping phase/);
});
