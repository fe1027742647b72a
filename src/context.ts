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
import { boundProcess, type Process } from "./process.ts";
import { checkMethod, getStartMethod, type StartMethod } from "./startMethod.ts";
import { Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore } from "./synchronize.ts";
import { RawArray, RawValue, SharedArray, Value } from "./sharedctypes.ts";
import { JoinableQueue, Queue, SimpleQueue } from "./queues.ts";
import { Pipe } from "./connection.ts";
import { Pool, type PoolOptions } from "./pool.ts";
import { SyncManager, type ManagerOptions } from "./managers.ts";

export { getAllStartMethods, getStartMethod, setStartMethod, startMethodOf, type StartMethod } from "./startMethod.ts";

/** One context per start method, made on first use. */
const contexts = shared("context.contexts", () => new Map<StartMethod, Context>());

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
    this.Process = boundProcess(method);
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
  let context = contexts.get(chosen);
  if (!context) {
    context = new Context(chosen);
    contexts.set(chosen, context);
  }
  return context;
}
