/*
 * Bad input across the whole public API (issue 12): every case of
 * fixtures/badInputCases.ts must throw (or reject with) its error type and a
 * message that says what was wrong. The cases run in a child process, so that
 * a native crash, an OOM or a hang fails the cases it reached instead of
 * taking the test runner down; the child runs under a file-size limit, so
 * that a shared allocation the room check failed to stop could not fill the
 * machine's memory either.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { cases } from "./fixtures/badInputCases.ts";
import { fixtures } from "./helpers.ts";

interface Report {
  name: string;
  problem: string;
  said: string;
}

const reports = new Map<string, Report>();
let ending = "";

before(async () => {
  // 1 GiB files at most; 1 GiB of JavaScript heap at most.
  const script = `ulimit -f 1048576 && exec "${process.execPath}" --max-old-space-size=1024 --import tsx "${join(fixtures, "badInputCases.ts")}"`;
  const { stdout, error, stderr } = await new Promise<{ stdout: string; stderr: string; error: (Error & { code?: unknown; signal?: unknown }) | null }>((resolve) => {
    execFile("/bin/sh", ["-c", script], { timeout: 600_000, maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) => resolve({ stdout, stderr, error }));
  });
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const report = JSON.parse(line) as Report;
    reports.set(report.name, report);
  }
  if (error) ending = `the child ended with code ${String(error.code)}, signal ${String(error.signal)}: ${stderr.slice(-2000)}`;
});

test("the table has at least 120 cases, each named once", () => {
  assert.ok(cases.length >= 120, `${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
});

test("the child running the cases exits normally (no native crash, OOM or hang)", () => {
  assert.equal(ending, "");
});

for (const c of cases) {
  test(`${c.name}: ${c.error} ${c.message}`, () => {
    const report = reports.get(c.name);
    assert.ok(report, `never reported: the child died or hung before it (${ending})`);
    assert.equal(report.problem, "", report.problem);
  });
}
