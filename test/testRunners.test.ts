/* vitest and jest projects (test/fixtures/runners/) run against the built package, as a user's would. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { fixtures, runNode } from "./helpers.ts";

const require = createRequire(import.meta.url);

test("vitest: targets in .ts and .js helper modules run; a target in the test file is refused with the fix", async () => {
  const vitest = join(require.resolve("vitest/package.json"), "..", "vitest.mjs");
  const result = await runNode([vitest, "run", "--root", join(fixtures, "runners", "vitest")], { timeoutMs: 180_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  // Under CI=true the runners colour their output.
  assert.match(stripVTControlCharacters(result.stdout), /Tests\s+3 passed \(3\)/);
});

test("jest (ES modules): targets in ES, CommonJS and TypeScript helper modules run; a target in the test file is refused with the fix", async () => {
  const jest = join(require.resolve("jest/package.json"), "..", "bin", "jest.js");
  const result = await runNode([jest, "--config", join(fixtures, "runners", "jest", "jest.config.cjs")], { env: { NODE_OPTIONS: "--experimental-vm-modules" }, timeoutMs: 180_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(stripVTControlCharacters(result.stderr), /Tests:\s+2 passed, 2 total/);
});

test("jest (CommonJS, its default mode): targets in CommonJS and TypeScript helper modules run, library objects and errors travel both ways; a target in the test file is refused with the fix", async () => {
  const jest = join(require.resolve("jest/package.json"), "..", "bin", "jest.js");
  const result = await runNode([jest, "--config", join(fixtures, "runners", "jest", "commonjs.config.cjs")], { env: { NODE_OPTIONS: "" }, timeoutMs: 180_000 });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(stripVTControlCharacters(result.stderr), /Tests:\s+4 passed, 4 total/);
});
