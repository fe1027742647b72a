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
import type { Handle } from "../reduction.ts";
import type { ChildHandle } from "./lifecycle.ts";
import { builtin } from "../runtime.ts";
import { reportUncaught, type ChildHeader } from "./child.ts";

const { readFileSync } = builtin("node:fs");
const { extname, join } = builtin("node:path");
const { fileURLToPath, pathToFileURL } = builtin("node:url");

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
  if (loaders) return loaders;
  loaders = [];
  const requireFromCwd = builtin("node:module").createRequire(join(process.cwd(), "noop.js"));
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const flag = /^--(import|loader|experimental-loader)(=(.*))?$/.exec(arg);
    if (!flag) continue;
    const spec = flag[3] ?? argv[++i];
    if (!spec) continue;
    const tsxRoot = /^(.*[\\/]node_modules[\\/]tsx)[\\/]/.exec(spec.startsWith("file:") ? fileURLToPath(spec) : spec)?.[1];
    if (spec === "tsx" || tsxRoot) {
      loaders.push({ url: tsxEsmApi(tsxRoot ? join(tsxRoot, "package.json") : requireFromCwd.resolve("tsx/package.json")), tsx: true });
    } else {
      let url = spec;
      if (!/^[a-z]+:/i.test(spec)) url = pathToFileURL(requireFromCwd.resolve(spec)).href;
      loaders.push({ url, tsx: false });
    }
  }
  return loaders;
}

/** The ES module build of tsx's API (its CommonJS build cannot register the ESM hooks in a worker). */
function tsxEsmApi(packageJson: string): string {
  const manifest = JSON.parse(readFileSync(packageJson, "utf8")) as { exports: Record<string, { import: string | { default: string } }> };
  const entry = manifest.exports["./esm/api"]!.import;
  return new URL(typeof entry === "string" ? entry : entry.default, pathToFileURL(packageJson)).href;
}

export function startThreadChild(header: ChildHeader, body: Buffer, _handles: readonly Handle[]): ChildHandle {
  return new ThreadChild(header, body);
}

class ThreadChild implements ChildHandle {
  readonly pid = process.pid;
  readonly ident: number;
  readonly daemon: boolean;
  readonly exited: Promise<number>;
  #worker: Worker;
  #exitCode: number | null = null;
  #stoppedWith: number | null = null;
  #holds = 0;

  constructor(header: ChildHeader, body: Buffer) {
    this.daemon = header.daemon;
    const { Worker } = builtin("node:worker_threads");
    const loaders = parentLoaders();
    // Without loaders to register, the bootstrap can be the entry itself (one module load fewer).
    const entry = loaders.length > 0 ? workerEntry : new URL(bootstrapUrl);
    const worker = new Worker(entry, {
      eval: loaders.length > 0,
      workerData: { header, body, loaders, bootstrap: bootstrapUrl },
      name: header.name,
      stdin: false,
    });
    this.#worker = worker;
    this.ident = worker.threadId;
    // An error that escapes after the target settled: report it as a spawn child would, then 'exit' follows.
    worker.on("error", (err) => reportUncaught(header.name, err));
    this.exited = new Promise((resolve) => {
      worker.once("exit", (code) => {
        this.#exitCode = this.#stoppedWith ?? code;
        resolve(this.#exitCode);
      });
    });
    worker.unref();
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

  hold(): () => void {
    if (this.#holds++ === 0) this.#worker.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holds === 0) this.#worker.unref();
    };
  }
}
