/*
 * Process objects (Python's process.py): the parent's view of a child, and a
 * child's view of itself (currentProcess) and of its parent (parentProcess).
 *
 * start() is synchronous: it checks the misuse Python refuses, serializes
 * the target and arguments (reduction.ts; a function that cannot travel
 * fails here, in the parent), and hands them to the launcher of the start
 * method (spawn/spawnChild.ts or spawn/threadChild.ts). What happens to
 * children at exit lives in spawn/lifecycle.ts; the child side of start is
 * spawn/child.ts.
 */
import { ProcessError, checkBoolean } from "./errors.ts";
import { dumps } from "./reduction.ts";
import { locateFunction, moduleUrlOf, type ModuleHandle } from "./functionRefs.ts";
import { builtin, shared } from "./runtime.ts";
import { parseWait, settleWithin, type Wait } from "./waiting.ts";
import { heldWhileAwaited, liveChildren, track, type ChildHandle } from "./spawn/lifecycle.ts";
import { startSpawnChild } from "./spawn/spawnChild.ts";
import { startThreadChild } from "./spawn/threadChild.ts";
import type { ChildHeader } from "./spawn/child.ts";
import { usesNodeTest } from "./spawn/testFiles.ts";
import { boundMethod, startMethodOf, type StartMethod } from "./startMethod.ts";
import { isRunning } from "./procfs.ts";
import { checkCwd, checkLaunchOptions, type LaunchOptions } from "./spawn/launchOptions.ts";
import type { Readable } from "node:stream";

const { availableParallelism, constants: osConstants } = builtin("node:os");
const { realpathSync } = builtin("node:fs");
const { resolve: resolvePath } = builtin("node:path");
const { pathToFileURL } = builtin("node:url");
const { inspect } = builtin("node:util");

// Any function may be a target; its parameter types are between the caller and the target.
export type Target = (...args: never[]) => unknown;

/** The args of a target whose type is known: its parameters; anything for an untyped target. */
export type TargetArgs<T extends Target> = Target extends T ? readonly unknown[] : Readonly<Parameters<T>>;

interface BaseProcessOptions extends LaunchOptions {
  /** Default `Process-N` (`ClassName-N` for a subclass). */
  name?: string;
  /** Default: the creating process's own daemon flag. */
  daemon?: boolean;
}

export type ProcessOptions<T extends Target = Target> = BaseProcessOptions &
  (
    | {
        /** A named function exported from a module (or registered with registerTarget). */
        target?: T;
        args?: TargetArgs<T>;
        kwargs?: undefined;
      }
    | {
        target?: T;
        /** The first arguments; `kwargs` comes after them. */
        args?: readonly unknown[];
        /** Passed to the target as one extra, last argument. */
        kwargs: Record<string, unknown>;
      }
  );

/** What this thread is in the process tree: set up by spawn/child.ts in a child. */
interface Runtime {
  current: Process | null;
  parent: ParentProcess | null;
  /** Python's `_identity`: the parent's identity plus this process's index. */
  identity: number[];
  counter: number;
  bootstrapping: boolean;
}

const runtime = shared<Runtime>("process.runtime", () => ({
  current: null,
  parent: null,
  identity: [],
  counter: 0,
  bootstrapping: false,
}));

const processesByChild = shared("process.byChild", () => new WeakMap<ChildHandle, Process>());

const BOOTSTRAP_ERROR =
  "An attempt has been made to start a new process before the current process has finished its bootstrapping " +
  "phase. This probably means that a module imported by a child process starts processes when it is imported, " +
  "because the code that starts them is not guarded. Put it under the main-module guard:\n\n" +
  "    if (isMain(import.meta)) {   // isMain(module) in CommonJS\n        ...\n    }\n";

/** Marks classes that only bind a start method (ctx.Process): their names do not show in process names. */
export const contextBound = Symbol("multiproc.contextBound");

const selfToken = Symbol("multiproc.self");

/**
 * Internal: the exit code once the child has exited, without keeping this
 * process alive meanwhile (`exited` holds it while awaited). A pool watches
 * its workers this way: an idle pool must not keep a program running.
 */
export const exitedUnheld = Symbol("multiproc.exitedUnheld");

interface SelfInit {
  [selfToken]: true;
  target?: Target;
  args?: readonly unknown[];
  kwargs?: Record<string, unknown>;
  name: string;
  daemon: boolean;
  authkey: Buffer;
  ident: number;
}

export class Process<T extends Target = Target> {
  #target: Target | undefined;
  #args: readonly unknown[];
  #kwargs: Record<string, unknown> | undefined;
  #name: string;
  #daemon: boolean;
  #authkey: Buffer;
  #identity: number[] = [];
  #child: ChildHandle | null = null;
  /** The process this object describes is the one running this code. */
  #self: { ident: number } | null = null;
  #closed = false;
  #launch: LaunchOptions = {};

