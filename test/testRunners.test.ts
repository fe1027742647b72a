/* vitest and jest projects (test/fixtures/runners/) run against the built package, as a user's would. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fixtures, type RunResult } from "./helpers.ts";

const require = createRequire(import.meta.url);

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    // NODE_TEST_CONTEXT would make the runner's own children speak node:test's protocol.
    const environment = { ...process.env, NODE_TEST_CONTEXT: undefined, ...env };
    execFile(process.execPath, args, { timeout: 180_000, env: environment }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
      resolve({ code: failure ? (failure.code ?? null) : 0, signal: failure?.signal ?? null, stdout, stderr });
    });
  });
}

test("vitest: targets in .ts and .js helper modules run; a target in the test file is refused with the fix", async () => {
  const vitest = join(require.resolve("vitest/package.json"), "..", "vitest.mjs");
  const result = await run([vitest, "run", "--root", join(fixtures, "runners", "vitest")]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /Tests\s+3 passed \(3\)/);
});

test("jest (ES modules): targets in ES and CommonJS helper modules run; a target in the test file is refused with the fix", async () => {
  const jest = join(require.resolve("jest/package.json"), "..", "bin", "jest.js");
  const result = await run([jest, "--config", join(fixtures, "runners", "jest", "jest.config.cjs")], { NODE_OPTIONS: "--experimental-vm-modules" });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stderr, /Tests:\s+2 passed, 2 total/);
});
