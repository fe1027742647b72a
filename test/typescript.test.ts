import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { fixtures, tempDir, type RunResult } from "./helpers.ts";

const program = join(fixtures, "typescript", "tsx-by-api.mjs");

/** Run the program with plain node: no loader on its command line. */
function run(args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [program, ...args], { cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
      resolve({ code: failure ? (failure.code ?? null) : 0, signal: failure?.signal ?? null, stdout, stderr });
    });
  });
}

test("a child loads a TypeScript target with tsx it finds itself when the parent has no loader on its command line", async () => {
  const result = await run([], join(fixtures, "typescript"));
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { codes: [3, 4], squares: [4, 9] });
});

test("without tsx where the target's project is, the child's error says to install it", async () => {
  const dir = tempDir();
  copyFileSync(join(fixtures, "typescript", "targets.ts"), join(dir, "targets.ts"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const result = await run([pathToFileURL(join(dir, "targets.ts")).href], dir);
  assert.equal(result.code, 0, result.stderr);
  const { codes, squares } = JSON.parse(result.stdout) as { codes: number[]; squares: string };
  assert.deepEqual(codes, [1, 1]);
  assert.match(result.stderr, /a TypeScript module needs a loader there, and tsx cannot be found[^]*npm i -D tsx/);
  assert.match(squares, /npm i -D tsx/);
});
