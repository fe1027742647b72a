/*
 * Start methods and contexts (Python's context.py): the one place that
 * knows how children are started. `getContext("thread")` returns an object
 * whose classes are bound to that start method (`new ctx.Process(...)`);
 * the module-level classes use the default method, which setStartMethod
 * changes (once, unless forced, as in Python).
 *
 *   - "spawn":  a new Node.js process running spawn/bootstrap.ts (default);
 *   - "thread": a worker_threads Worker running spawn/threadBootstrap.ts:
 *               same API, isolated memory, faster start, the parent's pid.
 */
import { ProcessError } from "./errors.ts";
import { shared } from "./runtime.ts";
import { Process, contextBound } from "./process.ts";
import { Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore } from "./synchronize.ts";
import { RawArray, RawValue, SharedArray, Value } from "./sharedctypes.ts";
import { JoinableQueue, Queue, SimpleQueue } from "./queues.ts";
import { Pipe } from "./connection.ts";
import { Pool, type PoolOptions } from "./pool.ts";
import { SyncManager, type ManagerOptions } from "./managers.ts";

export type StartMethod = "spawn" | "thread";

const startMethods: readonly StartMethod[] = ["spawn", "thread"];

const boundMethod = Symbol("multiproc.startMethod");

interface ContextState {
  /** Set explicitly, or fixed by first use (Python's `_actual_context`). */
  method: StartMethod | null;
  contexts: Map<StartMethod, Context>;
}

const state = shared<ContextState>("context.state", () => ({ method: null, contexts: new Map() }));

function checkMethod(method: unknown): StartMethod {
  if (!startMethods.includes(method as StartMethod)) {
    throw new ProcessError(`cannot find context for ${JSON.stringify(method)}: start methods are ${startMethods.map((m) => `"${m}"`).join(", ")}`);
  }
  return method as StartMethod;
}

/** The start methods this platform supports, the default first. */
export function getAllStartMethods(): StartMethod[] {
  return [...startMethods];
}

/** The default start method; fixes it if it was not set yet (as Python's get_start_method()). */
export function getStartMethod(): StartMethod {
  state.method ??= "spawn";
  return state.method;
}

/**
 * Change the default start method. Allowed once, before anything used the
 * default, unless `force` is true (Python's rule).
 */
export function setStartMethod(method: StartMethod, force = false): void {
  const chosen = checkMethod(method);
  if (state.method !== null && !force) throw new ProcessError("context has already been set");
  state.method = chosen;
}

/** The start method a Process class uses: its context's, or the default. */
export function startMethodOf(cls: unknown): StartMethod {
  let current = cls as { [boundMethod]?: StartMethod } | null;
  while (current) {
    if (Object.prototype.hasOwnProperty.call(current, boundMethod)) return current[boundMethod]!;
    current = Object.getPrototypeOf(current) as typeof current;
  }
  return getStartMethod();
}

/** Classes and functions bound to one start method. Later capabilities add their factories here. */
export class Context {
  readonly Process: typeof Process;
  /** A Pool whose workers use this context's start method (unless its options name another). */
  readonly Pool: typeof Pool;
  // Shared objects work the same whatever the start method; the context offers them as Python's does.
  readonly Lock = Lock;
  readonly RLock = RLock;
  readonly Semaphore = Semaphore;
  readonly BoundedSemaphore = BoundedSemaphore;
  readonly Event = Event;
  readonly Condition = Condition;
  readonly Barrier = Barrier;
  readonly Value = Value;
  readonly RawValue = RawValue;
  readonly SharedArray = SharedArray;
  /** Python's ctx.Array. */
  readonly Array = SharedArray;
  readonly RawArray = RawArray;
  readonly Queue = Queue;
  readonly SimpleQueue = SimpleQueue;
  readonly JoinableQueue = JoinableQueue;
  readonly Pipe = Pipe;

  constructor(private readonly method: StartMethod) {
    const bound = class extends Process {};
    Object.defineProperty(bound, "name", { value: "Process" });
    Object.defineProperty(bound, boundMethod, { value: method });
    Object.defineProperty(bound, contextBound, { value: true });
    this.Process = bound;
    const context = this;
    this.Pool = class extends Pool {
      constructor(options: PoolOptions | number = {}) {
        super(typeof options === "number" ? { processes: options, context } : { context, ...options });
      }
    };
    Object.defineProperty(this.Pool, "name", { value: "Pool" });
  }

  getStartMethod(): StartMethod {
    return this.method;
  }

  /** A started SyncManager whose server runs with this context's start method. */
  Manager(options: Omit<ManagerOptions, "context"> = {}): Promise<SyncManager> {
    return new SyncManager({ ...options, context: this }).start();
  }

  /** Python's ctx.get_context(): a context is its own context. */
  getContext(method?: StartMethod): Context {
    return method === undefined ? this : getContext(method);
  }

  setStartMethod(): never {
    throw new ProcessError("cannot set start method of concrete context");
  }
}

/** The context for `method` (default: the default start method). */
export function getContext(method?: StartMethod): Context {
  const chosen = method === undefined ? getStartMethod() : checkMethod(method);
  let context = state.contexts.get(chosen);
  if (!context) {
    context = new Context(chosen);
    state.contexts.set(chosen, context);
  }
  return context;
}
