/* The seed examples that prove a property, run as the programs they are. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const examples = fileURLToPath(new URL("../examples/", import.meta.url));

function runExample(name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", `${examples}${name}`], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("ticket buying (seed 000 §四): with a Lock exactly one of five buyers gets the last ticket; without, all five do", async () => {
  const run = await runExample("ticket-lock.ts");
  assert.equal(run.code, 0, run.stderr);
  const [locked, unlocked] = run.stdout.split("without a lock:");
  assert.equal(locked!.match(/bought a ticket/g)?.length, 1);
  assert.equal(locked!.match(/found no ticket left/g)?.length, 4);
  assert.equal(unlocked!.match(/bought a ticket/g)?.length, 5);
});

test("add/sub counter (seed 001 锁的使用): under a Lock a shared Value ends at exactly 0", async () => {
  const run = await runExample("counter-lock.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /num result with the lock: +0\n/);
});

test("Queue(3) (seed 000 §五): Full on a full queue with block false or after the timeout, Empty on an empty one", async () => {
  const run = await runExample("queue-basics.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /put\(4, \{ block: false \}\) → Full: .* true/);
  assert.match(run.stdout, /put\(4, \{ timeout: 300 \}\) → Full after/);
  assert.match(run.stdout, /got 1 2 3 empty=true/);
  assert.match(run.stdout, /get\(\{ block: false \}\) → Empty: .* true/);
});

test("producer/consumer with a sentinel (seed 000 §6.1): all nine foods are consumed and the consumer ends", async () => {
  const run = await runExample("producer-consumer.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.match(/c1 consumed/g)?.length, 9);
  assert.match(run.stdout, /consumer exit code 0/);
});

test("JoinableQueue with daemon consumers (seed 000 §6.2): join returns after all nine are done", async () => {
  const run = await runExample("producer-consumer-joinable.ts");
  assert.equal(run.code, 0, run.stderr);
  const [beforeJoin] = run.stdout.split("q.join() returned");
  assert.equal(beforeJoin!.match(/c[12] consumed/g)?.length, 9);
});

test("writer/reader (seed 004): the reader gets A, B, C in order and is terminated", async () => {
  const run = await runExample("queue-writer-reader.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.stdout.match(/got ([ABC]) from/g), ["got A from", "got B from", "got C from"]);
  assert.match(run.stdout, /reader terminated \(exit code -15\)/);
});

test("Pipe echo: replies come back, then EOF ends the child", async () => {
  const run = await runExample("pipe-echo.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /got back HELLO/);
  assert.match(run.stdout, /bytes reversed: setyb/);
  assert.match(run.stdout, /the other end is closed, bye/);
  assert.match(run.stdout, /child exit code 0/);
});

test("Pool initializer (seed 002 构造方法): once per worker; with maxtasksperchild 1 a new worker, and the initializer again, for every task", async () => {
  const run = await runExample("pool-initializer.ts");
  assert.equal(run.code, 0, run.stderr);
  const [persistent, fresh] = run.stdout.split("-- maxtasksperchild: 1");
  const initPids = (text: string) => [...text.matchAll(/^(\d+) PoolWorker-\d+ initializer: I started \(initargs 8\)$/gm)].map((m) => m[1]);
  const taskPids = (text: string) => [...text.matchAll(/^(\d+) PoolWorker-\d+ printing-(\d+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
  // Two workers, each running the initializer once; the four tasks ran in order on them.
  assert.equal(initPids(persistent!).length, 2);
  assert.deepEqual(taskPids(persistent!).map(([, k]) => k), [5, 6, 7, 8]);
  for (const [pid] of taskPids(persistent!)) assert.ok(initPids(persistent!).includes(pid));
  assert.match(persistent!, /4 tasks ran in [12] worker process\(es\); workers replaced: 0/);
  // One task per worker: four pids, each of which ran the initializer first.
  const tasks = taskPids(fresh!);
  assert.deepEqual(tasks.map(([, k]) => k), [5, 6, 7, 8]);
  assert.equal(new Set(tasks.map(([pid]) => pid)).size, 4);
  for (const [pid] of tasks) {
    const first = fresh!.split("\n").find((line) => line.startsWith(`${pid} `));
    assert.match(first!, /initializer: I started/, `worker ${pid} ran the initializer before its task`);
  }
  assert.match(fresh!, /4 tasks ran in 4 worker process\(es\); workers replaced: [3-9]/);
});

test("Pool.apply (seed 002): five calls, one at a time, each returning k + 5", async () => {
  const run = await runExample("pool-apply.ts");
  assert.equal(run.code, 0, run.stderr);
  const events = [...run.stdout.matchAll(/(?:PoolWorker-\d+ printing-(\d+))|(?:MainProcess (\d+)~~~~~~~~)/g)].map((m) => (m[1] !== undefined ? `task ${m[1]}` : `got ${m[2]}`));
  assert.deepEqual(events, ["task 0", "got 5", "task 1", "got 6", "task 2", "got 7", "task 3", "got 8", "task 4", "got 9"]);
  assert.match(run.stdout, /-----------/);
});

test("Pool.applyAsync (seed 002): returns at once, callbacks in the main process, ready() polling, get(timeout), errorCallback", async () => {
  const run = await runExample("pool-apply-async.ts");
  assert.equal(run.code, 0, run.stderr);
  const out = run.stdout;
  const mainPid = out.match(/^(\d+) MainProcess/m)![1];
  assert.equal(out.match(/<AsyncResult pending>~~~~~~~~AsyncResult/g)?.length, 4);
  assert.ok(out.indexOf("-----end------") < out.indexOf("printing-"), "applyAsync returned before any task ran");
  const callbacks = [...out.matchAll(/^(\d+) MainProcess callback: (\d+)\t type=number$/gm)];
  assert.deepEqual(callbacks.map((m) => Number(m[2])).sort(), [5, 6, 7, 8]);
  assert.ok(callbacks.every((m) => m[1] === mainPid), "callbacks run in the main process");
  assert.deepEqual([...out.matchAll(/get\(\) → (\d+)/g)].map((m) => Number(m[1])), [5, 6, 7, 8]);
  assert.match(out, /successful\(\) = \[true, true, true, true\]/);
  assert.match(out, /get\(100\) → TimeoutError: .*; ready\(\) = false/);
  assert.match(out, /successful\(\) before it is ready throws/);
  assert.match(out, /get\(\) without a timeout → 15; successful\(\) = true/);
  assert.match(out, /MainProcess callback: RangeError: no value for 7\t type=object/);
  assert.match(out, /a task that throws: ready\(\) = true, successful\(\) = false/);
  assert.match(out, /get\(\) rethrows it: RangeError: no value for 7/);
});

test("Pool(3) with applyAsync × 5, close, join (seed 004 进程池): five tasks on at most three processes, all done before join returns", async () => {
  const run = await runExample("pool-apply-async-close-join.ts");
  assert.equal(run.code, 0, run.stderr);
  const running = [...run.stdout.matchAll(/^(p\d): child process (\d+) is running\.\.\.$/gm)];
  assert.deepEqual(running.map((m) => m[1]).sort(), ["p1", "p2", "p3", "p4", "p5"]);
  const pids = new Set(running.map((m) => m[2]));
  assert.ok(pids.size >= 1 && pids.size <= 3, `at most 3 worker pids, got ${[...pids].join(", ")}`);
  assert.equal(run.stdout.match(/child process ran \d+\.\d+ s\.\.\./g)?.length, 5);
  const [beforeJoin, afterJoin] = run.stdout.split("all child processes are done...");
  assert.equal(beforeJoin!.match(/ran \d+\.\d+ s/g)?.length, 5, "join returned after all five finished");
  assert.match(afterJoin!, new RegExp(`5 tasks ran in ${pids.size} worker processes .*; activeChildren\\(\\) = \\[\\]`));
});

test("Pool(4) and the module functions (seed 002 §1): the four workers are active children at once", async () => {
  const run = await runExample("pool-module-functions.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /currentProcess\(\) = <Process name='MainProcess'/);
  const children = run.stdout.match(/^activeChildren\(\) = .*$/m)![0];
  assert.equal(children.match(/name='PoolWorker-\d+' pid=\d+/g)?.length, 4);
  assert.match(run.stdout, /cpuCount\(\) += [1-9]\d*/);
  assert.match(run.stdout, /after terminate\(\): activeChildren\(\) = \[\]/);
});

