/*
 * The client side of a manager: proxies and the one connection per process
 * (per manager address and key) that carries their calls.
 *
 * A proxy is a token (typeid, object id, exposed methods) plus the
 * manager's address and authkey; it travels by reference (reduction.ts) and
 * connects lazily wherever it lands, on its first call. Every method
 * returns a Promise. Calls are pipelined: each request carries an id, the
 * reply echoes it, and one read loop runs only while calls are pending, so
 * an idle proxy never keeps a process alive.
 *
 * A manager on a Unix socket is on this machine: after the handshake the
 * client hands it one end of a shared-memory Pipe over the socket and the
 * calls go through the Pipe (no system call per message when both sides
 * are awake). Over TCP the authenticated socket carries the calls, and a
 * lone prompt call reads its reply with the calling thread (#afterPrompt).
 *
 * Talks to: protocol.ts (messages), listener.ts (Client), connection.ts
 * (Pipe), reduction.ts (proxies travel).
 */
import { NOTHING, Pipe, receiveNow, type Connection } from "../connection.ts";
import { EOFError } from "../errors.ts";
import { Client, refSocket, type Address, type BoundAddress } from "../listener.ts";
import { reduce, travelling, type Reduction } from "../reduction.ts";
import { coresToSpare } from "../procfs.ts";
import { shared } from "../runtime.ts";
import { handled } from "../waiting.ts";
import { Outcome, pack, unpack, type Reply, type Request, type TokenState } from "./protocol.ts";

type Outgoing = Request extends [number, ...infer Rest] ? Rest : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** How a manager's address reads in messages: a path (abstract names with a leading @), or host:port. */
export function describeAddress(address: Address | BoundAddress): string {
  if (typeof address === "string") return address.startsWith("\0") ? `@${address.slice(1)}` : address;
  const [host, port] = Array.isArray(address) ? address : [(address as { host: string }).host, (address as { port: number }).port];
  return `${host}:${port}`;
}

function goneError(where: string, cause: unknown): EOFError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new EOFError(`the manager at ${where} is gone: ${why}`, { cause });
}

/** One connection to one manager from this process, shared by every proxy of that manager. */
export class Session {
  readonly where: string;
  readonly #address: Address;
  readonly #authkey: Uint8Array;
  #connection: Connection<Request | string, Reply | string> | undefined;
  #connecting: Promise<Connection<Request | string, Reply | string>> | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #reading = false;
  /** A look for a prompt call's reply is due in a microtask (see #afterPrompt). */
  #promptQueued = false;
  /** Prompt calls left that wait asynchronously, and how many that was (see #promptWaitDue). */
  #skippedPromptWaits = 0;
  #promptBackoff = 0;
  #dead = false;

  constructor(address: Address, authkey: Uint8Array) {
    this.#address = address;
    this.#authkey = authkey;
    this.where = describeAddress(address);
  }

  /** The session of this process for (address, authkey): made on first use, replaced once it dies. */
  static of(address: Address, authkey: Uint8Array): Session {
    const key = `${describeAddress(address)}#${Buffer.from(authkey).toString("hex")}`;
    let session = sessions.get(key);
    if (!session || session.#dead) {
      session = new Session(address, authkey);
      sessions.set(key, session);
    }
    return session;
  }

