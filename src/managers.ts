/*
 * Managers (Python's managers.py): a server process that owns objects —
 * dict, list, Namespace, Queue, Lock, Value, Pool, or your own registered
 * types — and proxies that call into them from any process, on this
 * machine or another one.
 *
 *   - BaseManager: `register(typeid, factory, options)`, start() (a server
 *     process), connect() (to a running server), getServer().serveForever()
 *     (serve from this process), shutdown().
 *   - Server: a Listener with an authkey (handshakes run concurrently and
 *     time out, and nothing is decoded before a peer is authenticated),
 *     then one read loop per client connection; each request is answered
 *     when it is done, so calls that wait never hold up others.
 *   - SyncManager / Manager(): the standard types (referents.ts).
 *
 * What an authenticated peer can do: create objects of the registered
 * types, call the methods those types expose (never one whose name starts
 * with "_"), send values that make the server import the modules they name
 * (functions and registered classes travel by module reference, as pickle
 * does), and shut the server down. Give the authkey only to whom you would
 * let run those.
 *
 * Talks to: managers/proxy.ts (client side), managers/protocol.ts (wire),
 * managers/referents.ts (standard types), listener.ts, process.ts, pool.ts.
 */
import { NOTHING, Pipe, receiveNow, type Connection } from "./connection.ts";
import { ProcessError, TimeoutError } from "./errors.ts";
import { registerTarget } from "./functionRefs.ts";
import { Client, Listener, type Address, type BoundAddress } from "./listener.ts";
import { Pool, type PoolOptions } from "./pool.ts";
import { Process, currentProcess, parentProcess } from "./process.ts";
import { coresToSpare } from "./procfs.ts";
import { builtin, libraryOwn } from "./runtime.ts";
import type { ElementOf, Typecode } from "./sharedctypes.ts";
import { handled, type Wait } from "./waiting.ts";
import { MAX_MESSAGE_SIZE, Outcome, pack, unpack, type Reply, type Request, type TokenState } from "./managers/protocol.ts";
import { BaseProxy, closeSession, describeAddress, makeProxy, makeProxyType, Session, setProxyType, type Aliases, type ProxyClass } from "./managers/proxy.ts";
import * as referents from "./managers/referents.ts";

export { BaseProxy, callMethod } from "./managers/proxy.ts";

type Factory = (...args: never[]) => unknown;

export interface RegisterOptions {
  /** The methods proxies may call; default: the referent's public methods (never a name starting with "_"). */
  exposed?: readonly string[];
  /** Methods whose result stays in the manager and comes back as a proxy of this typeid (Python's method_to_typeid). */
  methodToTypeid?: Readonly<Record<string, string>>;
  /** The proxy class for this typeid (a subclass of BaseProxy); default: one made from the exposed methods. */
  proxytype?: ProxyClass;
  /** Add the async method `typeid(...args)` to manager instances; default true. */
  create?: boolean;
}

/** A registration as it travels to the server process (factories by module reference, as Python pickles them). */
interface Registration {
  typeid: string;
  factory?: Factory;
  exposed?: string[];
  methodToTypeid?: Record<string, string>;
  /** One of SyncManager's types: the server makes it from its own table. */
  standard?: boolean;
}

export interface ManagerOptions {
  /** Where the server listens: `[host, port]` (port 0: any free one) or a Unix socket path. Default: a private abstract Unix socket. */
  address?: Address;
  /** The key clients must prove they hold; default: the current process's authkey. */
  authkey?: Uint8Array;
  /** Start the server with this context's Process (`getContext("thread")`...). */
  context?: { readonly Process: typeof Process };
  /** How long shutdown() waits for the server to exit before it terminates it (ms); default 1000. */
  shutdownTimeout?: number;
  /** How long a connecting peer has to authenticate (ms); default 5000. */
  handshakeTimeout?: number;
  /** The largest message the server accepts on a socket (bytes); a larger one drops that client. Default 256 MiB. (Local clients, already authenticated, talk over a shared-memory Pipe, which has no cap.) */
  maxMessageSize?: number;
}

const registries = new WeakMap<object, Map<string, Registration>>();

/** A manager class's registrations, its ancestors' first. */
function registryOf(cls: object): Map<string, Registration> {
  const chain: Array<Map<string, Registration>> = [];
  for (let at: object | null = cls; at && at !== Function.prototype; at = Object.getPrototypeOf(at) as object | null) {
    const own = registries.get(at);
    if (own) chain.unshift(own);
  }
  return new Map(chain.flatMap((map) => [...map]));
}

function isClass(fn: Factory): boolean {
  return Function.prototype.toString.call(fn).startsWith("class");
}

/** Python's public_methods: every callable reachable on the object whose name does not start with "_". */
function publicMethods(object: unknown): string[] {
  const names = new Set<string>();
  for (let at = object as object | null; at && at !== Object.prototype; at = Object.getPrototypeOf(at) as object | null) {
    for (const name of Object.getOwnPropertyNames(at)) {
      if (name === "constructor" || name.startsWith("_")) continue;
      const descriptor = Object.getOwnPropertyDescriptor(at, name);
      if (descriptor && typeof descriptor.value === "function") names.add(name);
    }
  }
  return [...names];
}

