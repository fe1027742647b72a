/* What happens to children when their parent finishes, exits hard or is killed (src/spawn/lifecycle.ts). */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fixtures, pidRunning, runProgram, tempDir, waitUntil } from "./helpers.ts";

for (const method of ["spawn", "thread"]) {
  describe(`${method}: when the main program finishes`, () => {
    test("non-daemon children are waited for and daemon children are terminated", async () => {
      const dir = tempDir();
      const run = await runProgram("exit-waits.ts", [method, dir]);
      assert.equal(run.code, 0, run.stderr);
      const [pids, exits] = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, number>);
      assert.ok(existsSync(join(dir, "worker.txt")), "the non-daemon child finished its work");
      assert.equal(exits!.workerExit, 0);
      assert.equal(exits!.daemonExit, -15);
      assert.ok(!existsSync(join(dir, "daemon.txt")), "the daemon child was stopped before finishing");
      if (method === "spawn") assert.equal(pidRunning(pids!.daemon!), false);
    });

    test("a program that forgot the isMain guard gets the bootstrapping error from its child, not a cascade", async () => {
      const run = await runProgram("no-guard.ts", [method]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /exitCode=1/);
      assert.doesNotMatch(run.stdout, /work ran/);
      assert.equal(run.stderr.match(/bootstrapping/g)?.length, 1, run.stderr);
      assert.match(run.stderr, /isMain\(import\.meta\)/);
    });
  });
}

describe("spawn: when the parent dies", () => {
  test("SIGKILL of the parent: daemon children exit even when busy; non-daemon children finish their work", async () => {
    const dir = tempDir();
    const parent = spawn(process.execPath, ["--import", "tsx", join(fixtures, "parent-killed.ts"), dir], { stdio: ["ignore", "pipe", "inherit"] });
    const firstLine = await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once("line", resolve));
    const pids = JSON.parse(firstLine) as { busy: number; idle: number; worker: number };
    for (const pid of Object.values(pids)) assert.equal(pidRunning(pid), true);
    parent.kill("SIGKILL");
    await waitUntil(() => !pidRunning(pids.busy) && !pidRunning(pids.idle), 10_000, "daemon children to exit");
    await waitUntil(() => existsSync(join(dir, "worker.txt")), 15_000, "the non-daemon child to finish");
    await waitUntil(() => !pidRunning(pids.worker), 10_000, "the non-daemon child to exit");
  });

  test("a parent that exits right after start() still gets its non-daemon child's work done", async () => {
    const dir = tempDir();
    const run = await runProgram("exit-right-away.ts", [dir]);
    assert.equal(run.code, 0, run.stderr);
    const { child } = JSON.parse(run.stdout.trim()) as { child: number };
    const out = join(dir, "orphan.json");
    await waitUntil(() => existsSync(out), 20_000, "the orphaned child to run its target");
    await waitUntil(() => !pidRunning(child), 10_000, "the orphaned child to exit");
  });

  test("process.exit() in the parent stops daemon children", async () => {
    const run = await runProgram("exit-hard.ts");
    assert.equal(run.code, 0, run.stderr);
    const { daemon } = JSON.parse(run.stdout.trim()) as { daemon: number };
    await waitUntil(() => !pidRunning(daemon), 10_000, "the daemon child to exit");
  });
});
