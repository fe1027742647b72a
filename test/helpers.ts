/* Helpers shared by the tests: temp dirs, running whole programs, waiting for files and pids. */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "multiproc-test-"));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a fixture program under tsx; `timeoutMs` is only a hang guard. */
export function runProgram(script: string, args: string[] = [], timeoutMs = 60_000): Promise<RunResult> {
  return runNode(["--import", "tsx", join(fixtures, script), ...args], { timeoutMs });
}

/** Run node with exactly these arguments; `timeoutMs` is only a hang guard. NODE_TEST_CONTEXT is not passed on. */
export function runNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const { cwd, env = {}, timeoutMs = 60_000 } = options;
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: timeoutMs, env: { ...process.env, NODE_TEST_CONTEXT: undefined, ...env } }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({
        code: failure ? (typeof failure.code === "number" ? failure.code : null) : 0,
        signal: failure?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** Poll until `check` is true; throws after `timeoutMs` (a hang guard, not a timing assertion). */
export async function waitUntil(check: () => boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** True while `pid` exists and is not a zombie. */
export function pidRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export function pidExists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** Pids of the live processes whose parent is `ppid`. */
export function childPids(ppid = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === ppid && fields[0] !== "Z") pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Pids of processes whose command line contains `text`. */
export function pidsWithCommandLine(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "latin1").split("\0").join(" ").includes(text)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
