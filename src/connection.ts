/*
 * Connections: the two ends of a Pipe, and what Listener.accept() and
 * Client() return (Python's connection.py). A Connection turns values into
 * messages (reduction.ts) and leaves moving whole messages to a Transport:
 * a pair of shared-memory channels for Pipe (channel.ts), a socket for
 * Listener/Client (listener.ts).
 *
 * Talks to: reduction.ts (message codec), channel.ts (Pipe), listener.ts.
 */
import { Channel, type ChannelState, type End, type Holder, type Outgoing } from "./channel.ts";
import { BufferTooShort, TimeoutError, abortError, checkBoolean } from "./errors.ts";
import { abandon, decodeMessage, decodeMessageSync, decodeValueAt, DUMPED, encodeMessage, loadsIfImported, stringRecord, MessageTag, reduce, travelling, type Message, type Reduction } from "./reduction.ts";
import { deadlineOf, me, runAsync, runSync } from "./synchronize.ts";
import { handled, parseWait, type Wait } from "./waiting.ts";

/**
 * A message whose tag travels as the first payload byte: what a socket
 * carries for `send(obj)`, since Python's framing has no room for a tag
 * (sendBytes frames are sent bare, as Python's send_bytes).
 */
export const FRAME = 255;

/** How a Connection moves whole messages. Internal: Pipe and Listener/Client provide one. */
export interface Transport {
  readonly readable: boolean;
  readonly writable: boolean;
  /** Hand one message to the peer; never waits. Throws BrokenPipeError when the peer has gone. */
  write(message: Message): void;
  /** send() of a string, where the transport has a cheaper way than encodeMessage's buffer. */
  writeString?(value: string): void;
  /**
   * The next message, or undefined when `timeout` (ms, null: none) passes
   * first. Rejects with EOFError once the peer has gone and nothing is left,
   * and with the abort reason when `signal` aborts.
   */
  read(timeout: number | null, signal?: AbortSignal): Promise<Message | undefined>;
  /** The same, blocking the thread. */
  readSync(timeout: number | null): Message | undefined;
  /** Whether a message, or the end of the stream, is there to read within `timeout`; consumes nothing. */
  poll(timeout: number | null, signal?: AbortSignal): Promise<boolean>;
  pollSync(timeout: number | null): boolean;
  /**
   * The next message's value if one is there now, without waiting: an
   * Undecoded when decoding it must import modules; NOTHING when none is
   * there, or another read holds the inbox. Transports that cannot tell
   * without waiting (sockets) leave it out.
   */
  takeNow?(): unknown;
  close(): void;
  /** How this end travels to another process; throws if it cannot. */
  reduction(): Reduction;
  /** The receiver of `reduction()`'s state is gone (see reduction.ts `abandon`). */
  abandon?(state: unknown): void;
}

let takeNow: (connection: Connection<unknown, unknown>) => unknown;

/** What receiveNow() gives when no message is there. */
export const NOTHING: unique symbol = Symbol("multiproc.nothing");

/** A message Transport.takeNow() took whose value must wait for modules to import. */
class Undecoded {
  constructor(readonly message: Message) {}
}

/**
 * @internal The next value if its message is there now, without the
 * Promises and the wait that recv() builds: a request loop that serves one
 * message after another makes little garbage. A Promise only when decoding
 * must import modules; NOTHING when no message is there, another read
 * holds the inbox, or the transport cannot tell without waiting (sockets).
 */
export function receiveNow<R>(connection: Connection<unknown, R>): R | Promise<R> | typeof NOTHING {
  const taken = takeNow(connection as Connection<unknown, unknown>);
  return taken instanceof Undecoded ? (decodeMessage(taken.message) as Promise<R>) : (taken as R | typeof NOTHING);
}

/**
 * @internal What Transport.takeNow() gives for the message bytes[at, at +
 * length): its value (`owned`: the bytes are the message's own, and the
 * value may keep them), or an Undecoded when it names modules not imported
 * yet. A dumped message is copied out of bytes that are not its own.
 */
export function valueTaken(tag: number, bytes: Uint8Array, at: number, length: number, owned: boolean): unknown {
  const value = decodeValueAt(tag, bytes, at, at + length, owned);
  if (value !== DUMPED) return value;
  const payload = owned && at === 0 && length === bytes.length ? bytes : bytes.slice(at, at + length);
  const decoded = loadsIfImported(payload);
  return decoded ? decoded.value : new Undecoded({ tag, payload });
}

