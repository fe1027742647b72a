import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { fixtures, runNode, tempDir } from "./helpers.ts";

const program = join(fixtures, "typescript", "tsx-by-api.mjs");

test("a child loads a TypeScript target with tsx it finds itself when the parent has no loader on its command line", async () => {
  const result = await runNode([program], { cwd: join(fixtures, "typescript"), timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { codes: [3, 4], squares: [4, 9] });
});

test("without tsx where the target's project is, the child's error says to install it", async () => {
  const dir = tempDir();
  copyFileSync(join(fixtures, "typescript", "targets.ts"), join(dir, "targets.ts"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const result = await runNode([program, pathToFileURL(join(dir, "targets.ts")).href], { cwd: dir, timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  const { codes, squares } = JSON.parse(result.stdout) as { codes: number[]; squares: string };
  assert.deepEqual(codes, [1, 1]);
  assert.match(result.stderr, /a TypeScript module needs a loader there, and tsx cannot be found[^]*npm i -D tsx/);
  assert.match(squares, /npm i -D tsx/);
});
