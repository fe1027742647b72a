/*
 * Workload "managers" (issue #13): Manager() proxies against Python's
 * multiprocessing.Manager() (bench/python/managers.py prints the same metrics).
 *
 *   Manager dict set / get from a child, one at a time   a child process (started once) runs N × await
 *                                        d.set("k", i) (or d.get("k")) on a dict proxy and reports ops/s
 *                                        measured in the child
 *   Manager dict set from a child, 64 in flight   the same with 64 calls pipelined on the one proxy
 *                                        (Python's proxies cannot pipeline: its figure is one at a time)
 *   Manager Queue 1→1, 20,000 items via a Pool worker   a Pool(1) worker puts 20,000 small ints on
 *                                        manager.Queue(), the parent gets them; ms from applyAsync to the
 *                                        last get
 *   Remote manager over TCP, dict set one at a time   a SyncManager on 127.0.0.1:0 with an authkey; this
 *                                        process runs N × await d.set over the socket, ops/s
 */
import { Manager, Pipe, Pool, Process, SyncManager, isMain } from "../../dist/index.js";
import { managerClient, produce } from "../lib/manager_targets.mjs";
import { compare, now, RUNS } from "../lib/measure.mjs";

const SET = "Manager dict set from a child, one at a time";
const GET = "Manager dict get from a child, one at a time";
const PIPELINED = "Manager dict set from a child, 64 in flight";
const QUEUE = "Manager Queue 1→1, 20,000 items via a Pool worker";
const REMOTE = "Remote manager over TCP, dict set one at a time";

const N = 5_000;
const N_PIPELINED = 20_000;
const ITEMS = 20_000;

if (isMain(import.meta)) {
  const runs = Math.max(5, Math.floor(RUNS / 3));
  const manager = await Manager();
  const dict = await manager.dict();
  const [mine, theirs] = Pipe();
  const child = new Process({ target: managerClient, args: [theirs, dict] });
  child.start();
  theirs.close();
  await mine.recv();
  const ask = async (metric, command) => {
    mine.send(command);
    return { [metric]: await mine.recv() };
  };
  await compare(
    [
      { impl: "multiproc Manager()", unit: "ops/s", run: () => ask(SET, { op: "set", n: N, inFlight: 1 }) },
      { impl: "multiproc Manager()", unit: "ops/s", run: () => ask(GET, { op: "get", n: N, inFlight: 1 }) },
      { impl: "multiproc Manager()", unit: "ops/s", run: () => ask(PIPELINED, { op: "set", n: N_PIPELINED, inFlight: 64 }) },
    ],
    { runs },
  );
  mine.send(null);
  await child.join();
  mine.close();

  const pool = new Pool(1);
  const queue = await manager.Queue();
  await compare(
    [
      {
        impl: "multiproc Manager()",
        unit: "ms",
        async run() {
          const t0 = now();
          const done = pool.applyAsync(produce, [queue, ITEMS]);
          for (let i = 0; i < ITEMS; i++) await queue.get();
          await done;
          return { [QUEUE]: now() - t0 };
        },
      },
    ],
    { runs },
  );
  pool.close();
  await pool.join();
  await manager.shutdown();

  const remote = await new SyncManager({ address: ["127.0.0.1", 0], authkey: Buffer.from("bench") }).start();
  const remoteDict = await remote.dict();
  await compare(
    [
      {
        impl: "multiproc SyncManager (TCP)",
        unit: "ops/s",
        async run() {
          const t0 = now();
          for (let i = 0; i < N; i++) await remoteDict.set("k", i);
          return { [REMOTE]: (N / (now() - t0)) * 1000 };
        },
      },
    ],
    { runs },
  );
  await remote.shutdown();
}