  constructor(options: ProcessOptions<T> = {}) {
    const init = options as ProcessOptions<T> & Partial<SelfInit>;
    if (init?.[selfToken]) {
      this.#self = { ident: init.ident! };
      this.#target = init.target;
      this.#args = init.args ?? [];
      this.#kwargs = init.kwargs;
      this.#name = init.name!;
      this.#daemon = init.daemon!;
      this.#authkey = init.authkey!;
      return;
    }
    if (options === null || typeof options !== "object") throw new TypeError("new Process(options): options must be an object");
    const { target, args = [], kwargs, name, daemon } = options as ProcessOptions;
    if (target !== undefined && target !== null && typeof target !== "function") throw new TypeError("target must be a function");
    if (!Array.isArray(args)) throw new TypeError("args must be an array");
    if (kwargs !== undefined && (kwargs === null || typeof kwargs !== "object")) throw new TypeError("kwargs must be an object");
    checkBoolean(daemon, "daemon");
    this.#target = target ?? undefined;
    this.#args = [...args];
    this.#kwargs = kwargs;
    this.#launch = checkLaunchOptions(options);
    this.#identity = [...runtime.identity, ++runtime.counter];
    this.#name = name === undefined ? `${displayClassName(new.target)}-${this.#identity.join(":")}` : checkName(name);
    const creator = currentProcess();
    this.#daemon = daemon ?? creator.daemon;
    this.#authkey = creator.authkey;
  }