  /**
   * Send a request; resolves with the reply. `prompt`: the server answers
   * it without waiting on anything (a dict get, not a Lock acquire).
   */
  call(request: Outgoing, prompt = false): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const connection = this.#connection;
      if (connection) this.#send(connection, id, request, prompt);
      else
        this.#connect().then(
          (ready) => this.#send(ready, id, request, false),
          (err: unknown) => this.#settle(id, undefined, err),
        );
    });
  }

  /** Whether this session's connection is gone (a new one is made on the next call). */
  get dead(): boolean {
    return this.#dead;
  }

  #send(connection: Connection<Request | string, Reply | string>, id: number, request: Outgoing, prompt: boolean): void {
    try {
      connection.send(pack([id, ...request] as Request));
    } catch (err) {
      // A value that cannot travel fails this call only; a broken connection fails them all.
      if ((err as Error).name === "BrokenPipeError" || (err as Error).message.startsWith("handle is closed")) this.#die(err);
      else this.#settle(id, undefined, err);
      return;
    }
    if (this.#reading || this.#promptQueued) return;
    if (prompt) {
      this.#promptQueued = true;
      queueMicrotask(() => this.#afterPrompt(connection));
    } else void this.#read(connection);
  }

  /**
   * A lone prompt call waits for its reply blocking, for a moment: over the
   * Pipe the server's write then wakes this thread directly (or finds it
   * spinning), where an async wait costs a wake of the waiter thread and one
   * of the event loop; over TCP this thread reads the socket itself, where
   * the event loop's wake from epoll costs more than a loopback round trip.
   * Decided a microtask after the send, once the calls made in the same
   * turn (many awaited together) have gone out too: the first of them must
   * not hold the rest back until its reply is in.
   */
  #afterPrompt(connection: Connection<Request | string, Reply | string>): void {
    this.#promptQueued = false;
    if (this.#reading || this.#pending.size === 0) return;
    if (this.#pending.size === 1 && this.#promptWaitDue() && coresToSpare()) {
      if (!connection.pollSync(PROMPT_WAIT_MS)) {
        this.#promptBackoff = Math.min(PROMPT_BACKOFF_MAX, this.#promptBackoff * 2 || PROMPT_BACKOFF_MIN);
        this.#skippedPromptWaits = this.#promptBackoff;
      } else {
        this.#promptBackoff = 0;
        try {
          const reply = receiveNow(connection);
          if (reply instanceof Promise) {
            reply.then((arrived) => this.#arrived(arrived), (err: unknown) => this.#die(err));
            return;
          }
          if (reply !== NOTHING) {
            this.#arrived(reply);
            return;
          }
        } catch (err) {
          this.#die(err);
          return;
        }
      }
    }
    void this.#read(connection);
  }

  /**
   * False for a while after a blocking wait that saw no reply (a far or
   * busy manager, a get from an empty queue): the thread would only have
   * been held. For PROMPT_BACKOFF_MIN calls after one such wait (a pause
   * of either side's garbage collector), twice as many after each next
   * one in a row, up to PROMPT_BACKOFF_MAX (a manager over a slow network).
   */
  #promptWaitDue(): boolean {
    if (this.#skippedPromptWaits === 0) return true;
    this.#skippedPromptWaits--;
    return false;
  }

  #arrived(received: Reply | string): void {
    const reply = unpack(received);
    this.#settle(reply[0], reply);
  }

  #connect(): Promise<Connection<Request | string, Reply | string>> {
    this.#connecting ??= this.#open().then(
      (connection) => {
        this.#connection = connection;
        return connection;
      },
      (err: unknown) => {
        this.#dead = true;
        const error = err instanceof Error && err.name === "AuthenticationError" ? err : goneError(this.where, err);
        throw error;
      },
    );
    return this.#connecting;
  }

  async #open(): Promise<Connection<Request | string, Reply | string>> {
    const socket = await Client<Request | string, Reply | string>(this.#address, { authkey: this.#authkey });
    if (typeof this.#address !== "string") {
      refSocket(socket as Connection<never, never>, false);
      return socket;
    }
    const [mine, theirs] = Pipe<Request | Reply>();
    try {
      socket.send([0, "pipe", theirs]);
      const [, outcome, value] = unpack(await socket.recv());
      if (outcome !== Outcome.Return) throw value;
    } finally {
      theirs.close();
      socket.close();
    }
    return mine as Connection<Request | string, Reply | string>;
  }

  async #read(connection: Connection<Request | string, Reply | string>): Promise<void> {
    this.#reading = true;
    refSocket(connection as Connection<never, never>, true);
    try {
      while (this.#pending.size > 0) {
        // Replies already there are taken without a Promise each: with many calls in flight they come in runs.
        const now = receiveNow(connection);
        this.#arrived(now === NOTHING ? await connection.recv() : now instanceof Promise ? await now : now);
      }
    } catch (err) {
      this.#die(err);
    } finally {
      this.#reading = false;
      refSocket(connection as Connection<never, never>, false);
    }
  }

  #settle(id: number, reply: Reply | undefined, error?: unknown): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (reply) pending.resolve(reply);
    else pending.reject(error);
  }

  /** The manager went away: every pending call rejects; the next call makes a new session (and fails to connect if it is really gone). */
  #die(cause: unknown): void {
    this.#dead = true;
    this.#connection?.close();
    const error = goneError(this.where, cause);
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** Close this process's connection (the next call opens a new one); pending calls reject with `reason`. */
  close(reason: string): void {
    this.#die(reason);
  }
}

/** The longest a prompt call blocks its thread for the reply before it waits asynchronously. */
const PROMPT_WAIT_MS = 2;
/** After prompt calls' blocking waits saw no reply, the calls that wait asynchronously only: see #promptWaitDue. */
const PROMPT_BACKOFF_MIN = 4;
const PROMPT_BACKOFF_MAX = 1024;

const sessions = shared<Map<string, Session>>("managers.sessions", () => new Map());

/** @internal Forget (and close) this process's connection to a manager, after it shut down. */
export function closeSession(address: Address, authkey: Uint8Array): void {
  const key = `${describeAddress(address)}#${Buffer.from(authkey).toString("hex")}`;
  sessions.get(key)?.close("it was shut down");
  sessions.delete(key);
}

/**
 * Types whose every method the server answers at once (nothing in them
 * waits), and queues: a put or get is most often answered at once too, and
 * one that must wait blocks its caller PROMPT_WAIT_MS at most before it
 * waits asynchronously (Queue 1→1 via a Pool worker, 20,000 items: 250–650
 * ms with queues here, 310–650 ms without). Not a JoinableQueue's join:
 * it waits for every item's taskDone.
 */
