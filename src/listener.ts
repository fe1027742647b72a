/*
 * Listener and Client (Python's connection.Listener / connection.Client):
 * Connections over TCP or Unix sockets between any two processes, including
 * Python ones, with Python's framing (a 4-byte big-endian signed length,
 * -1 then an 8-byte length past 2 GiB) and Python 3.12's HMAC handshake.
 *
 * Decisions where Node and Python differ:
 *
 *   - Binding happens in the constructor, as in Python: the addon binds
 *     and listens (native listenSocket) and Node adopts the descriptor, so
 *     EADDRINUSE (or EACCES, ENOTFOUND...) throws from `new Listener()` and
 *     `listener.address` is the real address at once (the port the kernel
 *     chose for port 0). `listener.listening` resolves once Node's server
 *     has taken the socket over; accept() may be called before that.
 *     Host names resolve to IPv4 only, as Python's AF_INET does ("localhost"
 *     is 127.0.0.1, never ::1, so Python clients find us). An abstract Unix
 *     name ("\0name") is bound the way libuv names it (the whole zero-padded
 *     sun_path), so that Node clients find it.
 *   - Connections are taken off the kernel's queue by Node as they come, so
 *     `backlog` defaults to Node's (511) rather than Python's 1. They are
 *     not read from until accept() returns them, as in Python: a peer that
 *     connected, wrote and closed before accept() is still returned, in
 *     order, with its data (bpo-14725).
 *   - With an authkey, each connection's handshake starts as soon as it
 *     arrives, concurrently with the others, and must end within
 *     `handshakeTimeout` (default 5 s); accept() returns connections in the
 *     order their handshakes ended. Python runs the handshake inside
 *     accept(), one peer at a time, so one silent peer holds up every client
 *     behind it; here k silent or slow peers cost k timers. A failed
 *     handshake still surfaces as in Python: that accept() rejects
 *     (AuthenticationError for a wrong key, TimeoutError for a peer that
 *     stayed silent, an Error for garbage), and the next one serves the next
 *     peer.
 *   - Handshake frames over 256 bytes, negative lengths, and user frames
 *     over `maxMessageSize` (default 1 GiB) drop the connection: its read
 *     rejects with "bad message length". The cap on user frames keeps a
 *     stray client that is not speaking our protocol ("GET / HTTP..." reads
 *     as 1.1 GB) from making us buffer gigabytes.
 *   - close() releases the bound descriptor before it returns: the address
 *     can be bound again at once.
 *   - recvSync/pollSync read the socket with the calling thread, as
 *     Python's do (the event loop waits meanwhile): first without sleeping
 *     for a moment, then asleep in poll(2). What the event loop reads later
 *     finds those bytes gone, which libuv takes in stride. A socket
 *     Connection cannot be sent to another process: connect there with
 *     Client(address).
 *
 * Talks to: connection.ts (Connection over a SocketTransport), errors.ts.
 */
import type { Server, Socket } from "node:net";
import { Connection, FRAME, NOTHING, frameTaken, valueTaken, type Transport } from "./connection.ts";
import { AuthenticationError, BrokenPipeError, EOFError, TimeoutError, abortError } from "./errors.ts";
import { encodeMessage, MessageTag, SerializationError, stringRecord, type Message, type Reduction } from "./reduction.ts";
import { native } from "./native.ts";
import { builtin } from "./runtime.ts";
import { handled } from "./waiting.ts";

/** A TCP address as Python's `(host, port)` or `{ host, port }` (port 0: any free port), or a Unix socket path ("\0name": Linux abstract namespace). */
export type Address = string | readonly [host: string, port: number] | { readonly host: string; readonly port: number };

/** Where a listener is bound: `[host, port]` for TCP, the path for a Unix socket. */
export type BoundAddress = string | [host: string, port: number];

export type Family = "AF_INET" | "AF_UNIX";

export interface ClientOptions {
  /** Run Python's mutual HMAC challenge with this key (an empty key still authenticates). Default: none. */
  authkey?: Uint8Array | null;
  /** Inferred from the address: a string is AF_UNIX, a `[host, port]` is AF_INET. */
  family?: Family;
}

export interface ListenerOptions extends ClientOptions {
  /** The kernel's queue of connections not yet taken by Node; default Node's 511. */
  backlog?: number;
  /** With an authkey: how long (ms) a peer has to complete the handshake before it is dropped; default 5000. */
  handshakeTimeout?: number;
  /** The largest message (bytes) a connection accepts after the handshake; a longer one drops that connection. Default 1 GiB. */
  maxMessageSize?: number;
}

