/* The warm standby (src/spawn/standby.ts): pre-started children, used only while nothing they inherited has changed. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { getContext, type StartMethod } from "../src/index.ts";
import * as targets from "./fixtures/targets.ts";
import { childPids, pidsWithCommandLine, readJson, runProgram, tempDir, waitUntil } from "./helpers.ts";

/** This process's spawn children that wait as spares (a cold child here is always joined; tsx's esbuild is a child too). */
function sparePids(): number[] {
  const children = childPids();
  return pidsWithCommandLine(`bootstrap.ts ${process.pid}`).filter((pid) => children.includes(pid));
}

async function startAndJoin(method: StartMethod, target: (...args: never[]) => unknown, args: unknown[] = []) {
  const child = new (getContext(method).Process)({ target, args });
  child.start();
  await child.join();
  assert.equal(child.exitCode, 0);
  return child;
}

describe("spawn: warm standby", () => {
  test("after two starts, the next child is one that was already running before start()", async () => {
    await startAndJoin("spawn", targets.noop);
    await startAndJoin("spawn", targets.noop);
    await waitUntil(() => sparePids().length > 0, 20_000, "a spare child to be started");
    const before = sparePids();
    const child = new (getContext("spawn").Process)({ target: targets.noop });
    child.start();
    assert.ok(before.includes(child.pid!), `pid ${child.pid} should be one of the spares ${before}`);
    await child.join();
    assert.equal(child.exitCode, 0);
  });

  test("a spare is not used once the environment or the working directory changed", async () => {
    await startAndJoin("spawn", targets.noop);
    await startAndJoin("spawn", targets.noop);
    await waitUntil(() => sparePids().length > 0, 20_000, "a spare child to be started");
    const out = join(tempDir(), "env.json");
    process.env.MULTIPROC_TEST_VALUE = "set after the spare started";
    const cwd = process.cwd();
    process.chdir(tempDir());
    try {
      const spare = sparePids();
      const child = await startAndJoin("spawn", targets.describeEnv, [out, "MULTIPROC_TEST_VALUE"]);
      assert.ok(!spare.includes(child.pid!));
      assert.deepEqual(readJson(out), { value: "set after the spare started", cwd: process.cwd() });
    } finally {
      process.chdir(cwd);
      delete process.env.MULTIPROC_TEST_VALUE;
    }
  });

  test("MULTIPROC_STANDBY=0 starts every child cold", async () => {
    process.env.MULTIPROC_STANDBY = "0";
    try {
      for (let i = 0; i < 3; i++) {
        const before = childPids();
        const child = new (getContext("spawn").Process)({ target: targets.noop });
        child.start();
        assert.ok(!before.includes(child.pid!));
        await child.join();
      }
    } finally {
      delete process.env.MULTIPROC_STANDBY;
    }
  });
});

describe("thread: warm standby", () => {
  test("a spare thread sees the environment of start() time", async () => {
    await startAndJoin("thread", targets.noop);
    await startAndJoin("thread", targets.noop);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const out = join(tempDir(), "env.json");
    process.env.MULTIPROC_TEST_VALUE = "thread value";
    try {
      await startAndJoin("thread", targets.describeEnv, [out, "MULTIPROC_TEST_VALUE"]);
      assert.equal(readJson(out).value, "thread value");
    } finally {
      delete process.env.MULTIPROC_TEST_VALUE;
    }
  });
});

for (const method of ["spawn", "thread"]) {
  test(`${method}: a program's spares neither keep it alive nor outlive it`, async () => {
    const run = await runProgram("many-starts.ts", [method]);
    assert.equal(run.code, 0, run.stderr);
    const { pid } = JSON.parse(run.stdout.trim()) as { pid: number };
    await waitUntil(() => pidsWithCommandLine(`bootstrap.ts ${pid}`).length === 0, 10_000, "the program's spare to exit");
  });
}