const PROMPT_TYPES: ReadonlySet<string> = new Set(["dict", "list", "Namespace", "Value", "Array", "Queue", "JoinableQueue"]);

function isPrompt(typeid: string, method: string): boolean {
  return PROMPT_TYPES.has(typeid) && method !== "join";
}

/** What a proxy is: where its referent lives and what it exposes. */
export interface ProxyState extends TokenState {
  address: Address;
  authkey: Uint8Array;
}

const state = Symbol("multiproc.proxyState");
/** @internal Proxies call through this (it is not part of their typed surface). */
export const callMethod = Symbol("multiproc.callMethod");

/** Proxy classes by typeid, so that a proxy that arrives here gets its methods (AutoProxy otherwise). */
const proxyTypes = shared<Map<string, ProxyClass>>("managers.proxyTypes", () => new Map());

export type ProxyClass = new (state: ProxyState) => BaseProxy;

/**
 * A reference to an object that lives in a manager (Python's BaseProxy).
 * Methods return Promises; the proxy travels to any process (as an
 * argument, through a Queue or Pipe, inside another managed object) and
 * reconnects there.
 */
export class BaseProxy {
  readonly [state]: ProxyState;
  /** This process's connection to the manager, once a call has looked it up. */
  #session: Session | undefined;

  constructor(proxyState: ProxyState) {
    this[state] = proxyState;
  }

  /** The referent's type id (`"dict"`, `"Queue"`, or a registered one). */
  get typeid(): string {
    return this[state].typeid;
  }

  /** The manager's address. */
  get address(): Address {
    return this[state].address;
  }

  /** Call a method the referent exposes (Python's `_callmethod`). A call nobody awaits never surfaces as an unhandled rejection. */
  [callMethod](method: string, args: unknown[]): Promise<unknown> {
    return handled(this.#call(method, args));
  }

  async #call(method: string, args: unknown[]): Promise<unknown> {
    const proxyState = this[state];
    let session = this.#session;
    if (!session || session.dead) session = this.#session = Session.of(proxyState.address, proxyState.authkey);
    const [, outcome, value] = await session.call(["call", proxyState.id, method, args], isPrompt(proxyState.typeid, method));
    if (outcome === Outcome.Error) throw value;
    if (outcome === Outcome.Proxy) return makeProxy({ ...(value as TokenState), address: proxyState.address, authkey: proxyState.authkey });
    return value;
  }

  get [Symbol.toStringTag](): string {
    return this.constructor.name;
  }

  toString(): string {
    const { typeid, id, address } = this[state];
    return `<${this.constructor.name} of ${typeid} #${id} in the manager at ${describeAddress(address)}>`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  [reduce](): Reduction {
    const { address, authkey, typeid, id, exposed } = this[state];
    return proxyTravel({ address, authkey: new Uint8Array(authkey), typeid, id, exposed });
  }
}

const proxyTravel = travelling<ProxyState>("ManagerProxy", import.meta.url, makeProxy);

/** Client-side names that are another method's alias (Python's dunders; the server never sees a `_` name). */
export type Aliases = Readonly<Record<string, string>>;

/**
 * Python's MakeProxyType: a proxy class whose methods are `exposed`, each
 * forwarding to the referent; `aliases` adds names that call another
 * method; `properties` are read-only getters that make a call.
 */
export function makeProxyType(name: string, exposed: readonly string[], aliases: Aliases = {}, properties: readonly string[] = []): ProxyClass {
  const cls = { [name]: class extends BaseProxy {} }[name]!;
  for (const method of exposed) {
    if (properties.includes(method)) continue;
    Object.defineProperty(cls.prototype, method, {
      value(this: BaseProxy, ...args: unknown[]) {
        return this[callMethod](method, args);
      },
      writable: true,
      configurable: true,
    });
  }
  for (const [alias, target] of Object.entries(aliases)) {
    Object.defineProperty(cls.prototype, alias, {
      value(this: BaseProxy, ...args: unknown[]) {
        return this[callMethod](target, args);
      },
      writable: true,
      configurable: true,
    });
  }
  for (const property of properties) {
    Object.defineProperty(cls.prototype, property, {
      get(this: BaseProxy) {
        return this[callMethod](property, []);
      },
      configurable: true,
    });
  }
  return cls;
}

/** Make proxies of `typeid` instances of `cls` in this process. */
export function setProxyType(typeid: string, cls: ProxyClass): void {
  proxyTypes.set(typeid, cls);
}

/** Python's AutoProxy: a class made from the exposed names, cached per (typeid, exposed). */
const autoTypes = new Map<string, ProxyClass>();

export function makeProxy(proxyState: ProxyState): BaseProxy {
  let cls = proxyTypes.get(proxyState.typeid);
  if (!cls) {
    const key = `${proxyState.typeid}(${proxyState.exposed.join(",")})`;
    cls = autoTypes.get(key);
    if (!cls) {
      cls = makeProxyType(`AutoProxy[${proxyState.typeid}]`, proxyState.exposed);
      autoTypes.set(key, cls);
    }
  }
  return new cls(proxyState);
}