/** valueTaken() of a socket's frame (see FRAME). */
export function frameTaken(frame: Uint8Array): unknown {
  const { tag, payload } = unframe({ tag: FRAME, payload: frame });
  return valueTaken(tag, payload, 0, payload.length, true);
}

/** A message split back into its tag and payload (see FRAME). */
function unframe(message: Message): Message {
  if (message.tag !== FRAME) return message;
  const frame = message.payload;
  if (frame.length === 0) return { tag: MessageTag.Bytes, payload: frame };
  return { tag: frame[0]!, payload: frame.slice(1) };
}

function bytesOf(buffer: ArrayBufferView | ArrayBuffer, offset: number, size: number | undefined, method: string): Uint8Array {
  if (!(buffer instanceof ArrayBuffer) && !ArrayBuffer.isView(buffer)) {
    const got = buffer === null ? "null" : typeof buffer === "object" ? (Object.getPrototypeOf(buffer)?.constructor?.name ?? "object") : typeof buffer;
    throw new TypeError(`${method} takes bytes (a Buffer, TypedArray, DataView or ArrayBuffer), got ${got}`);
  }
  const view = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError("offset is negative");
  if (offset > view.length) throw new RangeError("buffer length < offset");
  const length = size ?? view.length - offset;
  if (!Number.isInteger(length) || length < 0) throw new RangeError("size is negative");
  if (offset + length > view.length) throw new RangeError("buffer length < offset + size");
  return view.subarray(offset, offset + length);
}

function checkMaxLength(message: Message, maxlength: number | undefined): void {
  if (maxlength !== undefined && message.payload.length > maxlength) {
    throw new RangeError(`bad message length: ${message.payload.length} bytes, more than maxlength ${maxlength}`);
  }
}

/** One end of a two-way (or one-way) message channel between processes. `S` is what it sends, `R` what it receives. */
export class Connection<S = unknown, R = S> implements Disposable {
  #transport: Transport | undefined;
  readonly #reservedBy: Transport;
  readonly readable: boolean;
  readonly writable: boolean;

  /** @internal Connections come from Pipe(), Listener.accept() and Client(). */
  constructor(transport: Transport) {
    this.#transport = transport;
    this.#reservedBy = transport;
    this.readable = transport.readable;
    this.writable = transport.writable;
  }

  get closed(): boolean {
    return this.#transport === undefined;
  }

  #open(): Transport {
    if (!this.#transport) throw new Error("handle is closed: this connection was closed");
    return this.#transport;
  }

