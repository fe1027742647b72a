/*
 * A pool is never bricked from outside (issue 11): workers killed by a
 * signal while they start are replaced, however many; only workers that
 * fail on their own while starting (an initializer that throws or exits)
 * break the pool, after retries. stats() lists the workers' pids.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Pool, ProcessError, activeChildren } from "../src/index.ts";
import { double, exitWhileStarting, slowStart } from "./fixtures/poolStartTargets.ts";
import { pidRunning, waitUntil } from "./helpers.ts";

const HANG = { timeout: 180_000 };

describe("pool workers that die while starting", () => {
  test("stats() lists the pids of the pool's workers", HANG, async () => {
    await using pool = new Pool({ processes: 3 });
    const { pids } = pool.stats();
    assert.equal(pids.length, 3);
    const children = new Set(activeChildren().map((child) => child.pid));
    for (const pid of pids) assert.ok(children.has(pid), `pid ${pid} is not a child of this process`);
    const ran = await pool.map(double, [1, 2, 3]);
    assert.deepEqual(ran, [2, 4, 6]);
  });

  test("20 workers killed by SIGKILL while starting, one after another: the pool replaces them and then maps correctly", HANG, async () => {
    // Each worker takes 300 ms to start: long enough to be killed while it does.
    await using pool = new Pool({ processes: 2, initializer: slowStart, initargs: [300] });
    const killed = new Set<number>();
    while (killed.size < 20) {
      await waitUntil(() => pool.stats().pids.some((pid) => !killed.has(pid)), 60_000, "a new worker");
      assert.equal(pool.stats().state, "running");
      for (const pid of pool.stats().pids) {
        if (killed.has(pid) || killed.size >= 20) continue;
        process.kill(pid, "SIGKILL");
        killed.add(pid);
      }
    }
    const items = Array.from({ length: 50 }, (_, i) => i);
    assert.deepEqual(await pool.map(double, items, { chunksize: 1 }), items.map((i) => 2 * i));
    const stats = pool.stats();
    assert.equal(stats.state, "running");
    assert.ok(stats.workersReplaced >= 20, `only ${stats.workersReplaced} workers were replaced`);
    for (const pid of killed) await waitUntil(() => !pidRunning(pid), 30_000, `killed worker ${pid} to be gone`);
  });

  test("an initializer that calls process.exit breaks the pool after retries; calls fail, never hang", HANG, async () => {
    await using pool = new Pool({ processes: 2, initializer: exitWhileStarting });
    const error = await pool.apply(double, [2]).then(
      () => assert.fail("no worker can start"),
      (err: unknown) => err,
    );
    assert.ok(error instanceof ProcessError, String(error));
    assert.match((error as Error).message, /keep dying before they are ready \(last exit code 3\)/);
    assert.equal(pool.stats().state, "broken");
    assert.throws(() => pool.applyAsync(double, [2]), /keep dying/);
  });
});
