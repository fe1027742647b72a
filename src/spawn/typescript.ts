/*
 * TypeScript targets in a child whose parent loaded them without a Node.js
 * loader on its command line (vitest and jest transform modules themselves;
 * a program may call tsx's register()): the child would inherit no loader
 * and fail on the ".ts" extension. So before a child imports its first
 * TypeScript module it registers tsx itself, found from that module's
 * project (or the working directory), unless a loader is already there.
 *
 * Talks to: functionRefs.ts (asks before each import), child.ts (turns it on).
 */
import { builtin, shared } from "../runtime.ts";
import { preloads } from "./execArgv.ts";

const { readFileSync } = builtin("node:fs");
const { join } = builtin("node:path");
const { fileURLToPath, pathToFileURL } = builtin("node:url");

const state = shared("typescript.state", () => ({ enabled: false, registered: null as Promise<void> | null }));

const typeScriptFile = /\.(ts|mts|cts|tsx)$/;

/** Called by a child before it imports anything: from then on TypeScript modules get a loader if they need one. */
export function enableTypeScriptLoader(): void {
  state.enabled = true;
}

/** Resolves once `module` (a file URL or path) can be imported as far as TypeScript is concerned. */
export function typeScriptReady(module: string): Promise<void> | undefined {
  if (state.registered || !state.enabled) return state.registered ?? undefined;
  const typeScript = typeScriptFile.test(module);
  // A test runner transforms TypeScript for its own modules, which may import .ts files from .js ones.
  const runner = process.env.VITEST !== undefined || process.env.JEST_WORKER_ID !== undefined;
  if ((!typeScript && !runner) || hasLoader()) return undefined;
  const path = module.startsWith("file:") ? fileURLToPath(module) : module;
  if (!typeScript && findTsx([path]) === undefined) return undefined;
  state.registered = register(path);
  return state.registered;
}

function hasLoader(): boolean {
  if ((process.features as { typescript?: unknown }).typescript) return true;
  return preloads().some((preload) => /[\\/]node_modules[\\/]tsx[\\/]|^tsx($|\/)/.test(preload.module));
}

async function register(path: string): Promise<void> {
  const manifest = findTsx([path, join(process.cwd(), "noop.js")]);
  if (manifest === undefined) {
    throw new Error(
      `cannot import ${path} in a child process: a TypeScript module needs a loader there, and tsx cannot be found from ` +
        `${path} or from ${process.cwd()}. Install it in your project (npm i -D tsx), or start Node.js with --import tsx.`,
    );
  }
  for (const api of ["./esm/api", "./cjs/api"] as const) {
    const loaded = (await import(tsxApiUrl(manifest, api))) as { register(): unknown };
    loaded.register();
  }
}

/** The ES module build of one of tsx's APIs (its CommonJS build cannot register the ESM hooks in a worker). */
export function tsxApiUrl(packageJson: string, api: "./esm/api" | "./cjs/api"): string {
  const manifest = JSON.parse(readFileSync(packageJson, "utf8")) as { exports: Record<string, { import: string | { default: string } }> };
  const entry = manifest.exports[api]!.import;
  return new URL(typeof entry === "string" ? entry : entry.default, pathToFileURL(packageJson)).href;
}

function findTsx(from: readonly string[]): string | undefined {
  const { createRequire } = builtin("node:module");
  for (const start of from) {
    try {
      return createRequire(start).resolve("tsx/package.json");
    } catch {
      // not installed where this one looks
    }
  }
  return undefined;
}