  #reader(): Transport {
    const transport = this.#open();
    if (!this.readable) throw new Error("connection is write-only");
    return transport;
  }

  #writer(): Transport {
    const transport = this.#open();
    if (!this.writable) throw new Error("connection is read-only");
    return transport;
  }

  /** Send a value (structured clone, plus everything reduction.ts carries); never waits. */
  send(value: S): void {
    const transport = this.#writer();
    if (typeof value === "string" && transport.writeString) transport.writeString(value);
    else transport.write(encodeMessage(value));
  }

  /** Send bytes as one message: `buffer[offset, offset + size)`. */
  sendBytes(buffer: ArrayBufferView | ArrayBuffer, offset = 0, size?: number): void {
    const transport = this.#writer();
    transport.write({ tag: MessageTag.Bytes, payload: bytesOf(buffer, offset, size, "sendBytes") });
  }

  async #read(wait: Wait): Promise<Message> {
    const transport = this.#reader();
    const { timeout, signal } = parseWait(wait);
    if (signal?.aborted) throw abortError(signal);
    const message = await transport.read(timeout, signal);
    if (!message) throw new TimeoutError(`nothing arrived within ${timeout} ms`);
    return message;
  }

  #readSync(timeout: number | null | undefined): Message {
    const { timeout: limit } = parseWait(timeout);
    const message = this.#reader().readSync(limit);
    if (!message) throw new TimeoutError(`nothing arrived within ${limit} ms`);
    return message;
  }

  /** The next value. Rejects with EOFError once the other end is closed (or its process died) and nothing is left; TimeoutError after `timeout`. */
  async recv(wait?: Wait): Promise<R> {
    return (await decodeMessage(unframe(await this.#read(wait)))) as R;
  }

  recvSync(timeout?: number | null): R {
    return decodeMessageSync(unframe(this.#readSync(timeout))) as R;
  }

  /** The next message's bytes (whatever sent it). A message longer than `maxlength` is an error. */
  async recvBytes(maxlength?: number): Promise<Uint8Array> {
    const message = await this.#read(undefined);
    checkMaxLength(message, maxlength);
    return message.payload;
  }

  recvBytesSync(maxlength?: number): Uint8Array {
    const message = this.#readSync(undefined);
    checkMaxLength(message, maxlength);
    return message.payload;
  }

  /** Read the next message into `buffer` at `offset`; the number of bytes. BufferTooShort (with the whole message as `data`) if it does not fit. */
  async recvBytesInto(buffer: ArrayBufferView | ArrayBuffer, offset = 0): Promise<number> {
    const target = bytesOf(buffer, offset, undefined, "recvBytesInto");
    return copyInto(target, (await this.#read(undefined)).payload);
  }

  recvBytesIntoSync(buffer: ArrayBufferView | ArrayBuffer, offset = 0): number {
    const target = bytesOf(buffer, offset, undefined, "recvBytesIntoSync");
    return copyInto(target, this.#readSync(undefined).payload);
  }

  /** Whether there is something to read (or the other end has gone), waiting up to `timeout` ms (default 0: just look; null: forever). */
  poll(wait: Wait = 0): Promise<boolean> {
    try {
      const { timeout, signal } = parseWait(wait);
      return this.#reader().poll(timeout === null ? null : Math.max(0, timeout), signal);
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  pollSync(timeout: number | null = 0): boolean {
    // A plain number of milliseconds skips parseWait's objects: a reader may poll in a tight loop.
    const limit = typeof timeout === "number" && timeout >= 0 && timeout < Infinity ? timeout : parseWait(timeout).timeout;
    return this.#reader().pollSync(limit === null ? null : Math.max(0, limit));
  }

  /** Close this end; the other end's recv then gives EOFError once it has read what was sent. Idempotent. */
  close(): void {
    const transport = this.#transport;
    this.#transport = undefined;
    transport?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  static {
    takeNow = (connection) => {
      const transport = connection.#reader();
      return transport.takeNow ? transport.takeNow() : NOTHING;
    };
  }

  toString(): string {
    return `<Connection ${this.readable && this.writable ? "duplex" : this.readable ? "read-only" : "write-only"}${this.closed ? " closed" : ""}>`;
  }

  [reduce](): Reduction {
    return this.#open().reduction();
  }

  /** Even once this end is closed: what it reserved for a receiver is not this end's to keep. */
  [abandon](state: unknown): void {
    this.#reservedBy.abandon?.(state);
  }
}

function copyInto(target: Uint8Array, payload: Uint8Array): number {
  if (payload.length > target.length) {
    throw new BufferTooShort(`the message (${payload.length} bytes) does not fit in the buffer (${target.length} bytes from offset)`, payload);
  }
  target.set(payload);
  return payload.length;
}

/** A Pipe end: reads its inbox channel, writes its outbox channel, and is registered as a holder of each. */
class ChannelTransport implements Transport {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly #inbox: Channel | undefined;
  readonly #outbox: Channel | undefined;
  readonly #holds: Hold[];

  constructor(inbox: Channel | undefined, outbox: Channel | undefined, entries: { read?: number; write?: number } = {}) {
    this.#inbox = inbox;
    this.#outbox = outbox;
    inbox?.use();
    outbox?.use();
    this.readable = inbox !== undefined;
    this.writable = outbox !== undefined;
    const holder = me();
    this.#holds = [];
    if (inbox) this.#holds.push({ channel: inbox, end: "read", entry: entries.read ?? inbox.register("read"), holder: { tid: holder.tid, start: holder.start } });
    if (outbox) this.#holds.push({ channel: outbox, end: "write", entry: entries.write ?? outbox.register("write"), holder: { tid: holder.tid, start: holder.start } });
    unclosed.register(this, this.#holds, this);
  }

  write(message: Message | Outgoing): void {
    const outbox = this.#outbox!;
    outbox.checkReaders();
    outbox.tryWrite(message, false);
  }

  writeString(value: string): void {
    this.write(stringRecord(value) ?? encodeMessage(value));
  }

  read(timeout: number | null, signal?: AbortSignal): Promise<Message | undefined> {
    const inbox = this.#inbox!;
    const message = inbox.tryRead();
    if (message) return Promise.resolve(message);
    return runAsync(inbox.readSteps(deadlineOf(timeout), true, false), signal);
  }

  readSync(timeout: number | null): Message | undefined {
    const inbox = this.#inbox!;
    return inbox.tryRead() ?? runSync(inbox.readSteps(deadlineOf(timeout), true, true));
  }

  poll(timeout: number | null, signal?: AbortSignal): Promise<boolean> {
    const inbox = this.#inbox!;
    if (inbox.count() > 0) return Promise.resolve(true);
    return runAsync(inbox.pollSteps(deadlineOf(timeout), false), signal);
  }

  pollSync(timeout: number | null): boolean {
    const inbox = this.#inbox!;
    if (timeout === 0) return inbox.pollNow();
    return inbox.arrivesWithin(timeout ?? Infinity) || runSync(inbox.pollSteps(deadlineOf(timeout), true, true));
  }

  takeNow(): unknown {
    this.#inbox!.drain(1, this.#takeInPlace, false);
    const taken = this.#taken;
    this.#taken = NOTHING;
    return taken;
  }

  #taken: unknown = NOTHING;

  /** Decodes a message where it lies in the ring (no copy). */
  readonly #takeInPlace = (tag: number, bytes: Uint8Array, at: number, length: number): boolean => {
    this.#taken = valueTaken(tag, bytes, at, length, false);
    return false;
  };

  /** Connection calls it once. The channels' mappings and descriptors go at once when no other end here uses them (see Channel.use). */
  close(): void {
    unclosed.unregister(this);
    releaseHolds(this.#holds);
    this.#inbox?.unuse();
    this.#outbox?.unuse();
  }

  reduction(): Reduction {
    const state: PipeEndState = {};
    if (this.#inbox) state.inbox = this.#inbox.state(this.#inbox.registerTransit("read"));
    if (this.#outbox) state.outbox = this.#outbox.state(this.#outbox.registerTransit("write"));
    this.#inbox?.lend();
    this.#outbox?.lend();
    return pipeEndTravel(state);
  }

  /** The receiver of a reduction is gone: drop the holder entries it did not take over. */
  abandon(state: unknown): void {
    const { inbox, outbox } = state as PipeEndState;
    if (this.#inbox && inbox?.transit) this.#inbox.releaseTransit(inbox.transit);
    if (this.#outbox && outbox?.transit) this.#outbox.releaseTransit(outbox.transit);
    this.#inbox?.giveBack();
    this.#outbox?.giveBack();
  }
}

interface Hold {
  channel: Channel;
  end: End;
  entry: number;
  holder: Holder;
}

interface PipeEndState {
  inbox?: ChannelState;
  outbox?: ChannelState;
}

function releaseHolds(holds: readonly Hold[]): void {
  for (const { channel, end, entry, holder } of holds) channel.release(end, entry, holder);
}

/** A Pipe end dropped without close() lets go of its holds when collected, as Python closes a collected Connection's descriptor. */
const unclosed = new FinalizationRegistry<readonly Hold[]>(releaseHolds);

function reopenEnd(state: PipeEndState): Connection {
  const inbox = state.inbox && Channel.open(state.inbox);
  const outbox = state.outbox && Channel.open(state.outbox);
  const entries = {
    read: inbox && state.inbox!.transit ? inbox.adopt(state.inbox!.transit) : undefined,
    write: outbox && state.outbox!.transit ? outbox.adopt(state.outbox!.transit) : undefined,
  };
  return new Connection(new ChannelTransport(inbox, outbox, entries));
}

const pipeEndTravel = travelling("PipeConnection", import.meta.url, reopenEnd);

/**
 * A pair of connected Connections (Python's Pipe). Duplex (default): both
 * ends send and receive. `Pipe(false)`: `[reader, writer]`.
 */
export function Pipe<T = unknown>(duplex = true): [Connection<T>, Connection<T>] {
  checkBoolean(duplex, "duplex");
  const forward = Channel.create();
  if (!duplex) return [new Connection(new ChannelTransport(forward, undefined)), new Connection(new ChannelTransport(undefined, forward))];
  const backward = Channel.create();
  return [new Connection(new ChannelTransport(backward, forward)), new Connection(new ChannelTransport(forward, backward))];
}