function checkExposed(typeid: string, exposed: readonly string[]): string[] {
  for (const name of exposed) {
    if (typeof name !== "string" || name.startsWith("_")) throw new TypeError(`register(${JSON.stringify(typeid)}): exposed method ${JSON.stringify(name)} cannot be exposed (names starting with "_" never are)`);
  }
  return [...exposed];
}

/** The key of this process (Python: current_process().authkey). */
function defaultAuthkey(): Buffer {
  return Buffer.from(currentProcess().authkey);
}

const create = Symbol("multiproc.managerCreate");

type State = "initial" | "started" | "connected" | "shutdown";

/** Managers this process started and has not shut down: shut down when its work is done (Python's Finalize). */
const started = new Set<BaseManager>();
let exitHooked = false;

function shutDownAtExit(manager: BaseManager): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on("beforeExit", () => {
      for (const each of started) void each.shutdown();
    });
  }
  started.add(manager);
}

/**
 * Python's BaseManager. Subclass it and `register` types, then `start()` a
 * server process (or `connect()` to one, or `getServer().serveForever()`).
 */
export class BaseManager implements AsyncDisposable {
  #address: Address | undefined;
  readonly #authkey: Buffer;
  readonly #options: ManagerOptions;
  #state: State = "initial";
  #process: Process | undefined;

  constructor(options: ManagerOptions = {}) {
    this.#options = options;
    this.#address = options.address;
    if (options.authkey !== undefined && !(options.authkey instanceof Uint8Array)) throw new TypeError("authkey must be a Uint8Array (or Buffer)");
    this.#authkey = options.authkey === undefined ? defaultAuthkey() : Buffer.from(options.authkey);
  }

  /**
   * Register a type: `factory(...args)` (or `new factory(...args)` for a
   * class) makes the referent in the server; the factory must be a named
   * export so the server process can find it. Without a factory, the type
   * can only be used by a client that connect()s to a server that has it.
   */
  static register(typeid: string, factory?: Factory | null, options: RegisterOptions = {}): void {
    if (typeof typeid !== "string" || !/^[A-Za-z_$][\w$]*$/.test(typeid)) throw new TypeError(`typeid must be an identifier, got ${String(typeid)}`);
    if (factory !== undefined && factory !== null && typeof factory !== "function") throw new TypeError(`register(${JSON.stringify(typeid)}): the factory must be a function or a class`);
    let own = registries.get(this);
    if (!own) {
      own = new Map();
      registries.set(this, own);
    }
    const registration: Registration = { typeid };
    if (factory) registration.factory = factory;
    if (options.exposed) registration.exposed = checkExposed(typeid, options.exposed);
    if (options.methodToTypeid) registration.methodToTypeid = { ...options.methodToTypeid };
    own.set(typeid, registration);
    if (options.proxytype) setProxyType(typeid, options.proxytype);
    if (options.create !== false) {
      Object.defineProperty(this.prototype, typeid, {
        value(this: BaseManager, ...args: unknown[]) {
          return this[create](typeid, args);
        },
        writable: true,
        configurable: true,
      });
    }
  }

  /** `[host, port]` or the Unix path; known once started (port 0 resolved), or as given. */
  get address(): Address | undefined {
    return this.#address;
  }

  get authkey(): Buffer {
    return this.#authkey;
  }

  /** The server process (after start()). */
  get process(): Process | undefined {
    return this.#process;
  }

