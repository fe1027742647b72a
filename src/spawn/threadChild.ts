/*
 * The "thread" start method: a worker_threads Worker running
 * threadBootstrap.ts. Same API as spawn: isolated memory, exit codes, and
 * terminate()/kill() report -15/-9 as if the thread had been signalled.
 *
 * Node.js 20 does not apply `--import` loaders to a worker's entry module,
 * so the worker starts from a tiny script that registers the parent's
 * loaders (tsx through its API, which otherwise only hooks the main thread)
 * and then imports the bootstrap.
 */
import type { Worker } from "node:worker_threads";
import { holdCounter, type ChildHandle } from "./lifecycle.ts";
import { builtin } from "../runtime.ts";
import { replenish, takeSpare } from "./standby.ts";
import { preloads } from "./execArgv.ts";
import type { ChildHeader } from "./child.ts";
import { reportUncaught } from "./uncaught.ts";
import { isInherited, type LaunchOptions } from "./launchOptions.ts";
import { tsxApiUrl } from "./typescript.ts";
import { ProcessError } from "../errors.ts";
import type { Readable } from "node:stream";

const { extname, join } = builtin("node:path");
const { fileURLToPath } = builtin("node:url");

const bootstrapUrl = new URL(`./threadBootstrap${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

const workerEntry = `
const { workerData } = require("node:worker_threads");
(async () => {
  for (const loader of workerData.loaders) {
    const loaded = await import(loader.url);
    if (loader.tsx) loaded.register();
  }
  await import(workerData.bootstrap);
})().catch((err) => { process.exitCode = 1; throw err; });
`;

interface Loader {
  url: string;
  /** tsx's ESM API: its register() hooks this thread. */
  tsx: boolean;
}

let loaders: Loader[] | undefined;

/** The `--import`/`--loader` modules of this process, as the worker must load them. */
function parentLoaders(): Loader[] {
  loaders ??= preloads()
    .filter((preload) => preload.flag !== "--require")
    .map(({ module }) => {
      const path = module.startsWith("file:") ? fileURLToPath(module) : module;
      const tsxRoot = /^(.*[\\/]node_modules[\\/]tsx)[\\/]/.exec(path)?.[1];
      return tsxRoot ? { url: tsxApiUrl(join(tsxRoot, "package.json"), "./esm/api"), tsx: true } : { url: module, tsx: false };
    });
  return loaders;
}

export function startThreadChild(header: ChildHeader, body: Buffer, launch: LaunchOptions): ChildHandle {
  if (launch.cwd !== undefined && launch.cwd !== process.cwd()) {
    throw new ProcessError(`${header.name}: a thread child shares its process's working directory, so it cannot have cwd ${launch.cwd}; use the "spawn" start method`);
  }
  const spare = isInherited(launch) ? takeSpare<ThreadChild>("thread", fingerprint) : null;
  const child = spare?.launch(header, body) ?? new ThreadChild({ header, body }, header.name, launch);
  replenish("thread", fingerprint, () => new ThreadChild({ standby: true }, "a standby thread"));
  return child;
}

/** What a spare thread copied when it started (a worker gets its own copy of process.env). */
function fingerprint(): string {
  return JSON.stringify([process.execArgv, process.env]);
}

class ThreadChild implements ChildHandle {
  readonly pid = process.pid;
  readonly ident: number;
  daemon = false;
  readonly exited: Promise<number>;
  #worker: Worker;
  #name: string;
  #exitCode: number | null = null;
  #stoppedWith: number | null = null;
  readonly hold: () => () => void;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;

  /** `start` is the payload, or `{ standby: true }` for a spare that waits for one (threadBootstrap.ts). */
  constructor(start: { header: ChildHeader; body: Buffer } | { standby: true }, name: string, launch: LaunchOptions = {}) {
    this.#name = name;
    if ("header" in start) this.daemon = start.header.daemon;
    const { Worker } = builtin("node:worker_threads");
    const loaders = parentLoaders();
    // Without loaders to register, the bootstrap can be the entry itself (one module load fewer).
    const entry = loaders.length > 0 ? workerEntry : new URL(bootstrapUrl);
    const worker = new Worker(entry, {
      eval: loaders.length > 0,
      workerData: { ...start, loaders, bootstrap: bootstrapUrl },
      name,
      stdin: false,
      stdout: launch.stdio === "pipe",
      stderr: launch.stdio === "pipe",
      env: launch.env ?? process.env,
      execArgv: launch.execArgv ? [...launch.execArgv] : undefined,
      resourceLimits: launch.maxOldGenerationSizeMb === undefined ? undefined : { maxOldGenerationSizeMb: launch.maxOldGenerationSizeMb },
    });
    this.stdout = launch.stdio === "pipe" ? worker.stdout : null;
    this.stderr = launch.stdio === "pipe" ? worker.stderr : null;
    this.#worker = worker;
    this.ident = worker.threadId;
    this.hold = holdCounter(worker);
    // An error that escapes after the target settled: report it as a spawn child would, then 'exit' follows.
    worker.on("error", (err) => reportUncaught(this.#name, err));
    this.exited = new Promise((resolve) => {
      worker.once("exit", (code) => {
        this.#exitCode = this.#stoppedWith ?? code;
        resolve(this.#exitCode);
      });
    });
    worker.unref();
    // As a spawn child's pipes do, piped output keeps this process reading until the (non-daemon) child ends.
    if (launch.stdio === "pipe" && !this.daemon) void this.exited.then(this.hold());
  }

  /** Hand a spare its payload; null if it has died meanwhile. */
  launch(header: ChildHeader, body: Buffer): ThreadChild | null {
    if (this.#exitCode !== null || this.#stoppedWith !== null) return null;
    this.#name = header.name;
    this.daemon = header.daemon;
    this.#worker.postMessage({ header, body });
    return this;
  }

  discard(): void {
    this.kill();
  }

  poll(): number | null {
    return this.#exitCode;
  }

  terminate(): void {
    this.#stop(-15);
  }

  kill(): void {
    this.#stop(-9);
  }

  #stop(code: number): void {
    if (this.#exitCode !== null || this.#stoppedWith !== null) return;
    this.#stoppedWith = code;
    void this.#worker.terminate();
  }

}
