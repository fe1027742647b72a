/*
 * No task waits while a worker is idle (issue 11): across real workers,
 * every row of the table — two long tasks of one map, three rounds
 * of async sleeps, concurrent applies, Pool(4) with two tasks, tasks that
 * must meet — for both start methods. Each task says which worker ran it
 * and when; the tests assert different workers and overlapping runs, never
 * a wall-clock bound. Pools are first warmed up by a map whose tasks meet
 * at a barrier (so every worker has started): a worker still starting is
 * not idle, and its task rightly goes to a started worker that is.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { Barrier, Event, Pool, getContext, type StartMethod } from "../src/index.ts";
import { meet, meetSync, napFor, setOrWait, spinFor, type Ran } from "./fixtures/poolSchedulingTargets.ts";

const methods: StartMethod[] = ["spawn", "thread"];
const HANG = { timeout: 120_000 };
/** How long a task waits for its partners: generous, only a hang guard (they must meet at once). */
const MEET_MS = 60_000;

function identity(method: StartMethod, ran: Ran): number {
  return method === "spawn" ? ran.pid : ran.threadId;
}

/** Every task ran in a worker of its own, and all of them were running at one moment. */
function assertSpread(method: StartMethod, runs: Ran[]): void {
  const workers = new Set(runs.map((ran) => identity(method, ran)));
  assert.equal(workers.size, runs.length, `tasks shared a worker: ${JSON.stringify(runs)}`);
  const latestStart = Math.max(...runs.map((ran) => ran.start));
  const earliestEnd = Math.min(...runs.map((ran) => ran.end));
  assert.ok(latestStart <= earliestEnd, `the tasks did not all run at the same time: ${JSON.stringify(runs)}`);
}

for (const method of methods) {
  describe(`no task waits while a worker is idle (${method})`, () => {
    const pools: Pool[] = [];
    const open = async (processes: number): Promise<Pool> => {
      const pool = new (getContext(method).Pool)(processes);
      pools.push(pool);
      await pool.map(meet, new Array<Barrier>(processes).fill(new Barrier(processes, null, MEET_MS)), { chunksize: 1 });
      return pool;
    };
    after(async () => {
      await Promise.all(pools.map((pool) => pool.terminate()));
    });

    test("Pool(2).map of two 200 ms CPU tasks: one per worker, at the same time", HANG, async () => {
      const pool = await open(2);
      assertSpread(method, await pool.map(spinFor, [200, 200]));
    });

    test("Pool(2).map of two async sleeps, chunksize 1, three rounds: one per worker every round", HANG, async () => {
      const pool = await open(2);
      for (let round = 0; round < 3; round++) assertSpread(method, await pool.map(napFor, [300, 300], { chunksize: 1 }));
    });

    test("two concurrent apply calls on Pool(2): one per worker", HANG, async () => {
      const pool = await open(2);
      assertSpread(method, await Promise.all([pool.apply(napFor, [300]), pool.apply(napFor, [300])]));
      const results = [pool.applyAsync(spinFor, [200]), pool.applyAsync(spinFor, [200])];
      assertSpread(method, await Promise.all(results.map((result) => result.get())));
    });

    test("Pool(4).map of two 300 ms CPU tasks: two workers", HANG, async () => {
      const pool = await open(4);
      assertSpread(method, await pool.map(spinFor, [300, 300]));
    });

    test("after a warm-up of tiny tasks, long tasks of the same function still spread", HANG, async () => {
      const pool = await open(2);
      await pool.map(spinFor, new Array<number>(2000).fill(0), { chunksize: 1 });
      assertSpread(method, await pool.map(spinFor, [200, 200], { chunksize: 1 }));
    });

    test("starmap, imap and imapUnordered (default and explicit chunksize) spread two tasks", HANG, async () => {
      const pool = await open(2);
      assertSpread(method, await pool.starmap(napFor, [[300], [300]]));
      for (const chunksize of [undefined, 1]) {
        const ordered: Ran[] = [];
        for await (const ran of pool.imap(napFor, [300, 300], { chunksize })) ordered.push(ran);
        assertSpread(method, ordered);
        const unordered: Ran[] = [];
        for await (const ran of pool.imapUnordered(napFor, [300, 300], { chunksize })) unordered.push(ran);
        assertSpread(method, unordered);
      }
    });

    for (const processes of [2, 4]) {
      test(`Pool(${processes}): the ${processes} tasks of one map meet at a Barrier(${processes})`, HANG, async () => {
        const pool = await open(processes);
        const barrier = new Barrier(processes, null, MEET_MS);
        assertSpread(method, await pool.map(meet, new Array<Barrier>(processes).fill(barrier)));
        // Again with workers blocked in waitSync: nothing but another worker can release them.
        assertSpread(method, await pool.map(meetSync, new Array<Barrier>(processes).fill(barrier), { chunksize: 1 }));
      });

      test(`Pool(${processes}): a task waits for an Event another task of the same map sets`, HANG, async () => {
        const pool = await open(processes);
        const event = new Event();
        const runs = await pool.map(setOrWait, [
          { role: "wait" as const, event, ms: MEET_MS },
          { role: "set" as const, event, ms: MEET_MS },
        ]);
        assert.notEqual(identity(method, runs[0]!), identity(method, runs[1]!));
      });

      test(`Pool(${processes}): ${processes * 2} tasks of a map meeting in pairs at a Barrier(${processes})`, HANG, async () => {
        const pool = await open(processes);
        const barrier = new Barrier(processes, null, MEET_MS);
        const runs = await pool.map(meet, new Array<Barrier>(processes * 2).fill(barrier), { chunksize: 1 });
        assert.equal(runs.length, processes * 2);
      });
    }
  });
}
