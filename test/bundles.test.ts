/* Apps bundled by esbuild (test/fixtures/bundle/), with multiproc external as the README says, and without. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import { fixtures, runNode, tempDir } from "./helpers.ts";

const packageRoot = fileURLToPath(new URL("..", import.meta.url));

/** A project holding the fixture app, with this package installed in its node_modules. */
function project(): string {
  const dir = tempDir();
  cpSync(join(fixtures, "bundle"), dir, { recursive: true });
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(packageRoot, join(dir, "node_modules", "multiproc"));
  return dir;
}

function bundle(dir: string, entry: string, outfile: string, options: { format?: "esm" | "cjs"; external?: string[] }): string {
  buildSync({ entryPoints: [join(dir, entry)], bundle: true, platform: "node", outfile: join(dir, outfile), absWorkingDir: dir, logLevel: "silent", ...options });
  return join(dir, outfile);
}

test("an ES module bundle with multiproc external runs Process and Pool targets exported by its entry or registered; a hidden one is named with the fix", async () => {
  const dir = project();
  const result = await runNode([bundle(dir, "app.mjs", "out.mjs", { format: "esm", external: ["multiproc"] })], { timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout) as Record<string, { exitCode: number; cubes: number[]; error: string }>;
  for (const method of ["spawn", "thread"]) {
    assert.equal(out[method]!.exitCode, 3);
    assert.deepEqual(out[method]!.cubes, [1, 8]);
    assert.match(out[method]!.error, /square\(\) is not exported from .*out\.mjs, a bundle into which lib\.mjs was inlined[^]*registerTarget\(import\.meta, fn\)/);
  }
});

test("a CommonJS bundle with multiproc external runs a target its entry exports", async () => {
  const dir = project();
  const result = await runNode([bundle(dir, "app.cjs", "out.cjs", { external: ["multiproc"] })], { timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { exitCode: 4 });
});

test("a bundle that contains multiproc itself fails at start-up with one message saying to mark it external", async () => {
  const dir = project();
  const result = await runNode([bundle(dir, "app.mjs", "full.mjs", { format: "esm" })], { timeoutMs: 120_000 });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /multiproc cannot run from a bundle: .*full\.mjs contains its code[^]*--external:multiproc/);
  assert.doesNotMatch(result.stderr, /Process Process-/);
});
