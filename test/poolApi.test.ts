/*
 * The Pool seam (pool/api.ts): `new Pool({ backend })` is a Pool whose every
 * method is the backend engine's; without a backend, the local engine. The
 * published Pool type carries the public API only (no engine internals).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AsyncResult, MapResult, Pool, type PoolApi, type PoolBackend, type PoolOptions, type PoolStats } from "../src/index.ts";
import { IMapIterator } from "../src/pool/results.ts";

const stats: PoolStats = { state: "running", processes: 7, workers: 0, busyWorkers: 0, queued: 0, tasksDone: 0, tasksFailed: 0, workersReplaced: 0, pids: [] };

/** A backend whose engine records each call and answers from canned results. */
function recordingBackend(calls: string[], seen: PoolOptions[]): PoolBackend {
  const engine: PoolApi = {
    apply: async () => (calls.push("apply"), 1) as never,
    applyAsync: () => (calls.push("applyAsync"), new AsyncResult()) as never,
    map: async () => (calls.push("map"), []),
    mapAsync: () => (calls.push("mapAsync"), new MapResult()) as never,
    starmap: async () => (calls.push("starmap"), []),
    starmapAsync: () => (calls.push("starmapAsync"), new MapResult()) as never,
    imap: () => (calls.push("imap"), new IMapIterator(() => undefined, () => undefined)) as never,
    imapUnordered: () => (calls.push("imapUnordered"), new IMapIterator(() => undefined, () => undefined)) as never,
    close: () => void calls.push("close"),
    terminate: async () => void calls.push("terminate"),
    join: async () => void calls.push("join"),
    stats: () => (calls.push("stats"), stats),
    toString: () => (calls.push("toString"), "<fake pool>"),
    [Symbol.asyncDispose]: async () => void calls.push("asyncDispose"),
  };
  return {
    kind: "fake",
    createEngine(options) {
      seen.push(options);
      return engine;
    },
  };
}

function double(x: number): number {
  return 2 * x;
}

test("new Pool({ backend }) is a Pool whose every method is the backend engine's", async () => {
  const calls: string[] = [];
  const seen: PoolOptions[] = [];
  const backend = recordingBackend(calls, seen);
  const pool = new Pool({ backend, retries: 2 });
  assert.ok(pool instanceof Pool);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.backend, backend);
  assert.equal(seen[0]!.retries, 2);
  await pool.apply(double, [1]);
  pool.applyAsync(double, [1]);
  await pool.map(double, [1]);
  pool.mapAsync(double, [1]);
  await pool.starmap(double, [[1]]);
  pool.starmapAsync(double, [[1]]);
  pool.imap(double, [1]);
  pool.imapUnordered(double, [1]);
  assert.equal(pool.processes, 7);
  assert.equal(String(pool), "<fake pool>");
  pool.close();
  await pool.join();
  await pool.terminate();
  await pool[Symbol.asyncDispose]();
  assert.deepEqual(calls, ["apply", "applyAsync", "map", "mapAsync", "starmap", "starmapAsync", "imap", "imapUnordered", "stats", "toString", "close", "join", "terminate", "asyncDispose"]);
});

test("a backend that is not one is refused", () => {
  assert.throws(() => new Pool({ backend: {} as PoolBackend }), TypeError);
  assert.throws(() => new Pool({ backend: null as unknown as PoolBackend }), TypeError);
});

test("the published Pool type has the public API only", () => {
  const dts = fileURLToPath(new URL("../dist/pool.d.ts", import.meta.url));
  assert.ok(existsSync(dts), "dist/pool.d.ts is missing: npm test builds it first (npm run build)");
  const text = readFileSync(dts, "utf8");
  assert.match(text, /export declare class Pool implements PoolApi/);
  for (const internal of ["offer(", "abortJob(", "applyEncoded(", "retries:", "#engine", "LocalPool"]) assert.ok(!text.includes(internal), `dist/pool.d.ts mentions ${internal}`);
});