  /** Start the child. Synchronous: `pid` is set when it returns. */
  start(): void {
    this.#checkNotClosed();
    if (this.#child || this.#self) throw new ProcessError("cannot start a process twice");
    if (runtime.bootstrapping) throw new ProcessError(BOOTSTRAP_ERROR);
    if (currentProcess().daemon) throw new ProcessError("daemonic processes are not allowed to have children");
    const startMethod = startMethodOf(this.constructor);
    const cls = this.constructor as typeof Process;
    const subclass = displayClassName(cls) !== "Process";
    // Checked first so the error names the role ("target work() is not exported ...").
    if (this.#launch.cwd !== undefined) checkCwd(this.#launch.cwd);
    if (subclass) locateFunction(cls, "Process subclass");
    if (this.#target) locateFunction(this.#target, "target");
    const body = dumps(
      {
        cls: subclass ? cls : undefined,
        target: this.#target,
        args: this.#args,
        kwargs: this.#kwargs,
        this: { ...this },
      },
      { root: "", acceptHandles: startMethod === "spawn" },
    );
    const header: ChildHeader = {
      name: this.#name,
      daemon: this.#daemon,
      authkey: this.#authkey,
      identity: this.#identity,
      parent: { pid: process.pid, name: currentProcess().name },
      startMethod,
      handleCount: body.handles.length,
      silenceTests: usesNodeTest(),
    };
    this.#child =
      startMethod === "thread"
        ? startThreadChild(header, body.data, this.#launch)
        : startSpawnChild(header, body.data, body.handles, this.#launch);
    processesByChild.set(this.#child, this);
    track(this.#child);
    // Shared objects among the arguments are re-opened by the child through this process: keep them until it
    // exits, then take back what it never took over (a child killed before it decoded its arguments).
    const references = body.references;
    if (references.length > 0) {
      void this.#child.exited.then(() => {
        body.release();
        references.splice(0);
      });
    }
    // The parent keeps no reference to what only the child needs (bpo-30775).
    this.#target = undefined;
    this.#args = [];
    this.#kwargs = undefined;
  }

  /** The child's work: calls the target. Runs in the current process; a subclass overrides it. */
  run(): unknown {
    if (!this.#target) return undefined;
    const args = this.#kwargs === undefined ? this.#args : [...this.#args, this.#kwargs];
    return (this.#target as (...a: unknown[]) => unknown)(...args);
  }

  /**
   * Wait until the child exits, or `timeout` ms have passed (then it resolves
   * all the same: check `exitCode` or `isAlive()`, as in Python).
   */
  async join(wait?: Wait): Promise<void> {
    this.#checkNotClosed();
    if (this.#self) throw new ProcessError("can only join a child process");
    const child = this.#child;
    if (!child) throw new ProcessError("can only join a started process");
    const { timeout, signal } = parseWait(wait);
    if (child.poll() !== null) return;
    const release = child.hold();
    try {
      await settleWithin(child.exited, timeout, signal);
    } finally {
      release();
    }
  }

  /** True from start() until the child has exited (and been reaped). */
  isAlive(): boolean {
    this.#checkNotClosed();
    if (this.#self) return true;
    return this.#child !== null && this.#child.poll() === null;
  }

  /** Send SIGTERM (a thread child is stopped and reports -15). */
  terminate(): void {
    this.#started("terminate").terminate();
  }

  /** Send SIGKILL (a thread child is stopped and reports -9). */
  kill(): void {
    this.#started("kill").kill();
  }

  /** Release the process object; only allowed once the child has exited. */
  close(): void {
    if (this.#closed) return;
    if (this.#child && this.#child.poll() === null) {
      throw new ProcessError("Cannot close a process while it is still running. You should first call join() or terminate().");
    }
    this.#child = null;
    this.#closed = true;
  }

  get name(): string {
    return this.#name;
  }

  set name(value: string) {
    this.#name = checkName(value);
  }

  get daemon(): boolean {
    return this.#daemon;
  }

  set daemon(value: boolean) {
    if (this.#child || this.#self) throw new ProcessError("process has already started");
    checkBoolean(value, "daemon");
    this.#daemon = value;
  }

  get authkey(): Buffer {
    return this.#authkey;
  }

  set authkey(value: Uint8Array) {
    if (!(value instanceof Uint8Array)) throw new TypeError("authkey must be a Buffer or Uint8Array");
    this.#authkey = Buffer.from(value);
  }

  /** OS process id: the child's for spawn, this process's for thread children. */
  get pid(): number | undefined {
    this.#checkNotClosed();
    if (this.#self) return process.pid;
    return this.#child?.pid;
  }

  /** The pid for spawn children, the thread id for thread children. */
  get ident(): number | undefined {
    this.#checkNotClosed();
    if (this.#self) return this.#self.ident;
    return this.#child?.ident;
  }

  /** null while running (or before start); 0 ok; 1 uncaught error; n for process.exit(n); -N killed by signal N. */
  get exitCode(): number | null {
    this.#checkNotClosed();
    if (this.#self || !this.#child) return null;
    return this.#child.poll();
  }

  /** The child's standard output when started with `stdio: "pipe"`, else null. Read it to its end: the child blocks when the pipe is full. */
  get stdout(): Readable | null {
    this.#checkNotClosed();
    return this.#child?.stdout ?? null;
  }

  /** The child's standard error when started with `stdio: "pipe"`, else null. */
  get stderr(): Readable | null {
    this.#checkNotClosed();
    return this.#child?.stderr ?? null;
  }

  /** Resolves with the exit code when the child has exited (Python's `sentinel`, as a Promise). */
  get exited(): Promise<number> {
    this.#checkNotClosed();
    if (!this.#child) throw new ProcessError(this.#self ? "a process cannot wait for itself" : "process not started");
    return heldWhileAwaited(this.#child.exited, this.#child);
  }

  [exitedUnheld](): Promise<number> {
    return this.#started("watch").exited;
  }

  toString(): string {
    return this.#describe();
  }

  [inspect.custom](): string {
    return this.#describe();
  }

  #describe(): string {
    const cls = displayClassName(this.constructor);
    if (this.#closed) return `<${cls} name='${this.#name}' closed>`;
    let status: string;
    if (this.#self) status = "started";
    else if (!this.#child) status = "initial";
    else {
      const code = this.#child.poll();
      status = code === null ? "started" : code < 0 ? `stopped[${signalName(-code)}]` : `stopped exitcode=${code}`;
    }
    const pid = this.#self ? process.pid : this.#child?.pid;
    const parent = this.#self ? (runtime.parent?.pid ?? "None") : process.pid;
    return `<${cls} name='${this.#name}'${pid !== undefined ? ` pid=${pid}` : ""} parent=${parent} ${status}${this.#daemon ? " daemon" : ""}>`;
  }

  #checkNotClosed(): void {
    if (this.#closed) throw new ProcessError("process object is closed");
  }

  #started(action: string): ChildHandle {
    this.#checkNotClosed();
    if (this.#self) throw new ProcessError(`a process cannot ${action} itself through its Process object; use process.exit() or process.kill()`);
    if (!this.#child) throw new ProcessError(`cannot ${action} a process that was never started`);
    return this.#child;
  }
}

function checkName(name: unknown): string {
  if (typeof name !== "string") throw new TypeError("name must be a string");
  return name;
}

/** A signal's name (SIGKILL), or its number when the OS has no name for it. */
export function signalName(signo: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signo) return name;
  return String(signo);
}

const boundClasses = new Map<StartMethod, typeof Process>();

/** Process bound to one start method (ctx.Process, and a pool's workers). */
export function boundProcess(method: StartMethod): typeof Process {
  let bound = boundClasses.get(method);
  if (!bound) {
    bound = class extends Process {};
    Object.defineProperty(bound, "name", { value: "Process" });
    Object.defineProperty(bound, boundMethod, { value: method });
    Object.defineProperty(bound, contextBound, { value: true });
    boundClasses.set(method, bound);
  }
  return bound;
}

/** The class name shown in process names: the nearest class that is not just a context binding. */
function displayClassName(cls: unknown): string {
  let current = cls as (abstract new (...args: never[]) => unknown) | null;
  while (current && Object.prototype.hasOwnProperty.call(current, contextBound)) {
    current = Object.getPrototypeOf(current) as typeof current;
  }
  return current?.name || "Process";
}

/** Build the process object that describes the running process itself (spawn/child.ts, and MainProcess). */
export function selfProcess(cls: typeof Process, init: Omit<SelfInit, typeof selfToken>): Process {
  return Reflect.construct(Process, [{ ...init, [selfToken]: true }], cls) as Process;
}

/** Set by spawn/child.ts while the child imports the modules its target needs. */
export function setBootstrapping(value: boolean): void {
  runtime.bootstrapping = value;
}

/** Import what `work` imports as part of the bootstrapping phase (a pool worker loading a task's module): no starts meanwhile. */
export async function whileBootstrapping<T>(work: () => Promise<T>): Promise<T> {
  const before = runtime.bootstrapping;
  runtime.bootstrapping = true;
  try {
    return await work();
  } finally {
    runtime.bootstrapping = before;
  }
}

export function setCurrentProcess(current: Process, parent: ParentProcess, identity: number[]): void {
  runtime.current = current;
  runtime.parent = parent;
  runtime.identity = identity;
  runtime.counter = 0;
}

/** The Process object of the process (or thread child) running this code. */
export function currentProcess(): Process {
  runtime.current ??= selfProcess(Process, {
    name: "MainProcess",
    daemon: false,
    authkey: builtin("node:crypto").randomBytes(32),
    ident: process.pid,
  });
  return runtime.current;
}

/** The parent of this process, or null in the main process. */
export function parentProcess(): ParentProcess | null {
  return runtime.parent;
}

/** Children started by this process that have not yet been seen to exit (finished ones are reaped). */
export function activeChildren(): Process[] {
  return liveProcesses().filter((p) => p.isAlive());
}

function liveProcesses(): Process[] {
  const found: Process[] = [];
  for (const child of liveChildren()) {
    const proc = processesByChild.get(child);
    if (proc) found.push(proc);
  }
  return found;
}

/** Number of CPUs this process may use. */
export function cpuCount(): number {
  return availableParallelism();
}

/**
 * The `if __name__ == "__main__"` guard: true only in the process that was
 * started with this file (never in a child that imports it to find a target).
 */
export function isMain(meta: ModuleHandle): boolean {
  if (runtime.parent !== null || mainUrl() === undefined) return false;
  return moduleUrlOf(meta) === mainUrl();
}

let cachedMainUrl: string | undefined | null = null;

function mainUrl(): string | undefined {
  if (cachedMainUrl !== null) return cachedMainUrl;
  const script = process.argv[1];
  cachedMainUrl = undefined;
  if (script) {
    const absolute = resolvePath(script);
    for (const candidate of [absolute, `${absolute}.js`, `${absolute}.mjs`, `${absolute}.cjs`, `${absolute}.ts`]) {
      try {
        cachedMainUrl = pathToFileURL(realpathSync(candidate)).href;
        break;
      } catch {
        // try the next way Node could have resolved the main script
      }
    }
  }
  return cachedMainUrl;
}

/** The parent as seen from a child (Python's `_ParentProcess`). */
export class ParentProcess {
  constructor(
    readonly pid: number,
    readonly name: string,
    private readonly sameProcess: boolean,
  ) {}

  get ident(): number {
    return this.pid;
  }

  isAlive(): boolean {
    if (this.sameProcess) return true;
    return process.ppid === this.pid && isRunning(this.pid);
  }

  /** Wait until the parent has died, or `timeout` ms. */
  async join(wait?: Wait): Promise<void> {
    const { timeout, signal } = parseWait(wait);
    if (!this.isAlive()) return;
    let timer: NodeJS.Timeout | undefined;
    let onDisconnect: (() => void) | undefined;
    const died = new Promise<void>((resolve) => {
      timer = setInterval(() => this.isAlive() || resolve(), 50);
      onDisconnect = () => resolve();
      process.once("disconnect", onDisconnect);
    });
    try {
      await settleWithin(died, timeout, signal);
    } finally {
      clearInterval(timer);
      process.off("disconnect", onDisconnect!);
    }
  }

  toString(): string {
    return `<ParentProcess name='${this.name}' pid=${this.pid}>`;
  }
}

