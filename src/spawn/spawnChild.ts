/*
 * The "spawn" start method (Python's popen_spawn_posix.py): a new Node.js
 * process running bootstrap.ts, with the parent's execArgv (so `--import tsx`
 * and friends load the same way), stdin closed, stdout/stderr shared, and an
 * IPC channel that carries the start payload and any socket handles.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { extname } from "node:path";
import { Server } from "node:net";
import { fileURLToPath } from "node:url";
import { ProcessError } from "../errors.ts";
import type { Handle } from "../reduction.ts";
import type { ChildHandle } from "./lifecycle.ts";
import type { ChildHeader } from "./child.ts";

const bootstrapPath = fileURLToPath(new URL(`./bootstrap${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** Options of the parent that must not be repeated in a child (debugger ports, the test runner, -e code). */
const dropped = /^--(inspect|debug|test|watch|eval|print|input-type|experimental-test|experimental-default-type)/;
const droppedWithValue = new Set(["-e", "--eval", "-p", "--print", "--inspect-port", "--debug-port", "--test-reporter",
  "--test-reporter-destination", "--test-name-pattern", "--test-skip-pattern", "--test-concurrency", "--test-timeout",
  "--test-shard", "--watch-path", "--input-type"]);

export function childExecArgv(): string[] {
  const kept: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (droppedWithValue.has(arg)) {
      i++;
      continue;
    }
    if (dropped.test(arg) || arg === "-e" || arg === "-p") continue;
    kept.push(arg);
  }
  return kept;
}

export function startSpawnChild(header: ChildHeader, body: Buffer, handles: readonly Handle[]): ChildHandle {
  return new SpawnedChild(header, body, handles);
}

/** Exit code as Python reports it: the code, or -N for death by signal N. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return -(constants.signals[signal] ?? 1);
  return code ?? 1;
}

class SpawnedChild implements ChildHandle {
  readonly pid: number;
  readonly daemon: boolean;
  readonly exited: Promise<number>;
  #child: ChildProcess;
  #exitCode: number | null = null;
  #holds = 0;

  constructor(header: ChildHeader, body: Buffer, handles: readonly Handle[]) {
    this.daemon = header.daemon;
    const child = spawn(process.execPath, [...childExecArgv(), bootstrapPath, header.daemon ? "daemon" : "plain", String(process.pid)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    // Failures to start, and IPC errors after the child died, end in 'exit'.
    child.on("error", () => {});
    if (child.pid === undefined) throw new ProcessError(`failed to start a child process for ${header.name}`);
    this.pid = child.pid;
    this.#child = child;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exitCode = exitCodeOf(code, signal);
        resolve(this.#exitCode);
      });
    });
    child.send({ header, body });
    handles.forEach((handle, index) => {
      // A socket is closed in the parent once sent (keepOpen defaults to false); a server must be closed by hand.
      child.send({ handle: index }, handle, {}, () => {
        if (handle instanceof Server) handle.close();
      });
    });
    child.unref();
    child.channel?.unref();
  }

  get ident(): number {
    return this.pid;
  }

  poll(): number | null {
    if (this.#exitCode === null) this.#exitCode = zombieExitCode(this.pid);
    return this.#exitCode;
  }

  terminate(): void {
    if (this.poll() === null) this.#child.kill("SIGTERM");
  }

  kill(): void {
    if (this.poll() === null) this.#child.kill("SIGKILL");
  }

  hold(): () => void {
    if (this.#holds++ === 0) this.#child.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0) this.#child.unref();
    };
  }
}

/**
 * The exit code of a child that has died but that the event loop has not
 * reaped yet, read from /proc (field 52 holds the waitpid status). Lets
 * isAlive()/exitCode answer synchronously, as Python's do.
 */
function zombieExitCode(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] !== "Z" && fields[0] !== "X") return null;
  const status = Number(fields[49]);
  if (!Number.isInteger(status)) return null;
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : -signal;
}