/** Python's recv_bytes(256) for every handshake message. */
const HANDSHAKE_LIMIT = 256;
const MESSAGE_LIMIT = 2 ** 30;
const HANDSHAKE_TIMEOUT = 5000;
/** Stop reading from the socket while this much has arrived and a whole message waits to be read. */
const HIGH_WATER = 8 * 2 ** 20;

const SYNC_UNAVAILABLE = "recvSync/pollSync need the socket's descriptor, which this platform does not expose; use await conn.recv()";
/** How long a sync read retries without sleeping (µs): a peer on this machine often answers within it, and a wake from poll costs tens of µs. */
const SPIN_US = 50;
/** poll's timeout is an int of milliseconds: a wait without limit is made of waits this long. */
const LONGEST_POLL_MS = 2 ** 30;
const EAGAIN = builtin("node:os").constants.errno.EAGAIN;
/** Where a sync read lands before it is copied into the received chunks (one per thread). */
const readScratch = Buffer.allocUnsafeSlow(64 * 1024);

function closedConnection(): Error {
  return new Error("handle is closed: this connection was closed");
}

function closedListener(): Error {
  return new Error("listener is closed");
}

/** A wait for the next message (or for one to be there), settled by the transport or by its timeout/abort. */
interface Waiter<T> {
  settle(value: T): void;
  fail(error: unknown): void;
}

/** Bytes received and not yet taken as frames: the socket's chunks, consumed from the front. */
class Received {
  #chunks: Buffer[] = [];
  /** Bytes of the first chunk already consumed. */
  #offset = 0;
  length = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /** A copy of the next `n` bytes (never a view: a message must not pin the socket's chunks), consumed unless `peek`. */
  take(n: number, peek = false): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    let offset = this.#offset;
    while (filled < n) {
      const chunk = this.#chunks[index]!;
      const count = Math.min(chunk.length - offset, n - filled);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    if (!peek) {
      this.#chunks.splice(0, index);
      this.#offset = offset;
      this.length -= n;
    }
    return out;
  }

  clear(): void {
    this.#chunks = [];
    this.#offset = 0;
    this.length = 0;
  }
}

function int32At(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(at);
}

/**
 * One end of a socket as a Transport. Frames are cut lazily, when a read
 * asks for one, so the frame-size limit that applies is the one in force at
 * that read: a peer's first message may arrive in the same chunk as its
 * last handshake message.
 */
class SocketTransport implements Transport {
  readonly readable = true;
  readonly writable = true;
  /** The largest frame a read accepts: HANDSHAKE_LIMIT until the handshake is over. */
  limit: number;
  readonly #socket: Socket;
  readonly #received = new Received();
  /** Why reading stops once what was received is used up; undefined while the stream is open. */
  #end: Error | undefined;
  /** The peer can no longer receive. */
  #gone = false;
  #closed = false;
  readonly #readers: Array<Waiter<Message | undefined>> = [];
  readonly #pollers: Array<Waiter<boolean>> = [];