test("Pool map family: map with progress, imap in order, imapUnordered, and a dying worker fails only its own task", async () => {
  const run = await runExample("pool-map.ts");
  assert.equal(run.code, 0, run.stderr);
  const out = run.stdout;
  assert.match(out, /progress: 20\/20 ranges done/);
  assert.match(out, /148933 primes below 2,000,000 \(first ranges: 9592, 8392, 8013, 7863, \.\.\.\)/);
  const section = (title: string) => out.split(title)[1]!.split("\n-- ")[0]!;
  const squares = (text: string) => [...text.matchAll(/(\d+)² = (\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(squares(section("-- imap:")), [6, 1, 2, 1, 2, 1]);
  assert.deepEqual(squares(section("-- imapUnordered:")).sort(), [1, 1, 1, 2, 2, 6]);
  const dies = section("-- a worker dies");
  assert.equal(dies.match(/WorkerLostError/g)?.length, 1);
  assert.match(dies, /fragileSquare\(3\): WorkerLostError: .*exited with code 1.*\(exitCode 1\)/);
  assert.deepEqual(squares(dies.split("the pool goes on")[0]!), [0, 1, 2, 4, 5, 6]);
  assert.match(dies, /workersReplaced = 1, workers = 2, tasksFailed = 1/);
  assert.match(dies, /and still works: 7² = 49/);
});
