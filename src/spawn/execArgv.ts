/*
 * The Node.js options a child inherits from its parent (Python passes its
 * interpreter flags the same way): `--import tsx` and friends must load in
 * the child too, debugger ports and the test runner must not.
 *
 * Module options (`--import`, `--require`, `--loader`) are resolved against
 * the directory this process ran from, so a child started after a chdir()
 * still finds them. Used by spawnChild.ts (the command line) and
 * threadChild.ts (a worker must register loaders itself).
 */
import { builtin } from "../runtime.ts";

const { isAbsolute, join } = builtin("node:path");
const { pathToFileURL } = builtin("node:url");

/** Where relative and bare module options were resolved by Node.js: the working directory at start-up (or close to it). */
const launchCwd = process.cwd();

/** Options that must not be repeated in a child: debugger ports, the test runner, -e code. */
const dropped = /^--(inspect|debug|test|watch|eval|print|input-type|experimental-test|experimental-default-type)/;
const droppedWithValue = new Set(["-e", "--eval", "-p", "--print", "--inspect-port", "--debug-port", "--test-reporter",
  "--test-reporter-destination", "--test-name-pattern", "--test-skip-pattern", "--test-concurrency", "--test-timeout",
  "--test-shard", "--watch-path", "--input-type"]);

const moduleOption = /^(--import|--require|-r|--loader|--experimental-loader)$/;

export interface Preload {
  flag: "--import" | "--require" | "--loader";
  /** An absolute path or URL when it could be resolved, else the option as given. */
  module: string;
}

let parsed: { argv: string[]; preloads: Preload[] } | undefined;

function parse(): { argv: string[]; preloads: Preload[] } {
  if (parsed) return parsed;
  const argv: string[] = [];
  const preloads: Preload[] = [];
  const options = process.execArgv;
  for (let i = 0; i < options.length; i++) {
    const arg = options[i]!;
    if (droppedWithValue.has(arg)) {
      i++;
      continue;
    }
    if (dropped.test(arg) || arg === "-e" || arg === "-p") continue;
    const [name, inlineValue] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (!moduleOption.test(name)) {
      argv.push(arg);
      continue;
    }
    const value = inlineValue ?? options[++i];
    if (value === undefined) continue;
    const flag = name === "-r" || name === "--require" ? "--require" : name === "--import" ? "--import" : "--loader";
    const module = resolveModule(value, flag);
    preloads.push({ flag, module });
    argv.push(name, module);
  }
  parsed = { argv, preloads };
  return parsed;
}

function resolveModule(specifier: string, flag: Preload["flag"]): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier) || isAbsolute(specifier)) return specifier;
  try {
    const resolved = builtin("node:module").createRequire(join(launchCwd, "noop.js")).resolve(specifier);
    return flag === "--require" ? resolved : pathToFileURL(resolved).href;
  } catch {
    return specifier;
  }
}

/** The parent's execArgv as a child should get it. */
export function childExecArgv(): string[] {
  return parse().argv;
}

/** The modules the parent preloads with --import / --loader / --require, resolved. */
export function preloads(): readonly Preload[] {
  return parse().preloads;
}
