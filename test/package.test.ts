/* The published package: importable by name from ES modules and CommonJS, usable without a TypeScript loader. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixtures, readJson, tempDir } from "./helpers.ts";

function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const publicNames = [
  "Process", "currentProcess", "parentProcess", "activeChildren", "cpuCount", "isMain", "getContext", "getStartMethod",
  "setStartMethod", "getAllStartMethods", "registerTarget", "registerSerializable", "ProcessError", "TimeoutError",
  "AuthenticationError", "BufferTooShort", "EOFError", "Empty", "Full", "BrokenBarrierError", "RemoteError",
  "WorkerLostError", "OwnerDiedError", "SharedMemory", "ShareableList",
];

test("import * from 'multiproc' exposes the public surface", async () => {
  const run = await node(["--input-type=module", "-e", `import * as mp from "multiproc"; console.log(JSON.stringify(Object.keys(mp)))`]);
  assert.equal(run.code, 0, run.stderr);
  const names = JSON.parse(run.stdout) as string[];
  for (const name of publicNames) assert.ok(names.includes(name), `missing export ${name}`);
});

test("require('multiproc') works from CommonJS, without warnings, and gives the copy import gives", async () => {
  const run = await node(["-e", `const mp = require("multiproc"); import("multiproc").then((esm) => console.log(typeof mp.Process, typeof mp.isMain, mp.Lock === esm.Lock))`]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), "function function true");
  assert.equal(run.stderr, "");
});

test("the CommonJS build (for jest's CommonJS mode) exports what the ES module build does", async () => {
  const run = await node(["-e", `
    const cjs = require(${JSON.stringify(join(fixtures, "..", "..", "dist", "index.cjs"))});
    import("multiproc").then((esm) => console.log(JSON.stringify([Object.keys(cjs).sort(), Object.keys(esm).sort()])));
  `]);
  assert.equal(run.code, 0, run.stderr);
  const [cjs, esm] = JSON.parse(run.stdout) as [string[], string[]];
  assert.deepEqual(cjs, esm);
});

for (const method of ["spawn", "thread"]) {
  test(`${method}: a CommonJS program starts a child whose target is a CommonJS export`, async () => {
    const out = join(tempDir(), "cjs.json");
    const run = await node([join(fixtures, "cjs-main.cjs"), out, method]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /exitCode=0/);
    assert.equal(readJson(out).method, method);
  });

  test(`${method}: a plain ES module program runs with no TypeScript loader`, async () => {
    const out = join(tempDir(), "esm.json");
    const run = await node([join(fixtures, "esm-main.mjs"), out, method]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /exitCode=0/);
    assert.equal(readJson(out).method, method);
  });
}

test("two copies of the library in one process (the built package and its sources) tolerate each other; a user's clashing class is still refused", async () => {
  const sources = pathToFileURL(join(fixtures, "..", "..", "src", "index.ts")).href;
  const run = await node(["--import", "tsx", "--input-type=module", "-e", `
    import * as built from "multiproc";
    const source = await import(${JSON.stringify(sources)});
    source.registerSerializable(class A {}, "Clash");
    let refused = false;
    try { built.registerSerializable(class B {}, "Clash"); } catch { refused = true; }
    console.log(built.ProcessError !== source.ProcessError, refused);
  `]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), "true true");
});

for (const method of ["spawn", "thread"]) {
  test(`${method}: the CommonJS build (jest's) and the ES module build in one process: a Lock of one and a Queue of the other travel to children of both and back; Pools of both run`, async () => {
    const run = await node([join(fixtures, "two-builds.cjs"), method]);
    assert.equal(run.code, 0, run.stderr);
    const lockUse = { codes: [0, 0], got: [0, 1], heldByChild: true, released: true };
    assert.deepEqual(JSON.parse(run.stdout), { twoCopies: true, esmLock: lockUse, cjsLock: lockUse, cjsPool: [1, 4, 9], esmPool: [1, 4, 9] });
  });
}
