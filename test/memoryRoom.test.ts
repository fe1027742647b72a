/* No allocation the machine cannot hold (native/room.c): refused before any page is committed, naming both sizes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fixtures } from "./helpers.ts";

interface Outcome {
  name: string;
  thrown?: boolean;
  type?: string;
  message?: string;
  code?: string;
  value?: number;
}

test("shared allocations just above the memory available fail with a RangeError naming the size asked and the size available", async () => {
  // ulimit -f 1024 (1 MiB files): a missing check would hit EFBIG, never the OOM killer.
  const script = `ulimit -f 1024 && exec "${process.execPath}" --import tsx "${join(fixtures, "room-program.ts")}"`;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile("/bin/sh", ["-c", script], { timeout: 120_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
  });
  const outcomes = stdout.trim().split("\n").map((line) => JSON.parse(line) as Outcome);
  const byName = new Map(outcomes.map((o) => [o.name, o]));
  for (const name of ["sharedArray", "rawArray", "sharedMemory"]) {
    const outcome = byName.get(name);
    assert.ok(outcome?.thrown, `${name} was refused`);
    assert.equal(outcome.type, "RangeError", `${name}: ${outcome.message}`);
    assert.equal(outcome.code, "ENOMEM");
    assert.match(outcome.message!, /cannot allocate [\d.]+ [GTP]iB \(\d+ bytes\) of shared memory: only [\d.]+ [GTM]iB \(\d+ bytes\) available/);
  }
  assert.match(byName.get("sharedMemory")!.message!, /free space of \/dev\/shm/);
  assert.equal(byName.get("afterwards")?.value, 1.5);
});
