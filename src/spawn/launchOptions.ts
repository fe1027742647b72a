/*
 * How one child is launched, beyond Python's Process: its environment,
 * working directory, Node.js options, heap cap, and whether its output is
 * the parent's or a pair of pipes. Checked once, when the Process is made;
 * spawnChild.ts and threadChild.ts turn them into their runtime's options.
 */
import { ProcessError } from "../errors.ts";
import { builtin } from "../runtime.ts";

const { statSync } = builtin("node:fs");
const { resolve } = builtin("node:path");

export interface LaunchOptions {
  /** The child's environment (default: this process's). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The child's working directory (spawn only: threads share their process's). */
  cwd?: string;
  /** Node.js options for the child, instead of the ones it would inherit. */
  execArgv?: readonly string[];
  /** Heap cap in MB: `--max-old-space-size` for spawn, `resourceLimits.maxOldGenerationSizeMb` for thread. */
  maxOldGenerationSizeMb?: number;
  /** "inherit" (default): the child writes to this process's stdout/stderr; "pipe": to `p.stdout`/`p.stderr`. */
  stdio?: "inherit" | "pipe";
}

/** A validated copy of the launch options; throws TypeError/RangeError naming the bad one. */
export function checkLaunchOptions(options: LaunchOptions): LaunchOptions {
  const { env, cwd, execArgv, maxOldGenerationSizeMb, stdio } = options;
  const checked: LaunchOptions = {};
  if (env !== undefined) {
    if (env === null || typeof env !== "object" || Array.isArray(env)) throw new TypeError("env must be an object of strings");
    for (const [key, value] of Object.entries(env)) {
      if (value !== undefined && typeof value !== "string") throw new TypeError(`env.${key} must be a string, not ${typeof value}`);
    }
    checked.env = { ...env };
  }
  if (cwd !== undefined) {
    if (typeof cwd !== "string" || cwd === "") throw new TypeError("cwd must be a non-empty string");
    checked.cwd = resolve(cwd);
  }
  if (execArgv !== undefined) {
    if (!Array.isArray(execArgv) || !execArgv.every((arg) => typeof arg === "string")) throw new TypeError("execArgv must be an array of strings");
    checked.execArgv = [...execArgv];
  }
  if (maxOldGenerationSizeMb !== undefined) {
    if (typeof maxOldGenerationSizeMb !== "number") throw new TypeError("maxOldGenerationSizeMb must be a number (megabytes)");
    if (!Number.isSafeInteger(maxOldGenerationSizeMb) || maxOldGenerationSizeMb <= 0) {
      throw new RangeError(`maxOldGenerationSizeMb must be a positive whole number of megabytes, not ${maxOldGenerationSizeMb}`);
    }
    checked.maxOldGenerationSizeMb = maxOldGenerationSizeMb;
  }
  if (stdio !== undefined && stdio !== "inherit" && stdio !== "pipe") throw new TypeError(`stdio must be "inherit" or "pipe", not ${String(stdio)}`);
  if (stdio === "pipe") checked.stdio = "pipe";
  return checked;
}

/** Whether a pre-started spare (standby.ts), which inherited everything from this process, can run the child. */
export function isInherited(options: LaunchOptions): boolean {
  return Object.keys(options).length === 0;
}

/** Checked at start(): the directory may have been made or removed since the Process was. */
export function checkCwd(cwd: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(cwd).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) throw new ProcessError(`cwd ${cwd} is not a directory`);
}