  constructor(socket: Socket, limit: number) {
    this.#socket = socket;
    this.limit = limit;
    socket.on("data", (chunk: Buffer) => this.#arrived(chunk));
    socket.on("end", () => this.#ended(new EOFError("the other end closed the connection")));
    socket.on("error", (err) => this.#ended(new EOFError(`the connection was lost: ${err.message}`, { cause: err })));
    socket.on("close", () => this.#ended(new EOFError("the connection was closed")));
    if (socket.destroyed) this.#ended(new EOFError("the connection was lost before it was accepted"));
    // Accepted sockets start paused (pauseOnConnect); the peer's data waited in the kernel until now.
    socket.resume();
  }

  write({ tag, payload }: Message): void {
    const bare = tag === MessageTag.Bytes;
    const size = payload.length + (bare ? 0 : 1);
    const header = size > 0x7fffffff ? 12 : 4;
    // One copy into one buffer: the caller may reuse its bytes as soon as send() returns, and one write is one syscall.
    const frame = Buffer.allocUnsafe(header + size);
    if (header === 4) {
      frame.writeInt32BE(size, 0);
    } else {
      frame.writeInt32BE(-1, 0);
      frame.writeBigUInt64BE(BigInt(size), 4);
    }
    if (!bare) frame[header] = tag;
    frame.set(payload, bare ? header : header + 1);
    this.#send(frame);
  }

  /** A string encoded straight into its frame (no buffer of its own first). */
  writeString(value: string): void {
    const record = stringRecord(value);
    if (!record || record.length >= 0x7fffffff) {
      this.write(encodeMessage(value));
      return;
    }
    const frame = Buffer.allocUnsafe(5 + record.length);
    frame.writeInt32BE(record.length + 1, 0);
    frame[4] = record.tag;
    record.fill(frame, 5);
    this.#send(frame);
  }

  #send(frame: Uint8Array): void {
    const socket = this.#socket;
    if (this.#gone || !socket.writable) throw new BrokenPipeError("the other end of the connection has gone");
    // Straight to the kernel when nothing waits in the stream's queue (order kept): the stream costs microseconds.
    const fd = this.#fd();
    if (fd !== undefined && socket.writableLength === 0 && !socket.connecting) {
      const sent = native().socketWrite(fd, frame);
      if (sent === frame.length) return;
      // Part of it, or nothing (a full buffer; an error the stream's own write then reports): the stream takes the rest.
      if (sent > 0) {
        socket.write(frame.subarray(sent));
        return;
      }
    }
    socket.write(frame);
  }

  read(timeout: number | null, signal?: AbortSignal): Promise<Message | undefined> {
    if (this.#closed) return Promise.reject(closedConnection());
    try {
      const frame = this.#frame();
      if (frame) {
        this.#throttle();
        return Promise.resolve({ tag: FRAME, payload: frame });
      }
    } catch (err) {
      this.#fail(err as Error);
      return Promise.reject(err);
    }
    if (this.#end) return Promise.reject(this.#endError());
    return this.#wait(this.#readers, timeout, signal, undefined);
  }

  readSync(timeout: number | null): Message | undefined {
    if (!this.pollSync(timeout)) return undefined;
    const frame = this.#frame();
    if (frame) {
      this.#throttle();
      return { tag: FRAME, payload: frame };
    }
    throw this.#endError();
  }

  poll(timeout: number | null, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed) return Promise.reject(closedConnection());
    if (this.#ready()) return Promise.resolve(true);
    return this.#wait(this.#pollers, timeout, signal, false);
  }

  /**
   * Reads the socket with this thread (the event loop waits meanwhile):
   * first without sleeping for a moment, as a reply on this machine is
   * often that close, then asleep in poll until `timeout`.
   */
  pollSync(timeout: number | null): boolean {
    if (this.#closed) throw closedConnection();
    const fd = this.#fd();
    if (fd === undefined) throw new Error(SYNC_UNAVAILABLE);
    const deadline = timeout === null ? Infinity : performance.now() + timeout;
    for (let first = true; !this.#ready(); first = false) {
      const left = Math.max(0, deadline - performance.now());
      if (!first && left === 0) return false;
      this.#readDirect(fd, first ? Math.min(SPIN_US, left * 1000) : 0, Math.ceil(Math.min(left, LONGEST_POLL_MS)));
    }
    return true;
  }

  takeNow(): unknown {
    if (this.#closed) throw closedConnection();
    try {
      const fd = this.#fd();
      if (fd !== undefined && this.#end === undefined && !this.#complete()) {
        const alone = this.#received.length === 0;
        const read = native().socketRead(fd, readScratch, 0, 0);
        // One whole frame and nothing else, as most requests and replies come: decoded where it lies.
        if (alone && read >= 5 && readScratch.readInt32BE(0) === read - 4 && read - 4 <= this.limit) {
          return valueTaken(readScratch[4]!, readScratch, 5, read - 5, false);
        }
        this.#took(read);
      }
      const frame = this.#frame();
      if (!frame) return NOTHING;
      this.#throttle();
      return frameTaken(frame);
    } catch (err) {
      if (this.#end === undefined) this.#fail(err as Error);
      throw err;
    }
  }

  /** The socket's descriptor, where Node exposes it (Unix), while the socket is open. */
  #fd(): number | undefined {
    const fd = (this.#socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    return typeof fd === "number" && fd >= 0 ? fd : undefined;
  }

  /** What the event loop would have read from the socket, read now by this thread (see native socketRead). */
  #readDirect(fd: number, spinUs: number, timeoutMs: number): void {
    this.#took(native().socketRead(fd, readScratch, Math.floor(spinUs), timeoutMs));
  }

  /** What a socketRead into readScratch gave: bytes (kept), the end, or an error (the end too). */
  #took(read: number): void {
    if (read > 0) this.#arrived(Buffer.from(readScratch.subarray(0, read)));
    else if (read === 0) this.#ended(new EOFError("the other end closed the connection"));
    else if (read !== -EAGAIN) this.#ended(new EOFError(`the connection was lost: ${builtin("node:util").getSystemErrorName(read)}`));
  }

  /** Flush what was sent, then close. Input is drained meanwhile: closing with unread input makes the kernel reset the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of [...this.#readers.splice(0), ...this.#pollers.splice(0)]) waiter.fail(closedConnection());
    this.#received.clear();
    const socket = this.#socket;
    socket.resume();
    if (!socket.destroyed) socket.end(() => socket.destroy());
  }

  /** Close without flushing (a connection the listener gives up on). */
  destroy(): void {
    this.close();
    this.#socket.destroy();
  }

  reduction(): Reduction {
    throw new SerializationError("a socket Connection cannot be sent to another process: connect from there with Client(address)", "Connection");
  }

  #arrived(chunk: Buffer): void {
    if (this.#closed) return;
    this.#received.push(chunk);
    this.#settle();
    this.#throttle();
  }

  #ended(reason: EOFError): void {
    this.#gone = true;
    this.#end ??= reason;
    this.#settle();
  }

  /** Drop the connection after a frame we refuse; reads then reject with `error`. */
  #fail(error: Error): void {
    this.#end = error;
    this.#gone = true;
    this.#received.clear();
    this.#socket.destroy();
    this.#settle();
  }

  #endError(): Error {
    const end = this.#end!;
    if (end instanceof EOFError && this.#received.length > 0) return new EOFError("the other end closed the connection in the middle of a message");
    return end;
  }

  /** The next frame's header and body sizes, once its header is in; throws for a length we refuse. */
  #head(): { header: number; size: number } | undefined {
    const received = this.#received;
    if (received.length < 4) return undefined;
    let size = int32At(received.take(4, true), 0);
    let header = 4;
    if (size === -1) {
      if (received.length < 12) return undefined;
      const long = received.take(12, true);
      size = Number(new DataView(long.buffer).getBigUint64(4));
      header = 12;
    } else if (size < 0) {
      throw new Error(`bad message length: the frame header says ${size} bytes`);
    }
    if (size > this.limit) {
      throw new Error(`bad message length: ${size} bytes, more than the ${this.limit} allowed ${this.limit === HANDSHAKE_LIMIT ? "in a handshake" : "in a message"}`);
    }
    return { header, size };
  }

  #complete(): boolean {
    const head = this.#head();
    return head !== undefined && this.#received.length >= head.header + head.size;
  }

  /** Take the next whole frame, if it is all there. */
  #frame(): Uint8Array | undefined {
    if (!this.#complete()) return undefined;
    const { header, size } = this.#head()!;
    this.#received.take(header);
    return this.#received.take(size);
  }

  /** Whether a read would settle now (a frame, the end, or a refused frame); consumes nothing. */
  #ready(): boolean {
    try {
      return this.#end !== undefined || this.#complete();
    } catch (err) {
      this.#fail(err as Error);
      return true;
    }
  }

  /** Hand what arrived to the waiting readers in order, then tell the pollers if anything is left. */
  #settle(): void {
    try {
      while (this.#readers.length > 0) {
        const frame = this.#frame();
        if (frame) this.#readers.shift()!.settle({ tag: FRAME, payload: frame });
        else if (this.#end) for (const reader of this.#readers.splice(0)) reader.fail(this.#endError());
        else break;
      }
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    if (this.#pollers.length > 0 && this.#ready()) for (const poller of this.#pollers.splice(0)) poller.settle(true);
  }

  /**
   * Backpressure: pause the socket while much is buffered and a whole frame
   * waits, so the next read always makes progress; a frame still arriving
   * keeps the socket flowing, however big.
   */
  #throttle(): void {
    if (this.#closed) return;
    let hold = false;
    try {
      hold = this.#received.length >= HIGH_WATER && this.#complete();
    } catch {
      // A refused frame: the next read reports it.
    }
    if (hold) this.#socket.pause();
    else if (this.#socket.isPaused()) this.#socket.resume();
  }

  #wait<T>(list: Array<Waiter<T>>, timeout: number | null, signal: AbortSignal | undefined, onTimeout: T): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (timeout !== null && timeout <= 0) return Promise.resolve(onTimeout);
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => waiter.fail(abortError(signal!));
      const finish = () => {
        const at = list.indexOf(waiter);
        if (at >= 0) list.splice(at, 1);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter<T> = {
        settle(value) {
          finish();
          resolve(value);
        },
        fail(error) {
          finish();
          reject(error);
        },
      };
      list.push(waiter);
      if (timeout !== null) timer = setTimeout(() => waiter.settle(onTimeout), timeout);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/*
 * The handshake, as Python 3.12's deliver_challenge / answer_challenge. The
 * challenger sends `#CHALLENGE#{sha256}` and 40 random bytes; the answer is
 * `{digest}` and the HMAC of everything after `#CHALLENGE#` (the prefix
 * included, so it cannot be downgraded). Python <= 3.11 sends a bare 20-byte
 * challenge and answers with a bare 16-byte HMAC-MD5; lengths tell them apart.
 */
const CHALLENGE = Buffer.from("#CHALLENGE#");
const WELCOME = Buffer.from("#WELCOME#");
const FAILURE = Buffer.from("#FAILURE#");
const CHALLENGE_LENGTH = 40;
const LEGACY_CHALLENGE_LENGTH = 20;
const LEGACY_DIGEST_LENGTH = 16;
/** The digests Python allows, by the name that travels in `{name}`, to OpenSSL's name. */
const DIGESTS: ReadonlyMap<string, string> = new Map([
  ["md5", "md5"],
  ["sha256", "sha256"],
  ["sha384", "sha384"],
  ["sha3_256", "sha3-256"],
  ["sha3_384", "sha3-384"],
]);
const LONGEST_DIGEST_NAME = 8;

function hmac(key: Uint8Array, message: Uint8Array, digest: string): Buffer {
  return builtin("node:crypto").createHmac(DIGESTS.get(digest)!, key).update(message).digest();
}

/** The digest a challenge or response names ("" for the legacy bare form) and what follows the `{name}` prefix. */
function digestOf(message: Buffer): { name: string; rest: Buffer } {
  if (message.length === LEGACY_CHALLENGE_LENGTH || message.length === LEGACY_DIGEST_LENGTH) return { name: "", rest: message };
  if (message[0] === 0x7b) {
    const close = message.indexOf(0x7d, 1);
    const name = close > 0 && close <= LONGEST_DIGEST_NAME + 1 ? message.toString("latin1", 1, close) : "";
    if (DIGESTS.has(name)) return { name, rest: message.subarray(close + 1) };
  }
  throw new AuthenticationError("unsupported message length, missing digest prefix, or unsupported digest");
}

function responseTo(key: Uint8Array, challenge: Buffer): Buffer {
  let { name } = digestOf(challenge);
  if (name === "") {
    try {
      return hmac(key, challenge, "md5");
    } catch {
      // No MD5 here (FIPS): answer in the modern form, as Python does; an old peer will refuse it.
      name = "sha256";
    }
  }
  return Buffer.concat([Buffer.from(`{${name}}`), hmac(key, challenge, name)]);
}

function verify(key: Uint8Array, challenge: Buffer, response: Buffer): void {
  const { name, rest } = digestOf(response);
  const digest = name || "md5";
  let expected: Buffer;
  try {
    expected = hmac(key, challenge, digest);
  } catch {
    throw new AuthenticationError(`digest ${digest} is not supported here`);
  }
  if (expected.length !== rest.length) throw new AuthenticationError(`expected a ${digest} digest of ${expected.length} bytes, got ${rest.length}`);
  if (!builtin("node:crypto").timingSafeEqual(expected, rest)) throw new AuthenticationError("digest received was wrong");
}

function sendRaw(transport: SocketTransport, bytes: Uint8Array): void {
  transport.write({ tag: MessageTag.Bytes, payload: bytes });
}

async function receiveRaw(transport: SocketTransport): Promise<Buffer> {
  // No timeout: read() only resolves with a message or rejects.
  const { payload } = (await transport.read(null))!;
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

async function deliverChallenge(transport: SocketTransport, key: Uint8Array): Promise<void> {
  const challenge = Buffer.concat([Buffer.from("{sha256}"), builtin("node:crypto").randomBytes(CHALLENGE_LENGTH)]);
  sendRaw(transport, Buffer.concat([CHALLENGE, challenge]));
  const response = await receiveRaw(transport);
  try {
    verify(key, challenge, response);
  } catch (err) {
    try {
      sendRaw(transport, FAILURE);
    } catch {
      // The peer has already left; the verdict stands.
    }
    throw err;
  }
  sendRaw(transport, WELCOME);
}

async function answerChallenge(transport: SocketTransport, key: Uint8Array): Promise<void> {
  const message = await receiveRaw(transport);
  if (!message.subarray(0, CHALLENGE.length).equals(CHALLENGE)) throw new AuthenticationError("protocol error: expected a challenge");
  const challenge = message.subarray(CHALLENGE.length);
  if (challenge.length < LEGACY_CHALLENGE_LENGTH) throw new AuthenticationError(`challenge too short: ${challenge.length} bytes`);
  sendRaw(transport, responseTo(key, challenge));
  if (!(await receiveRaw(transport)).equals(WELCOME)) throw new AuthenticationError("digest sent was rejected");
}

/** Run a handshake on a fresh transport; on success, lift the frame limit to user messages' (`limit`). Closes the transport on failure. */
async function authenticate(transport: SocketTransport, limit: number, steps: () => Promise<void>): Promise<void> {
  try {
    await steps();
  } catch (err) {
    transport.close();
    throw err;
  }
  transport.limit = limit;
}

type Endpoint = { family: "AF_UNIX"; path: string } | { family: "AF_INET"; host: string; port: number };

function isTuple(address: Address): address is readonly [string, number] {
  return Array.isArray(address);
}

function endpointOf(address: Address | undefined, family: Family | undefined): Endpoint {
  if (family !== undefined && family !== "AF_INET" && family !== "AF_UNIX") {
    throw new TypeError(`family must be "AF_INET" or "AF_UNIX", got ${String(family)}`);
  }
  if (address === undefined || address === null) {
    if (family === "AF_INET") return { family, host: "127.0.0.1", port: 0 };
    const { join } = builtin("node:path");
    const name = `listener-${builtin("node:crypto").randomBytes(8).toString("hex")}`;
    return { family: "AF_UNIX", path: join(builtin("node:os").tmpdir(), name) };
  }
  if (typeof address === "string") {
    if (address.startsWith("\\\\")) throw new TypeError(`${JSON.stringify(address)} is a Windows named pipe (AF_PIPE), which this platform does not have`);
    if (address === "") throw new TypeError("a Unix socket address cannot be empty");
    if (family === "AF_INET") throw new TypeError(`family AF_INET needs a [host, port] address, got the path ${JSON.stringify(address)}`);
    return { family: "AF_UNIX", path: address };
  }
  if (typeof address !== "object") throw new TypeError(`address must be [host, port], { host, port } or a socket path, got ${String(address)}`);
  const [host, port] = isTuple(address) ? address : [address.host, address.port];
  if (typeof host !== "string") throw new TypeError(`the host must be a string, got ${String(host)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`the port must be an integer from 0 to 65535, got ${String(port)}`);
  if (family === "AF_UNIX") throw new TypeError("family AF_UNIX needs a socket path, got a [host, port] address");
  // Python binds "" to every interface.
  return { family: "AF_INET", host: host === "" ? "0.0.0.0" : host, port };
}

function authkeyOf(authkey: Uint8Array | null | undefined): Uint8Array | null {
  if (authkey === undefined || authkey === null) return null;
  if (!(authkey instanceof Uint8Array)) throw new TypeError("authkey must be a Uint8Array (or Buffer)");
  return new Uint8Array(authkey);
}

/** Node's default: it takes connections off the kernel's queue as they come, so Python's 1 would refuse bursts. */
const DEFAULT_BACKLOG = 511;

/** Bind and listen at once (native.listenSocket); throws the OS error as Node's listen() reports it. */
function bindNow(endpoint: Endpoint, backlog: number): { fd: number; host: string; port: number } {
  const host = endpoint.family === "AF_INET" ? endpoint.host : "";
  const result = native().listenSocket(endpoint.family === "AF_UNIX" ? endpoint.path : null, host, endpoint.family === "AF_INET" ? endpoint.port : 0, backlog);
  const where = endpoint.family === "AF_UNIX" ? JSON.stringify(endpoint.path) : `${host}:${endpoint.port}`;
  if (typeof result === "number") {
    if (result === -2 && endpoint.family === "AF_INET") throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}: no IPv4 address`), { code: "ENOTFOUND", hostname: host });
    const code = builtin("node:util").getSystemErrorName(result);
    throw Object.assign(new Error(`listen ${code}: cannot listen on ${where}`), { code, errno: result, syscall: "listen", address: where });
  }
  const [fd, port, address] = result;
  return { fd, host: address, port };
}

/** Unix socket files bound and not yet closed: removed at exit, as Python's util.Finalize does (closing removes them already). */
const boundPaths = new Set<string>();
let exitHooked = false;

function removeAtExit(path: string): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", removeBoundPaths);
  }
  boundPaths.add(path);
}

function removeSocketFile(path: string): void {
  try {
    builtin("node:fs").unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function removeBoundPaths(): void {
  for (const path of boundPaths) removeSocketFile(path);
  boundPaths.clear();
}

function positiveOption(options: ListenerOptions, name: "handshakeTimeout" | "maxMessageSize", fallback: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0)) throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

/** A peer that arrived: ready to be returned by accept() (authenticated if there is a key), or what its handshake failed with. */
interface Arrival {
  socket: Socket;
  transport?: SocketTransport;
  error?: unknown;
}

/** The socket under a Connection this module made, for refSocket. */
const sockets = new WeakMap<Connection<never, never>, Socket>();

/**
 * @internal Whether a socket Connection keeps the process alive (managers:
 * an idle proxy connection must not). No-op for other Connections.
 */
export function refSocket(connection: Connection<never, never>, keepAlive: boolean): void {
  const socket = sockets.get(connection);
  if (keepAlive) socket?.ref();
  else socket?.unref();
}

function connectionOver<S, R>(transport: SocketTransport, socket: Socket): Connection<S, R> {
  const connection = new Connection<S, R>(transport);
  sockets.set(connection as Connection<never, never>, socket);
  return connection;
}

/** A bound socket that accepts Connections (Python's multiprocessing.connection.Listener). */
export class Listener implements Disposable, AsyncDisposable {
  /** Resolves once Node's server has taken over the bound socket; rejects if closed first. */
  readonly listening: Promise<void>;
  readonly #server: Server;
  readonly #endpoint: Endpoint;
  readonly #authkey: Uint8Array | null;
  readonly #address: BoundAddress;
  #bindError: Error | undefined;
  /** Rejects `listening` (a no-op once it has settled). */
  #notListening!: (error: Error) => void;
  #closed = false;
  #lastAccepted: BoundAddress | null = null;
  /** Connections (authenticated, with a key) that no accept() has taken yet, oldest first. */
  readonly #incoming: Arrival[] = [];
  readonly #accepting: Array<Waiter<Arrival>> = [];
  readonly #handshaking = new Set<SocketTransport>();
  readonly #handshakeTimeout: number;
  readonly #maxMessageSize: number;

  /** With no address: a Unix socket at a random path in the temp dir (or 127.0.0.1 on a free port with family AF_INET). */
  constructor(address?: Address, options: ListenerOptions = {}) {
    const endpoint = endpointOf(address, options.family);
    this.#endpoint = endpoint;
    this.#authkey = authkeyOf(options.authkey);
    this.#handshakeTimeout = positiveOption(options, "handshakeTimeout", HANDSHAKE_TIMEOUT);
    this.#maxMessageSize = positiveOption(options, "maxMessageSize", MESSAGE_LIMIT);
    const server = builtin("node:net").createServer({ pauseOnConnect: true, noDelay: true });
    this.#server = server;
    server.on("connection", (socket) => this.#arrived(socket));
    // Bound here and now, as Python's constructor does: EADDRINUSE throws, and the real port is known at once.
    const bound = bindNow(endpoint, options.backlog ?? DEFAULT_BACKLOG);
    this.#address = endpoint.family === "AF_UNIX" ? endpoint.path : [bound.host, bound.port];
    if (endpoint.family === "AF_UNIX" && !endpoint.path.startsWith("\0")) removeAtExit(endpoint.path);
    this.listening = new Promise<void>((resolve, reject) => {
      this.#notListening = reject;
      server.once("listening", () => resolve());
      server.on("error", (err) => {
        if (!server.listening) {
          this.#bindError = err;
          for (const waiter of this.#accepting.splice(0)) waiter.fail(err);
          reject(err);
        } else {
          // accept(2) itself failed (EMFILE, ...): Python's accept() raises it.
          this.#accepting.shift()?.fail(err);
        }
      });
    });
    // Whoever cares awaits `listening` or accept(); unobserved, a failure must not be an unhandled rejection.
    this.listening.catch(() => {});
    server.listen({ fd: bound.fd });
  }

  /** `[host, port]` for TCP (the real port when 0 was asked for), the path for a Unix socket. */
  get address(): BoundAddress {
    if (this.#bindError) throw this.#bindError;
    const address = this.#address;
    return typeof address === "string" ? address : [address[0], address[1]];
  }

  /** The peer of the last connection accept() took: `[host, port]` for TCP, "" for a Unix socket (its client has no name), null before any. */
  get lastAccepted(): BoundAddress | null {
    const last = this.#lastAccepted;
    return last === null || typeof last === "string" ? last : [last[0], last[1]];
  }

  /** The next connection, authenticated if the listener has an authkey. Rejects with AuthenticationError for a peer with the wrong key. */
  accept<S = unknown, R = S>(): Promise<Connection<S, R>> {
    // A close() rejects pending accepts: one nobody awaits must not end the process.
    return handled(this.#accept<S, R>());
  }

  async #accept<S, R>(): Promise<Connection<S, R>> {
    const { socket, transport, error } = await this.#next();
    this.#lastAccepted = this.#endpoint.family === "AF_UNIX" ? "" : [socket.remoteAddress ?? "", socket.remotePort ?? 0];
    if (error !== undefined) throw error;
    return connectionOver<S, R>(transport ?? new SocketTransport(socket, this.#maxMessageSize), socket);
  }

  /** Authenticate a peer as soon as it arrives, within the handshake timeout; accept() then takes the outcome. */
  async #handshake(socket: Socket, key: Uint8Array): Promise<void> {
    const transport = new SocketTransport(socket, HANDSHAKE_LIMIT);
    this.#handshaking.add(transport);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      transport.destroy();
    }, this.#handshakeTimeout);
    // The listener keeps the process alive, not a stranger's handshake.
    timer.unref();
    try {
      await authenticate(transport, this.#maxMessageSize, async () => {
        await deliverChallenge(transport, key);
        await answerChallenge(transport, key);
      });
      this.#deliver({ socket, transport });
    } catch (err) {
      const error = timedOut ? new TimeoutError(`the peer did not complete the handshake within ${this.#handshakeTimeout} ms`) : err;
      if (!this.#closed) this.#deliver({ socket, error });
    } finally {
      clearTimeout(timer);
      this.#handshaking.delete(transport);
    }
  }

  #deliver(arrival: Arrival): void {
    const waiter = this.#accepting.shift();
    if (waiter) waiter.settle(arrival);
    else this.#incoming.push(arrival);
  }

  /** Stop listening (removing a Unix socket's file). Connections already accepted stay open; pending accept() calls reject. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Node never reports 'listening' for a server closed before it was bound.
    this.#notListening(closedListener());
    for (const waiter of this.#accepting.splice(0)) waiter.fail(closedListener());
    for (const { socket, transport } of this.#incoming.splice(0)) (transport ?? socket).destroy();
    for (const transport of this.#handshaking) transport.destroy();
    this.#server.close();
    // Node did not bind it (it adopted our descriptor), so Node will not remove the socket's file either.
    if (this.#endpoint.family === "AF_UNIX" && boundPaths.delete(this.#endpoint.path)) removeSocketFile(this.#endpoint.path);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  toString(): string {
    const where = this.#address;
    return `<Listener ${typeof where === "string" ? JSON.stringify(where) : `${where[0]}:${where[1]}`}${this.#closed ? " closed" : ""}>`;
  }

  #arrived(socket: Socket): void {
    // Until a transport takes it, an error on this socket must not crash the process; the transport reports it.
    socket.on("error", () => {});
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#authkey === null) this.#deliver({ socket });
    else void this.#handshake(socket, this.#authkey);
  }

  #next(): Promise<Arrival> {
    if (this.#closed) return Promise.reject(closedListener());
    if (this.#bindError) return Promise.reject(this.#bindError);
    const arrival = this.#incoming.shift();
    if (arrival) return Promise.resolve(arrival);
    return new Promise<Arrival>((resolve, reject) => this.#accepting.push({ settle: resolve, fail: reject }));
  }
}

/**
 * Connect to a Listener (ours or Python's) and return the Connection
 * (Python's multiprocessing.connection.Client). With an authkey, runs the
 * mutual challenge first; a wrong key rejects with AuthenticationError.
 */
export async function Client<S = unknown, R = S>(address: Address, options: ClientOptions = {}): Promise<Connection<S, R>> {
  if (address === undefined || address === null) throw new TypeError("Client(address) needs the address of a Listener");
  const endpoint = endpointOf(address, options.family);
  const key = authkeyOf(options.authkey);
  const [transport, socket] = await connect(endpoint, key === null ? MESSAGE_LIMIT : HANDSHAKE_LIMIT);
  if (key !== null) {
    await authenticate(transport, MESSAGE_LIMIT, async () => {
      await answerChallenge(transport, key);
      await deliverChallenge(transport, key);
    });
  }
  return connectionOver<S, R>(transport, socket);
}

function connect(endpoint: Endpoint, limit: number): Promise<[SocketTransport, Socket]> {
  const net = builtin("node:net");
  return new Promise((resolve, reject) => {
    const socket =
      endpoint.family === "AF_UNIX"
        ? net.connect({ path: endpoint.path })
        : // family 4: a host name resolves as Python's AF_INET does, to where Python listeners are.
          net.connect({ host: endpoint.host, port: endpoint.port, family: 4, noDelay: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      // Made in this callback so that no later socket error finds the socket without a listener.
      resolve([new SocketTransport(socket, limit), socket]);
    });
  });
}
