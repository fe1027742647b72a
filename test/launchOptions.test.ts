import { test } from "node:test";
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import type { Readable } from "node:stream";
import { getContext, ProcessError, type ProcessOptions, type Target } from "../src/index.ts";
import { fail, printCwd, printEnv, printExecArgv, printHeapLimitMb, writeBoth } from "./fixtures/launchTargets.ts";
import { tempDir } from "./helpers.ts";

async function text(stream: Readable | null): Promise<string> {
  assert.ok(stream, "expected a piped stream");
  let all = "";
  for await (const chunk of stream) all += String(chunk);
  return all;
}

/** Run a target with its output piped; returns its stdout, stderr and exit code. */
async function run<T extends Target>(method: "spawn" | "thread", options: ProcessOptions<T>) {
  const p = new (getContext(method).Process)({ ...options, stdio: "pipe" } as ProcessOptions<T>);
  p.start();
  const [stdout, stderr] = await Promise.all([text(p.stdout), text(p.stderr)]);
  await p.join();
  return { stdout, stderr, exitCode: p.exitCode };
}

for (const method of ["spawn", "thread"] as const) {
  test(`${method}: stdio "pipe" gives the parent the child's stdout and stderr, uncaught errors included`, async () => {
    const both = await run(method, { target: writeBoth, args: ["to out\n", "to err\n"] });
    assert.deepEqual(both, { stdout: "to out\n", stderr: "to err\n", exitCode: 0 });
    const failed = await run(method, { target: fail, args: ["boom"] });
    assert.equal(failed.exitCode, 1);
    assert.match(failed.stderr, /Error: boom/);
  });

  test(`${method}: piped output is kept for a parent that reads it only after join()`, async () => {
    const p = new (getContext(method).Process)({ target: writeBoth, args: ["x".repeat(4000), "done"], stdio: "pipe" });
    p.start();
    await p.join();
    assert.equal(p.exitCode, 0);
    assert.equal((await text(p.stdout)).length, 4000);
    assert.equal(await text(p.stderr), "done");
  });

  test(`${method}: without stdio "pipe" there are no streams (the child writes to the parent's output)`, async () => {
    const p = new (getContext(method).Process)({ target: printEnv, args: [] });
    assert.equal(p.stdout, null);
    p.start();
    assert.equal(p.stdout, null);
    assert.equal(p.stderr, null);
    await p.join();
    assert.equal(p.exitCode, 0);
  });

  test(`${method}: env replaces the child's environment`, async () => {
    process.env.MULTIPROC_TEST_PARENT_ONLY = "parent";
    try {
      const env = { MULTIPROC_TEST_GIVEN: "given", PATH: process.env.PATH };
      const { stdout } = await run(method, { target: printEnv, args: ["MULTIPROC_TEST_GIVEN", "MULTIPROC_TEST_PARENT_ONLY"], env });
      assert.deepEqual(JSON.parse(stdout), ["given", null]);
      const inherited = await run(method, { target: printEnv, args: ["MULTIPROC_TEST_PARENT_ONLY"] });
      assert.deepEqual(JSON.parse(inherited.stdout), ["parent"]);
    } finally {
      delete process.env.MULTIPROC_TEST_PARENT_ONLY;
    }
  });

  test(`${method}: maxOldGenerationSizeMb caps the child's heap`, async () => {
    const { stdout } = await run(method, { target: printHeapLimitMb, args: [], maxOldGenerationSizeMb: 64 });
    const capped = Number(stdout);
    const { stdout: uncapped } = await run(method, { target: printHeapLimitMb, args: [] });
    assert.ok(capped > 0 && capped < 256, `heap limit ${capped} MB with a 64 MB cap`);
    assert.ok(Number(uncapped) > capped, `heap limit ${uncapped} MB without a cap`);
  });
}

test("spawn: execArgv replaces the Node.js options the child inherits", async () => {
  const { stdout } = await run("spawn", { target: printExecArgv, args: [], execArgv: ["--import", "tsx", "--no-deprecation"] });
  const argv = JSON.parse(stdout) as string[];
  assert.ok(argv.includes("--no-deprecation"), stdout);
  const inherited = JSON.parse((await run("spawn", { target: printExecArgv, args: [] })).stdout) as string[];
  assert.ok(!inherited.includes("--no-deprecation"), JSON.stringify(inherited));
});

test("thread: execArgv is the worker's execArgv", async () => {
  const { stdout } = await run("thread", { target: printExecArgv, args: [], execArgv: ["--no-deprecation"] });
  assert.deepEqual(JSON.parse(stdout), ["--no-deprecation"]);
});

test("spawn: cwd is the child's working directory", async () => {
  const dir = tempDir();
  const { stdout } = await run("spawn", { target: printCwd, args: [], cwd: dir });
  assert.equal(stdout.trim(), realpathSync(dir));
});

test("cwd that is not a directory fails at start(); a thread child cannot have its own cwd", () => {
  const missing = new (getContext("spawn").Process)({ target: printCwd, cwd: "/nonexistent/multiproc-test" });
  assert.throws(() => missing.start(), (err: Error) => err instanceof ProcessError && /is not a directory/.test(err.message));
  const thread = new (getContext("thread").Process)({ target: printCwd, cwd: tempDir() });
  assert.throws(() => thread.start(), (err: Error) => err instanceof ProcessError && /"spawn" start method/.test(err.message));
});

test("bad launch options are refused when the Process is made", () => {
  const cases: Array<[Record<string, unknown>, typeof TypeError | typeof RangeError, RegExp]> = [
    [{ env: "A=1" }, TypeError, /env must be an object/],
    [{ env: { A: 1 } }, TypeError, /env\.A must be a string/],
    [{ cwd: 42 }, TypeError, /cwd must be a non-empty string/],
    [{ execArgv: "--no-warnings" }, TypeError, /execArgv must be an array of strings/],
    [{ maxOldGenerationSizeMb: "64" }, TypeError, /maxOldGenerationSizeMb must be a number/],
    [{ maxOldGenerationSizeMb: 0 }, RangeError, /positive whole number/],
    [{ maxOldGenerationSizeMb: 1.5 }, RangeError, /positive whole number/],
    [{ stdio: "ignore" }, TypeError, /stdio must be "inherit" or "pipe"/],
  ];
  for (const [options, kind, message] of cases) {
    assert.throws(() => new (getContext("spawn").Process)({ target: printCwd, ...(options as object) }), (err: Error) => err instanceof kind && message.test(err.message), JSON.stringify(options));
  }
});