  /** Start a server process and wait until it listens. `initializer(...initargs)` runs in it first. */
  async start(initializer?: Factory | null, initargs: unknown[] = []): Promise<this> {
    if (this.#state !== "initial") throw new ProcessError(this.#state === "shutdown" ? "a manager that was shut down cannot be started again" : `the manager is already ${this.#state}`);
    if (initializer !== undefined && initializer !== null && typeof initializer !== "function") throw new TypeError("initializer must be callable");
    const address = this.#address ?? `\0multiproc-manager-${builtin("node:crypto").randomBytes(8).toString("hex")}`;
    const ProcessClass = this.#options.context?.Process ?? Process;
    const [reader, writer] = Pipe<ServerReport>(false);
    const server = new ProcessClass({
      target: runManagerServer,
      args: [[...registryOf(this.constructor).values()], address, this.#authkey, this.#serverOptions(), writer, initializer ?? null, initargs],
      name: `${this.constructor.name}-${currentProcess().name}`,
      // Not a daemon, as in Python, so a managed Pool can have workers; it ends when this process does (see runManagerServer).
      daemon: false,
    });
    try {
      server.start();
    } catch (err) {
      reader.close();
      throw err;
    } finally {
      writer.close();
    }
    this.#state = "started";
    this.#process = server;
    shutDownAtExit(this);
    let report: ServerReport;
    try {
      report = await reader.recv();
    } catch {
      await server.join(this.#shutdownTimeout());
      throw new ProcessError(`the manager process exited (exit code ${String(server.exitCode)}) before it was ready`);
    } finally {
      reader.close();
    }
    if ("error" in report) {
      this.#state = "shutdown";
      started.delete(this);
      await server.join(this.#shutdownTimeout());
      throw report.error;
    }
    this.#address = report.address;
    return this;
  }

  /** Attach to a running server at `address` (checks the authkey now: AuthenticationError if wrong). */
  async connect(): Promise<this> {
    if (this.#address === undefined) throw new TypeError("connect() needs the address of a running manager: new Manager({ address, authkey })");
    const connection = await Client(this.#address, { authkey: this.#authkey });
    connection.close();
    this.#state = "connected";
    return this;
  }

  /** A server for this manager's types that serves from the current process: `await manager.getServer().serveForever()`. */
  getServer(): Server {
    if (this.#state !== "initial") throw new ProcessError(`the manager is already ${this.#state}`);
    const address = this.#address ?? ["127.0.0.1", 0];
    const server = new Server([...registryOf(this.constructor).values()], address, this.#authkey, this.#serverOptions());
    this.#address = server.address;
    return server;
  }

  /**
   * Stop the server process this manager started: ask it to shut down,
   * wait `shutdownTimeout` ms, then terminate it (and kill it after as long
   * again). Proxies of its objects then reject their calls. Idempotent.
   */
  async shutdown(): Promise<void> {
    const server = this.#process;
    const state = this.#state;
    this.#state = "shutdown";
    started.delete(this);
    const address = this.#address;
    if (address !== undefined) closeSession(address, this.#authkey);
    if (state !== "started" || !server || server.exitCode !== null) return;
    try {
      const admin = await Client<Request | string, Reply | string>(address!, { authkey: this.#authkey });
      admin.send(pack([0, "shutdown"]));
      await admin.recv({ timeout: this.#shutdownTimeout() }).catch(() => undefined);
      admin.close();
    } catch {
      // It is gone already, or cannot answer: the escalation below ends it.
    }
    await server.join(this.#shutdownTimeout());
    if (server.exitCode === null) {
      server.terminate();
      await server.join(this.#shutdownTimeout());
    }
    if (server.exitCode === null) {
      server.kill();
      await server.join();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  toString(): string {
    return `<${this.constructor.name} ${this.#state}${this.#address === undefined ? "" : ` at ${describeAddress(this.#address)}`}>`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /** @internal Make a referent of `typeid` in the server and return its proxy. */
  [create](typeid: string, args: unknown[]): Promise<BaseProxy> {
    return handled(this.#create(typeid, args));
  }

  async #create(typeid: string, args: unknown[]): Promise<BaseProxy> {
    if (this.#state !== "started" && this.#state !== "connected") {
      throw new ProcessError(this.#state === "shutdown" ? `the manager at ${describeAddress(this.#address!)} was shut down` : "the manager is not started: await manager.start() (or connect()) first");
    }
    const address = this.#address!;
    const [, outcome, value] = await Session.of(address, this.#authkey).call(["create", typeid, args]);
    if (outcome === Outcome.Error) throw value;
    return makeProxy({ ...(value as TokenState), address, authkey: this.#authkey });
  }

  #shutdownTimeout(): number {
    return this.#options.shutdownTimeout ?? 1000;
  }

  #serverOptions(): ServerOptions {
    const { handshakeTimeout, maxMessageSize } = this.#options;
    return { handshakeTimeout, maxMessageSize };
  }
}

type ServerReport = { address: BoundAddress } | { error: unknown };

interface ServerOptions {
  handshakeTimeout?: number | undefined;
  maxMessageSize?: number | undefined;
}

/** The server process's target: serve until shut down or until the process that started it is gone. */
export async function runManagerServer(
  registrations: Registration[],
  address: Address,
  authkey: Uint8Array,
  options: ServerOptions,
  report: Connection<ServerReport>,
  initializer: Factory | null,
  initargs: unknown[],
): Promise<void> {
  let server: Server;
  try {
    if (initializer) await (initializer as (...args: unknown[]) => unknown)(...initargs);
    server = new Server(registrations, address, authkey, options);
  } catch (error) {
    report.send({ error });
    report.close();
    return;
  }
  report.send({ address: server.address });
  report.close();
  // Ctrl-C reaches the whole process group; the process that started us decides when we stop (bpo-36368).
  if (builtin("node:worker_threads").isMainThread) process.on("SIGINT", () => {});
  const stop = new AbortController();
  parentProcess()
    ?.join({ signal: stop.signal })
    .then(() => server.shutdown())
    .catch(() => {});
  await server.serveForever();
  stop.abort();
}

registerTarget(import.meta, libraryOwn(runManagerServer));

/** A client the server serves, and the caller id its calls run as (whose RLock a release may let go). */
interface Client {
  readonly connection: Connection<Reply | string, Request | string>;
  readonly caller: number;
  /** A socket, not a Pipe: a look at it costs a system call, so only its own loop watches it. */
  readonly socket: boolean;
  /** Its loop has taken a request it has not served yet, across an await: no other loop may take the next one. */
  holding: boolean;
  /** Settles once a request of this client that another loop took is decoded and served: the next waits for it. */
  decoding: Promise<void> | undefined;
}

interface Entry {
  object: unknown;
  typeid: string;
  exposed: Set<string>;
  methodToTypeid: Readonly<Record<string, string>>;
}

/** How SyncManager's types are made in the server (they never travel as factories). */
const standardFactories: Readonly<Record<string, Factory>> = {
  dict: (init?: ConstructorParameters<typeof referents.Dict>[0]) => new referents.Dict(init),
  list: (init?: Iterable<unknown>) => new referents.List(init),
  Namespace: (init?: Record<string, unknown>) => new referents.Namespace(init),
  Queue: (maxsize?: number) => new referents.Queue(maxsize),
  JoinableQueue: (maxsize?: number) => new referents.Queue(maxsize),
  Lock: () => new referents.Lock(),
  RLock: () => new referents.RLock(),
  Semaphore: (value?: number) => new referents.Semaphore(value),
  BoundedSemaphore: (value?: number) => new referents.BoundedSemaphore(value),
  Condition: () => new referents.Condition(),
  Event: () => new referents.Event(),
  Barrier: (parties: number, action?: () => unknown, timeout?: number) => new referents.Barrier(parties, action, timeout),
  Value: (typecode: Typecode, value?: unknown) => new referents.ValueHolder(typecode, value),
  Array: (typecode: Typecode, sizeOrValues: number | Iterable<unknown>) => new referents.ArrayHolder(typecode, sizeOrValues),
  Pool: (options?: PoolOptions | number) => new Pool(options),
  AsyncResult: () => {
    throw new TypeError("AsyncResult objects come from Pool.applyAsync/mapAsync/starmapAsync");
  },
};

/**
 * Serves a manager's registered types from the current process (Python's
 * managers.Server). Bound in the constructor, so `address` is known at once.
 */
export class Server {
  readonly address: BoundAddress;
  readonly #listener: Listener;
  readonly #registry: Map<string, Registration>;
  readonly #objects = new Map<string, Entry>();
  /** Every client's connection: a socket, or the shared-memory Pipe a local client handed over. */
  readonly #clients: Client[] = [];
  #nextObject = 1;
  #nextCaller = 1;
  #closed = false;
  readonly #stopped: Promise<void>;
  #stop!: () => void;

  constructor(registrations: readonly Registration[], address: Address, authkey: Uint8Array, options: ServerOptions = {}) {
    this.#registry = new Map(registrations.map((registration) => [registration.typeid, registration]));
    this.#listener = new Listener(address, {
      authkey,
      handshakeTimeout: options.handshakeTimeout,
      maxMessageSize: options.maxMessageSize ?? MAX_MESSAGE_SIZE,
    });
    this.address = this.#listener.address;
    this.#stopped = new Promise((resolve) => (this.#stop = resolve));
  }

  /** Accept and serve clients until shutdown() (or a client's shutdown request). */
  async serveForever(): Promise<void> {
    while (!this.#closed) {
      let connection: Connection<Reply | string, Request | string>;
      try {
        connection = await this.#listener.accept<Reply, Request>();
      } catch {
        // A peer that failed its handshake (wrong key, garbage, silence) is dropped; the others go on.
        continue;
      }
      void this.#serve(connection, true);
    }
    await this.#stopped;
  }

  /** Stop listening, drop every client, and end what the referents run (a managed Pool's workers). Idempotent. */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const { connection } of this.#clients.splice(0)) connection.close();
    for (const { object } of this.#objects.values()) {
      if (object instanceof Pool) void object.terminate();
    }
    this.#objects.clear();
    this.#stop();
  }

  /**
   * Answer one client's requests in order. After each request this loop
   * watches every client awake for a moment (a client making one call after
   * another sends its next within microseconds; a sleep and a wake through
   * the event loop cost far more) and serves whichever sends first: its own,
   * or another's whose loop sleeps. With a producer and a consumer both
   * calling, the server stays awake for both. For HOT_RUN_MS at most before
   * the event loop gets a turn. A request is always served whole before the
   * next one of its client is taken (or, while it is decoded, its client is
   * marked): each client's requests are served in the order it sent them.
   */
  async #serve(connection: Connection<Reply | string, Request | string>, socket = false): Promise<void> {
    const client: Client = { connection, caller: this.#nextCaller++, socket, holding: false, decoding: undefined };
    this.#clients.push(client);
    let hotSince = performance.now();
    try {
      while (!this.#closed) {
        if (performance.now() - hotSince >= HOT_RUN_MS) {
          await turn();
          hotSince = performance.now();
        }
        let from = client;
        let next = this.#takeHot(client);
        if (next !== NOTHING) {
          from = this.#takenFrom;
        } else {
          // Asleep in a poll, this loop holds no request of its client: a loop that is awake may serve them meanwhile.
          await connection.poll(null);
          while (client.decoding) await client.decoding;
          hotSince = performance.now();
          next = receiveNow(connection);
          // Nothing there: another loop took it (look again), or the stream ended (recv says so), or a request just came.
          if (next === NOTHING && !connection.pollSync(0)) continue;
        }
        if (next === NOTHING) {
          client.holding = true;
          try {
            next = await connection.recv();
          } finally {
            client.holding = false;
          }
        }
        const release = next instanceof Promise ? this.#holdOrder(from) : undefined;
        try {
          if (this.#serveRequest(from, next instanceof Promise ? await next : next, client)) await null;
        } finally {
          release?.();
        }
      }
    } catch {
      // The client left, or spoke something else: only its connection ends.
    } finally {
      const at = this.#clients.indexOf(client);
      if (at >= 0) this.#clients.splice(at, 1);
      connection.close();
    }
  }

  /** While a request taken from `from` is decoded (it names modules to import), its loop takes nothing: returns what lets it go on. */
  #holdOrder(from: Client): () => void {
    let release!: () => void;
    from.decoding = new Promise<void>((resolve) => (release = resolve));
    return () => {
      from.decoding = undefined;
      release();
    };
  }

  /**
   * Serve `from`'s request; true when its reply comes later (a method that
   * returns a Promise, such as a Lock's acquire or a Queue's put, replies
   * from a microtask: let those that settled already reply before the next
   * spin, or their clients wait it out). A request that is not one ends that
   * client's connection.
   */
  #serveRequest(from: Client, received: Request | string, own: Client): boolean {
    let request: Request;
    try {
      request = unpack(received);
      if (!Array.isArray(request) || typeof request[0] !== "number") throw new TypeError("not a manager request");
    } catch (err) {
      if (from === own) throw err;
      from.connection.close();
      return false;
    }
    return this.#handle(from.connection, from.caller, request);
  }

  /** Which client #takeHot() took its request from. */
  #takenFrom!: Client;

  /**
   * The next request of `mine` or of a Pipe client whose loop sleeps,
   * watched for awake for HOT_SPIN_MS (`mine` first); NOTHING when none
   * came, or the machine has no core to spare for the watch. Sets
   * #takenFrom.
   */
  #takeHot(mine: Client): Request | string | Promise<Request | string> | typeof NOTHING {
    this.#takenFrom = mine;
    if (!coresToSpare()) return NOTHING;
    const until = performance.now() + HOT_SPIN_MS;
    do {
      if (!mine.decoding) {
        const next = receiveNow(mine.connection);
        if (next !== NOTHING) return next;
      }
      for (let i = 0; i < this.#clients.length; i++) {
        const other = this.#clients[i]!;
        if (other === mine || other.socket || other.holding || other.decoding) continue;
        let theirs: Request | string | Promise<Request | string> | typeof NOTHING;
        try {
          theirs = receiveNow(other.connection);
        } catch {
          // What that client sent cannot be read: its own loop finds its connection closed and ends it.
          other.connection.close();
          continue;
        }
        if (theirs !== NOTHING) {
          this.#takenFrom = other;
          return theirs;
        }
      }
    } while (performance.now() < until);
    return NOTHING;
  }

  /** Serve one request; true when its reply comes later (the method returned a Promise). */
  #handle(connection: Connection<Reply | string, Request | string>, caller: number, request: Request): boolean {
    const id = request[0];
    let result: unknown;
    try {
      switch (request[1]) {
        case "call":
          result = this.#call(caller, request[2], request[3], request[4]);
          break;
        case "create":
          result = this.#create(request[2], request[3]);
          break;
        case "pipe":
          if (typeof request[2]?.recv !== "function") throw new TypeError("a pipe request carries a Pipe end");
          void this.#serve(request[2] as unknown as Connection<Reply | string, Request | string>);
          break;
        case "shutdown":
          this.#reply(connection, id, Outcome.Return, null);
          setImmediate(() => this.shutdown());
          return false;
        default:
          throw new TypeError(`unknown manager request ${JSON.stringify(request[1])}`);
      }
    } catch (err) {
      this.#reply(connection, id, Outcome.Error, err);
      return false;
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => this.#answer(connection, id, value),
        (err: unknown) => this.#reply(connection, id, Outcome.Error, err),
      );
      return true;
    }
    this.#answer(connection, id, result);
    return false;
  }

  #answer(connection: Connection<Reply | string, Request | string>, id: number, value: unknown): void {
    if (value instanceof Made) this.#reply(connection, id, Outcome.Proxy, this.#keep(value.typeid, value.object));
    else this.#reply(connection, id, Outcome.Return, value);
  }

  #reply(connection: Connection<Reply | string, Request | string>, id: number, outcome: Reply[1], value: unknown): void {
    if (connection.closed) return;
    try {
      connection.send(pack([id, outcome, value]));
    } catch (err) {
      try {
        connection.send([id, Outcome.Error, err]);
      } catch {
        // The client is gone: nobody waits for this reply.
      }
    }
  }

  #create(typeid: string, args: unknown[]): Made | Promise<Made> {
    const registration = this.#registry.get(typeid);
    if (!registration) throw new TypeError(`this manager has no type ${JSON.stringify(typeid)}`);
    const factory = registration.standard ? standardFactories[typeid] : registration.factory;
    if (!factory) throw new TypeError(`type ${JSON.stringify(typeid)} was registered without a factory, so it cannot be created here`);
    if (!Array.isArray(args)) throw new TypeError("create arguments must be an array");
    const call = factory as (...args: unknown[]) => unknown;
    const made = isClass(factory) ? new (factory as unknown as new (...args: unknown[]) => unknown)(...args) : call(...args);
    return kept(typeid, made);
  }

  #keep(typeid: string, object: unknown): TokenState {
    const registration = this.#registry.get(typeid);
    const exposed = registration?.exposed ?? publicMethods(object);
    const id = String(this.#nextObject++);
    this.#objects.set(id, { object, typeid, exposed: new Set(exposed), methodToTypeid: registration?.methodToTypeid ?? {} });
    return { typeid, id, exposed };
  }

  #call(caller: number, objectId: string, method: string, args: unknown[]): unknown {
    const entry = this.#objects.get(objectId);
    if (!entry) throw new ReferenceError(`the manager has no object #${String(objectId)} (it was shut down, or the id is wrong)`);
    if (typeof method !== "string" || method.startsWith("_") || !entry.exposed.has(method)) {
      throw new TypeError(`method ${JSON.stringify(method)} of ${entry.typeid} is not exposed (exposed: ${[...entry.exposed].join(", ")})`);
    }
    if (!Array.isArray(args)) throw new TypeError("call arguments must be an array");
    const fn = (entry.object as Record<string, unknown>)[method];
    if (typeof fn !== "function") throw new TypeError(`${entry.typeid}.${method} is not a method`);
    referents.setCaller(caller);
    const result: unknown = (fn as (...args: unknown[]) => unknown).apply(entry.object, args);
    const typeid = entry.methodToTypeid[method];
    return typeid === undefined ? result : kept(typeid, result);
  }
}

/** How long the server watches its clients awake after a request (ms); past it a client's next request wakes the event loop. */
const HOT_SPIN_MS = 0.05;
/**
 * How long one loop serves requests in a row before the event loop runs (sleeping clients, timers, settled
 * waits), ms. A turn of the loop costs its client a wake from sleep (hundreds of microseconds on a VM), so not
 * after every few dozen requests.
 */
const HOT_RUN_MS = 2;

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A factory's (or methodToTypeid method's) result, awaited only if it is a Promise: a thenable referent (AsyncResult) is kept as itself. */
function kept(typeid: string, made: unknown): Made | Promise<Made> {
  return made instanceof Promise ? made.then((object: unknown) => new Made(typeid, object)) : new Made(typeid, made);
}

/** A result that stays in the manager as a new referent (create, or a methodToTypeid method). */
class Made {
  constructor(
    readonly typeid: string,
    readonly object: unknown,
  ) {}
}

/* Proxies of the standard types. */

type Promised<T> = Promise<Awaited<T>>;

export interface DictProxy<K = string, V = unknown> extends BaseProxy {
  get(key: K): Promise<V | undefined>;
  get<D>(key: K, fallback: D): Promise<V | D>;
  set(key: K, value: V): Promise<void>;
  delete(key: K): Promise<boolean>;
  has(key: K): Promise<boolean>;
  keys(): Promise<K[]>;
  values(): Promise<V[]>;
  items(): Promise<Array<[K, V]>>;
  update(other: Record<string, V> | Iterable<readonly [K, V]> | Map<K, V>): Promise<void>;
  pop(key: K): Promise<V>;
  pop<D>(key: K, fallback: D): Promise<V | D>;
  popitem(): Promise<[K, V]>;
  setdefault(key: K, fallback?: V): Promise<V>;
  clear(): Promise<void>;
  size(): Promise<number>;
  /** A plain object with the same entries. */
  copy(): Promise<Record<string, V>>;
  __getitem__(key: K): Promise<V>;
  __setitem__(key: K, value: V): Promise<void>;
  __delitem__(key: K): Promise<void>;
  __contains__(key: K): Promise<boolean>;
  __len__(): Promise<number>;
}

export interface ListProxy<T = unknown> extends BaseProxy {
  get(index: number): Promise<T>;
  set(index: number, value: T): Promise<void>;
  append(value: T): Promise<void>;
  extend(values: Iterable<T>): Promise<void>;
  insert(index: number, value: T): Promise<void>;
  pop(index?: number): Promise<T>;
  remove(value: T): Promise<void>;
  index(value: T): Promise<number>;
  count(value: T): Promise<number>;
  length(): Promise<number>;
  slice(start?: number, end?: number): Promise<T[]>;
  sort(options?: { reverse?: boolean }): Promise<void>;
  reverse(): Promise<void>;
  toArray(): Promise<T[]>;
  __getitem__(index: number): Promise<T>;
  __setitem__(index: number, value: T): Promise<void>;
  __delitem__(index: number): Promise<void>;
  __len__(): Promise<number>;
}

export interface NamespaceProxy extends BaseProxy {
  get<T = unknown>(attr: string): Promise<T>;
  set(attr: string, value: unknown): Promise<void>;
  delete(attr: string): Promise<boolean>;
  toObject(): Promise<Record<string, unknown>>;
}

export interface ValueProxy<T = number> extends BaseProxy {
  get(): Promise<T>;
  set(value: T): Promise<void>;
}

export interface ArrayProxy<T = number> extends BaseProxy {
  get(index: number): Promise<T>;
  set(index: number, value: T): Promise<void>;
  length(): Promise<number>;
  toArray(): Promise<T[]>;
  __getitem__(index: number): Promise<T>;
  __setitem__(index: number, value: T): Promise<void>;
  __len__(): Promise<number>;
}

export interface QueueProxy<T = unknown> extends BaseProxy {
  put(item: T, wait?: Wait): Promise<void>;
  get(wait?: Wait): Promise<T>;
  putNowait(item: T): Promise<void>;
  getNowait(): Promise<T>;
  qsize(): Promise<number>;
  empty(): Promise<boolean>;
  full(): Promise<boolean>;
}

export interface JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): Promise<void>;
  join(): Promise<void>;
}

/** A held lock (or semaphore unit): released by `release()` or at the end of an `await using` scope. */
export interface ProxyGuard extends AsyncDisposable {
  release(): Promise<void>;
}

export interface LockProxy extends BaseProxy {
  acquire(wait?: Wait): Promise<boolean>;
  release(): Promise<void>;
  locked(): Promise<boolean>;
  /** Acquire, and release at the end of an `await using` scope. */
  hold(wait?: Wait): Promise<ProxyGuard>;
}

export type RLockProxy = LockProxy;

export interface SemaphoreProxy extends BaseProxy {
  acquire(wait?: Wait): Promise<boolean>;
  release(n?: number): Promise<void>;
  getValue(): Promise<number>;
  hold(wait?: Wait): Promise<ProxyGuard>;
}

export interface ConditionProxy extends BaseProxy {
  acquire(wait?: Wait): Promise<boolean>;
  release(): Promise<void>;
  hold(wait?: Wait): Promise<ProxyGuard>;
  /** Release the lock, wait for a notify (or `timeout` ms), take the lock back; false on timeout. */
  wait(timeout?: number | null): Promise<boolean>;
  notify(n?: number): Promise<void>;
  notifyAll(): Promise<void>;
}

export interface EventProxy extends BaseProxy {
  isSet(): Promise<boolean>;
  set(): Promise<void>;
  clear(): Promise<void>;
  wait(timeout?: number | null): Promise<boolean>;
}

export interface BarrierProxy extends BaseProxy {
  wait(timeout?: number | null): Promise<number>;
  abort(): Promise<void>;
  reset(): Promise<void>;
  readonly parties: Promise<number>;
  readonly nWaiting: Promise<number>;
  readonly broken: Promise<boolean>;
}

export interface AsyncResultProxy<T = unknown> extends BaseProxy {
  get(wait?: Wait): Promise<T>;
  wait(wait?: Wait): Promise<void>;
  ready(): Promise<boolean>;
  successful(): Promise<boolean>;
}

export interface PoolProxy extends BaseProxy {
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A): Promised<R>;
  map<T, R>(fn: (item: T) => R, items: Iterable<T>, options?: { chunksize?: number } | number): Promise<Array<Awaited<R>>>;
  starmap<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A>, options?: { chunksize?: number } | number): Promise<Array<Awaited<R>>>;
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A): Promise<AsyncResultProxy<Awaited<R>>>;
  mapAsync<T, R>(fn: (item: T) => R, items: Iterable<T>, options?: { chunksize?: number } | number): Promise<AsyncResultProxy<Array<Awaited<R>>>>;
  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A>, options?: { chunksize?: number } | number): Promise<AsyncResultProxy<Array<Awaited<R>>>>;
  close(): Promise<void>;
  join(): Promise<void>;
  terminate(): Promise<void>;
}

/** Adds `hold()` (acquire, then a guard that releases) to lock-like proxy types. */
function withHold(cls: ProxyClass): ProxyClass {
  Object.defineProperty(cls.prototype, "hold", {
    async value(this: LockProxy, wait?: Wait): Promise<ProxyGuard> {
      if (!(await this.acquire(wait))) throw new TimeoutError("the lock was not acquired in time");
      let held = true;
      const release = async () => {
        if (!held) return;
        held = false;
        await this.release();
      };
      return { release, [Symbol.asyncDispose]: release };
    },
    writable: true,
    configurable: true,
  });
  return cls;
}

interface StandardType {
  exposed: readonly string[];
  aliases?: Aliases;
  properties?: readonly string[];
  methodToTypeid?: Readonly<Record<string, string>>;
  hold?: boolean;
}

const LOCK = ["acquire", "release", "locked"];
const QUEUE = ["put", "get", "putNowait", "getNowait", "qsize", "empty", "full"];
const STANDARD_TYPES: Readonly<Record<string, StandardType>> = {
  dict: {
    exposed: ["get", "getitem", "set", "delete", "delitem", "has", "keys", "values", "items", "update", "pop", "popitem", "setdefault", "clear", "size", "copy"],
    aliases: { __getitem__: "getitem", __setitem__: "set", __delitem__: "delitem", __contains__: "has", __len__: "size" },
  },
  list: {
    exposed: ["get", "set", "delitem", "append", "extend", "insert", "pop", "remove", "index", "count", "length", "slice", "sort", "reverse", "toArray"],
    aliases: { __getitem__: "get", __setitem__: "set", __delitem__: "delitem", __len__: "length" },
  },
  Namespace: { exposed: ["get", "set", "delete", "toObject"] },
  Queue: { exposed: QUEUE },
  JoinableQueue: { exposed: [...QUEUE, "taskDone", "join"] },
  Lock: { exposed: LOCK, hold: true },
  RLock: { exposed: LOCK, hold: true },
  Semaphore: { exposed: ["acquire", "release", "getValue"], hold: true },
  BoundedSemaphore: { exposed: ["acquire", "release", "getValue"], hold: true },
  Condition: { exposed: ["acquire", "release", "wait", "notify", "notifyAll"], hold: true },
  Event: { exposed: ["isSet", "set", "clear", "wait"] },
  Barrier: { exposed: ["wait", "abort", "reset", "parties", "nWaiting", "broken"], properties: ["parties", "nWaiting", "broken"] },
  Value: { exposed: ["get", "set"] },
  Array: { exposed: ["get", "set", "length", "toArray"], aliases: { __getitem__: "get", __setitem__: "set", __len__: "length" } },
  Pool: {
    exposed: ["apply", "map", "starmap", "applyAsync", "mapAsync", "starmapAsync", "close", "join", "terminate"],
    methodToTypeid: { applyAsync: "AsyncResult", mapAsync: "AsyncResult", starmapAsync: "AsyncResult" },
  },
  AsyncResult: { exposed: ["get", "wait", "ready", "successful"] },
};

/**
 * Python's SyncManager: a BaseManager with the standard types. Each method
 * makes the object in the manager and returns its proxy.
 */
export class SyncManager extends BaseManager {
  dict<K = string, V = unknown>(init?: Record<string, V> | Iterable<readonly [K, V]> | Map<K, V>): Promise<DictProxy<K, V>> {
    return this[create]("dict", init === undefined ? [] : [init]) as Promise<DictProxy<K, V>>;
  }

  list<T = unknown>(init?: Iterable<T>): Promise<ListProxy<T>> {
    return this[create]("list", init === undefined ? [] : [[...init]]) as Promise<ListProxy<T>>;
  }

  Namespace(init?: Record<string, unknown>): Promise<NamespaceProxy> {
    return this[create]("Namespace", init === undefined ? [] : [init]) as Promise<NamespaceProxy>;
  }

  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this[create]("Queue", [maxsize]) as Promise<QueueProxy<T>>;
  }

  JoinableQueue<T = unknown>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this[create]("JoinableQueue", [maxsize]) as Promise<JoinableQueueProxy<T>>;
  }

  Lock(): Promise<LockProxy> {
    return this[create]("Lock", []) as Promise<LockProxy>;
  }

  RLock(): Promise<RLockProxy> {
    return this[create]("RLock", []) as Promise<RLockProxy>;
  }

  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this[create]("Semaphore", [value]) as Promise<SemaphoreProxy>;
  }

  BoundedSemaphore(value = 1): Promise<SemaphoreProxy> {
    return this[create]("BoundedSemaphore", [value]) as Promise<SemaphoreProxy>;
  }

  Condition(): Promise<ConditionProxy> {
    return this[create]("Condition", []) as Promise<ConditionProxy>;
  }

  Event(): Promise<EventProxy> {
    return this[create]("Event", []) as Promise<EventProxy>;
  }

  /** `action` (an exported function) runs in the manager when the barrier releases. */
  Barrier(parties: number, action?: (() => unknown) | null, timeout?: number | null): Promise<BarrierProxy> {
    return this[create]("Barrier", [parties, action ?? null, timeout ?? null]) as Promise<BarrierProxy>;
  }

  Value<C extends Typecode>(typecode: C, value?: ElementOf<C>): Promise<ValueProxy<ElementOf<C>>> {
    return this[create]("Value", [typecode, value]) as Promise<ValueProxy<ElementOf<C>>>;
  }

  Array<C extends Typecode>(typecode: C, sizeOrValues: number | Iterable<ElementOf<C>>): Promise<ArrayProxy<ElementOf<C>>> {
    return this[create]("Array", [typecode, typeof sizeOrValues === "number" ? sizeOrValues : [...sizeOrValues]]) as Promise<ArrayProxy<ElementOf<C>>>;
  }

  /** A Pool whose workers are the manager's children; tasks' functions must be exported, as for any Pool. */
  Pool(options?: PoolOptions | number): Promise<PoolProxy> {
    return this[create]("Pool", options === undefined ? [] : [options]) as Promise<PoolProxy>;
  }
}

for (const [typeid, type] of Object.entries(STANDARD_TYPES)) {
  const cls = makeProxyType(`${typeid[0]!.toUpperCase()}${typeid.slice(1)}Proxy`, type.exposed, type.aliases, type.properties);
  setProxyType(typeid, type.hold ? withHold(cls) : cls);
  const registration: Registration = { typeid, standard: true, exposed: [...type.exposed] };
  if (type.methodToTypeid) registration.methodToTypeid = { ...type.methodToTypeid };
  let own = registries.get(SyncManager);
  if (!own) {
    own = new Map();
    registries.set(SyncManager, own);
  }
  own.set(typeid, registration);
}

/** Start a SyncManager server process and return the started manager (Python's multiprocessing.Manager()). */
export function Manager(options: ManagerOptions = {}): Promise<SyncManager> {
  return new SyncManager(options).start();
}
