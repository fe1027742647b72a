/* Listener and Client (src/listener.ts) over TCP and Unix sockets, between our processes and with real Python. */
import { afterEach, test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import {
  AuthenticationError,
  BufferTooShort,
  EOFError,
  SerializationError,
  TimeoutError,
  getContext,
  type StartMethod,
  type Target,
} from "../src/index.ts";
import { BrokenPipeError } from "../src/errors.ts";
import type { Connection } from "../src/connection.ts";
import { Client, Listener, type Address, type BoundAddress } from "../src/listener.ts";
import * as targets from "./fixtures/listenerTargets.ts";
import { tempDir } from "./helpers.ts";

/** A hang guard, never a timing assertion. */
const HANG_MS = 60_000;
const SUITE_MS = 4 * HANG_MS;
const KEY = new TextEncoder().encode("the right key");
const WRONG_KEY = new TextEncoder().encode("the wrong key");
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

function start(method: StartMethod, target: Target, args: unknown[]) {
  const child = new (getContext(method).Process)({ target, args });
  child.start();
  return child;
}

function unixPath(): string {
  return join(tempDir(), "listener.sock");
}

function abstractName(): string {
  return `\0multiproc-test-${randomBytes(8).toString("hex")}`;
}

/** What a test opened: closed after it, passed or failed, so that a failure cannot leave a socket holding the test file open. */
const opened: Array<{ close(): void }> = [];

function track<T extends { close(): void }>(thing: T): T {
  opened.push(thing);
  return thing;
}

afterEach(() => {
  for (const thing of opened.splice(0)) thing.close();
});

/** An accepted connection and the client's end of it, in this process. */
async function pair(listener: Listener, authkey?: Uint8Array): Promise<[Connection, Connection]> {
  await listener.listening;
  return Promise.all([listener.accept().then(track), Client(listener.address, { authkey }).then(track)]);
}

/** A plain socket speaking Python's framing by hand, to play a misbehaving or hand-written peer. */
class RawPeer {
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #ended = false;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on("error", () => {});
  }

  static connect(address: BoundAddress): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = typeof address === "string" ? connect({ path: address }) : connect({ host: address[0], port: address[1] });
      socket.once("error", reject);
      socket.once("connect", () => resolve(new RawPeer(socket)));
    });
  }

  /** The next frame's payload, or null once the other side closed. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.#buffer.length >= 4) {
        const size = this.#buffer.readInt32BE(0);
        if (this.#buffer.length >= 4 + size) {
          const payload = this.#buffer.subarray(4, 4 + size);
          this.#buffer = this.#buffer.subarray(4 + size);
          return payload;
        }
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  send(payload: Uint8Array): void {
    const header = Buffer.alloc(4);
    header.writeInt32BE(payload.length);
    this.socket.write(Buffer.concat([header, payload]));
  }

  /** Resolves once the other side has closed the connection. */
  async closed(): Promise<void> {
    while ((await this.next()) !== null) {
      // skip what is still in flight
    }
  }
}

const OPENSSL_NAMES: Record<string, string> = { md5: "md5", sha256: "sha256", sha384: "sha384", sha3_256: "sha3-256", sha3_384: "sha3-384" };

function mac(digest: string, key: Uint8Array, message: Uint8Array): Buffer {
  return createHmac(OPENSSL_NAMES[digest]!, key).update(message).digest();
}

interface PythonRun {
  /** The first line the script prints. */
  firstLine: Promise<string>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function runPython(script: string, args: string[]): PythonRun {
  const child = spawn("python3", ["-c", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let announce: (line: string) => void;
  const firstLine = new Promise<string>((resolve) => (announce = resolve));
  const guard = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (stdout.includes("\n")) announce(stdout.slice(0, stdout.indexOf("\n")));
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(guard);
      announce("");
      resolve({ code, stdout, stderr });
    }),
  );
  return { firstLine, done };
}

const PYTHON_CLIENT = `
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
family, where, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
address = ("127.0.0.1", int(where)) if family == "tcp" else where
try:
    with Client(address, authkey=key) as c:
        c.send_bytes(b"hello from python")
        c.send_bytes(b"")
        c.send_bytes(bytes(range(256)) * 4096)
        reply = c.recv_bytes()
        c.send_bytes(reply[::-1])
        print("done", flush=True)
except AuthenticationError as e:
    print("AuthenticationError:", e, flush=True)
    sys.exit(3)
`;

const PYTHON_LISTENER = `
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Listener
family, key = sys.argv[1], sys.argv[2].encode()
address = ("127.0.0.1", 0) if family == "tcp" else sys.argv[3]
with Listener(address, authkey=key) as listener:
    print(listener.address[1] if family == "tcp" else listener.address, flush=True)
    try:
        with listener.accept() as c:
            data = c.recv_bytes()
            c.send_bytes(data.upper())
            c.send_bytes(bytes(range(256)) * 4096)
            print("received", data.decode(), flush=True)
            c.recv_bytes()
    except AuthenticationError as e:
        print("AuthenticationError:", e, flush=True)
        sys.exit(3)
`;

const families: Array<{ name: string; address: () => Address }> = [
  { name: "TCP", address: () => ["127.0.0.1", 0] },
  { name: "a Unix socket path", address: unixPath },
  { name: "a Linux abstract socket", address: abstractName },
];

describe("addresses and binding", { timeout: SUITE_MS }, () => {
  test("a TCP listener on port 0 reports [host, port] with the real port as soon as it is constructed", async () => {
    const listener = track(new Listener(["127.0.0.1", 0]));
    const [host, port] = listener.address as [string, number];
    assert.equal(host, "127.0.0.1");
    assert.ok(Number.isInteger(port) && port > 0);
    await listener.listening;
    listener.close();
  });

  test("{ host, port } is accepted, and 'localhost' binds IPv4 as Python's AF_INET does", async () => {
    const listener = track(new Listener({ host: "localhost", port: 0 }));
    await listener.listening;
    assert.equal((listener.address as [string, number])[0], "127.0.0.1");
    listener.close();
  });

  test("with no address: a Unix socket in the temp dir, whose file close() removes; family AF_INET gives 127.0.0.1", async () => {
    const listener = track(new Listener());
    const path = listener.address;
    assert.equal(typeof path, "string");
    await listener.listening;
    assert.ok(existsSync(path as string));
    listener.close();
    assert.equal(existsSync(path as string), false);

    const tcp = track(new Listener(undefined, { family: "AF_INET" }));
    await tcp.listening;
    assert.equal((tcp.address as [string, number])[0], "127.0.0.1");
    tcp.close();
  });

  test("a Unix path is the address at once, and its file goes with close()", async () => {
    const path = unixPath();
    const listener = track(new Listener(path));
    assert.equal(listener.address, path);
    await listener.listening;
    assert.ok(existsSync(path));
    listener.close();
    assert.equal(existsSync(path), false);
  });

  for (const family of families) {
    test(`a second Listener on the same address (${family.name}) throws EADDRINUSE from its constructor, as Python's does`, async () => {
      const first = track(new Listener(family.address()));
      await first.listening;
      assert.throws(() => new Listener(first.address), { code: "EADDRINUSE" });
      // The first still serves.
      const [server, client] = await pair(first);
      client.send("still here");
      assert.equal(await server.recv(), "still here");
      client.close();
      server.close();
      first.close();
    });
  }

  test("a family that contradicts the address, and a Windows pipe name, are refused", () => {
    assert.throws(() => new Listener(["127.0.0.1", 0], { family: "AF_UNIX" }), TypeError);
    assert.throws(() => new Listener(unixPath(), { family: "AF_INET" }), TypeError);
    assert.throws(() => new Listener("\\\\.\\pipe\\test"), TypeError);
    assert.throws(() => new Listener(["127.0.0.1", 70000]), RangeError);
  });

  test("Client to an address nobody listens on rejects with the OS error", async () => {
    await assert.rejects(Client(unixPath()), { code: "ENOENT" });
    const listener = track(new Listener(["127.0.0.1", 0]));
    await listener.listening;
    const address = listener.address;
    listener.close();
    await assert.rejects(Client(address), { code: "ECONNREFUSED" });
  });
});

describe("Listener lifecycle", { timeout: SUITE_MS }, () => {
  test("accept() after close() rejects; a pending accept() is rejected by close()", async () => {
    const listener = track(new Listener());
    const pending = listener.accept();
    listener.close();
    await assert.rejects(pending, /listener is closed/);
    await assert.rejects(listener.accept(), /listener is closed/);
    listener.close();
  });

  for (const family of families) {
    test(`close() right after construction (${family.name}) rejects listening and the pending accept()`, async () => {
      const listener = track(new Listener(family.address()));
      const accepted = listener.accept();
      listener.close();
      await Promise.all([assert.rejects(listener.listening, /listener is closed/), assert.rejects(accepted, /listener is closed/)]);
    });
  }

  test("many clients connecting at once are all accepted", async () => {
    const listener = track(new Listener(["127.0.0.1", 0]));
    await listener.listening;
    const n = 32;
    const clients = await Promise.all(Array.from({ length: n }, () => Client(listener.address).then(track)));
    clients.forEach((client, i) => client.send(i));
    const seen: number[] = [];
    for (let i = 0; i < n; i++) {
      const conn = track(await listener.accept());
      seen.push((await conn.recv()) as number);
      conn.close();
    }
    assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    for (const client of clients) client.close();
    listener.close();
  });

  test("a Unix socket file left open is removed when the process exits", { timeout: HANG_MS }, async () => {
    const path = unixPath();
    const child = start("spawn", targets.listenAndLeave, [path]);
    await child.join();
    assert.equal(child.exitCode, 0);
    assert.equal(existsSync(path), false);
  });

  test("accept() right after construction waits for the binding; lastAccepted names the peer", async () => {
    const listener = track(new Listener(["127.0.0.1", 0]));
    assert.equal(listener.lastAccepted, null);
    const accepted = listener.accept();
    await listener.listening;
    const client = track(await Client(listener.address));
    const server = await accepted;
    const last = listener.lastAccepted;
    assert.ok(Array.isArray(last));
    assert.equal(last[0], "127.0.0.1");
    assert.ok(last[1] > 0);
    client.close();
    server.close();
    listener.close();
  });

  test("Listener and connections are disposable: `using` closes them", async () => {
    let path: string;
    {
      using listener = new Listener();
      path = listener.address as string;
      const [server, client] = await pair(listener);
      using a = server;
      using b = client;
      b.send(1);
      assert.equal(await a.recv(), 1);
    }
    assert.equal(existsSync(path), false);
    await using listener = new Listener(["127.0.0.1", 0]);
    await listener.listening;
  });

  test("connections that connected, wrote and closed before accept() are returned in order with their data (bpo-14725)", async () => {
    const listener = track(new Listener());
    const first = start("spawn", targets.sendAndLeave, [listener.address, ["first", 1]]);
    await first.join();
    const second = start("spawn", targets.sendAndLeave, [listener.address, ["second", { n: 2 }]]);
    await second.join();
    assert.equal(first.exitCode, 0);
    assert.equal(second.exitCode, 0);
    const a = track(await listener.accept());
    assert.equal(await a.recv(), "first");
    assert.equal(await a.recv(), 1);
    await assert.rejects(a.recv(), EOFError);
    const b = track(await listener.accept());
    assert.equal(await b.recv(), "second");
    assert.deepEqual(await b.recv(), { n: 2 });
    await assert.rejects(b.recv(), EOFError);
    a.close();
    b.close();
    listener.close();
  });
});

describe("a child process connects with Client", { timeout: SUITE_MS }, () => {
  for (const method of ["spawn", "thread"] as StartMethod[]) {
    for (const family of families) {
      test(`${method}: over ${family.name}, with an authkey, values and bytes both ways`, async () => {
        const listener = track(new Listener(family.address(), { authkey: KEY }));
        await listener.listening;
        const child = start(method, targets.sendThenEcho, [listener.address, KEY, [42, "text", { nested: [1n, new Date(0)] }]]);
        const conn = track(await listener.accept());
        assert.equal(await conn.recv(), 42);
        assert.equal(await conn.recv(), "text");
        assert.deepEqual(await conn.recv(), { nested: [1n, new Date(0)] });
        assert.equal(text(await conn.recvBytes()), "raw bytes from the child");
        conn.send({ echo: "me" });
        assert.deepEqual(await conn.recv(), { echo: "me" });
        conn.close();
        await child.join();
        assert.equal(child.exitCode, 0);
        listener.close();
      });
    }
  }
});

describe("authentication", { timeout: SUITE_MS }, () => {
  test("a wrong key fails on both sides as in Python, and the listener then serves a client with the right key", async () => {
    const listener = track(new Listener(["127.0.0.1", 0], { authkey: KEY }));
    await listener.listening;
    const intruder = start("spawn", targets.connectWithWrongKey, [listener.address, WRONG_KEY]);
    await assert.rejects(listener.accept(), (err: unknown) => err instanceof AuthenticationError && err.message === "digest received was wrong");
    await intruder.join();
    assert.equal(intruder.exitCode, 0, "the child saw 'digest sent was rejected'");

    const friend = start("spawn", targets.sendThenEcho, [listener.address, KEY, ["welcome"]]);
    const conn = track(await listener.accept());
    assert.equal(await conn.recv(), "welcome");
    conn.close();
    await friend.join();
    assert.equal(friend.exitCode, 0);
    listener.close();
  });

  test("a client without a key gets no user data from an authenticating listener", async () => {
    const listener = track(new Listener(["127.0.0.1", 0], { authkey: KEY }));
    await listener.listening;
    const accepted = listener.accept();
    const client = track(await Client(listener.address));
    // Its first message is taken for an answer to the challenge, and refused.
    client.sendBytes(bytes("not an answer"));
    await assert.rejects(accepted, AuthenticationError);
    assert.ok(text(await client.recvBytes()).startsWith("#CHALLENGE#"));
    assert.equal(text(await client.recvBytes()), "#FAILURE#");
    await assert.rejects(client.recvBytes(), EOFError);
    client.close();
    listener.close();
  });

  test("an empty key still authenticates both ends (bpo-43952)", async () => {
    const empty = new Uint8Array(0);
    const listener = track(new Listener(unixPath(), { authkey: empty }));
    const [server, client] = await pair(listener, empty);
    client.send("in");
    assert.equal(await server.recv(), "in");
    await Promise.all([assert.rejects(listener.accept(), AuthenticationError), assert.rejects(Client(listener.address, { authkey: KEY }), AuthenticationError)]);
    server.close();
    client.close();
    listener.close();
  });

  for (const digest of ["", "md5", "sha256", "sha384", "sha3_256", "sha3_384"]) {
    test(`Client answers a ${digest ? `{${digest}}` : "legacy 20-byte MD5"} challenge, and accepts the same form back`, async () => {
      const answered = new Promise<void>((resolve, reject) => {
        const server = createServer((socket) => {
          const peer = new RawPeer(socket);
          void (async () => {
            const message = digest ? Buffer.concat([Buffer.from(`{${digest}}`), randomBytes(40)]) : randomBytes(20);
            peer.send(Buffer.concat([Buffer.from("#CHALLENGE#"), message]));
            const response = await peer.next();
            const expected = digest ? Buffer.concat([Buffer.from(`{${digest}}`), mac(digest, KEY, message)]) : mac("md5", KEY, message);
            assert.deepEqual(response, expected);
            peer.send(Buffer.from("#WELCOME#"));
            const challenge = (await peer.next())!;
            assert.equal(challenge.subarray(0, 19).toString(), "#CHALLENGE#{sha256}");
            assert.equal(challenge.length, 19 + 40);
            const ours = challenge.subarray(11);
            peer.send(digest ? Buffer.concat([Buffer.from(`{${digest}}`), mac(digest, KEY, ours)]) : mac("md5", KEY, ours));
            assert.equal((await peer.next())!.toString(), "#WELCOME#");
            assert.equal((await peer.next())!.toString(), "after the handshake");
            socket.end();
            server.close();
          })().then(resolve, reject);
        });
        server.listen(0, "127.0.0.1", async () => {
          try {
            const port = (server.address() as { port: number }).port;
            const conn = track(await Client(["127.0.0.1", port], { authkey: KEY }));
            conn.sendBytes(bytes("after the handshake"));
            await assert.rejects(conn.recv(), EOFError);
            conn.close();
          } catch (err) {
            reject(err);
          }
        });
      });
      await answered;
    });
  }

  test("malformed handshakes from raw sockets reject that accept() and never the listener", async () => {
    const listener = track(new Listener(["127.0.0.1", 0], { authkey: KEY }));
    await listener.listening;
    const misbehave: Array<[string, (peer: RawPeer) => void, RegExp | typeof EOFError | typeof AuthenticationError]> = [
      ["an answer bigger than 256 bytes", (peer) => peer.send(new Uint8Array(257)), /bad message length/],
      ["a header claiming a megabyte", (peer) => peer.socket.write(Buffer.from([0, 0x10, 0, 0, 1, 2, 3])), /bad message length/],
      ["a negative length", (peer) => peer.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xfb])), /bad message length/],
      ["-1 and a huge 8-byte length", (peer) => peer.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 0, 0])), /bad message length/],
      ["garbage of a legal size", (peer) => peer.send(randomBytes(200)), AuthenticationError],
      ["an answer with an unknown digest", (peer) => peer.send(Buffer.concat([Buffer.from("{sha1}"), randomBytes(20)])), AuthenticationError],
      ["hanging up mid-handshake", (peer) => peer.socket.destroy(), EOFError],
    ];
    for (const [what, act, expected] of misbehave) {
      const accepted = listener.accept();
      const peer = await RawPeer.connect(listener.address);
      assert.ok((await peer.next())!.toString().startsWith("#CHALLENGE#"), what);
      act(peer);
      await assert.rejects(accepted, expected, what);
      await peer.closed();
    }
    const [server, client] = await pair(listener, KEY);
    client.send("served after all that");
    assert.equal(await server.recv(), "served after all that");
    server.close();
    client.close();
    listener.close();
  });
});

describe("a listener that strangers can reach", { timeout: SUITE_MS }, () => {
  test("silent peers that connected first never delay a client with the key; each is dropped with TimeoutError after handshakeTimeout", async () => {
    const listener = track(new Listener(["127.0.0.1", 0], { authkey: KEY, handshakeTimeout: 3000 }));
    await listener.listening;
    const silent = await Promise.all(Array.from({ length: 5 }, () => RawPeer.connect(listener.address)));
    const [server, client] = await pair(listener, KEY);
    client.send("first through the door");
    assert.equal(await server.recv(), "first through the door", "the keyed client was accepted while five silent peers were still in their handshakes");
    for (let i = 0; i < silent.length; i++) {
      await assert.rejects(listener.accept(), (err: unknown) => err instanceof TimeoutError && /did not complete the handshake within 3000 ms/.test(err.message));
    }
    for (const peer of silent) {
      assert.ok((await peer.next())!.toString().startsWith("#CHALLENGE#"));
      assert.equal(await peer.next(), null, "the silent peer was disconnected");
    }
    server.close();
    client.close();
  });

  test("a message over maxMessageSize drops only the connection that sent it", async () => {
    const listener = track(new Listener(["127.0.0.1", 0], { authkey: KEY, maxMessageSize: 1024 }));
    await listener.listening;
    const [victim, greedy] = await pair(listener, KEY);
    const [server, client] = await pair(listener, KEY);
    greedy.sendBytes(new Uint8Array(2048));
    await assert.rejects(victim.recvBytes(), /bad message length: 2048 bytes, more than the 1024 allowed in a message/);
    client.send("still served");
    assert.equal(await server.recv(), "still served");
    for (const conn of [victim, greedy, server, client]) conn.close();
  });

  test("close() frees the address at once: the same port can be bound again right away", () => {
    const first = new Listener(["127.0.0.1", 0], { authkey: KEY });
    const address = first.address as [string, number];
    first.close();
    const second = track(new Listener(address));
    assert.deepEqual(second.address, address);
  });

  test("handshakeTimeout and maxMessageSize must be positive numbers", () => {
    assert.throws(() => new Listener(["127.0.0.1", 0], { handshakeTimeout: 0 }), RangeError);
    assert.throws(() => new Listener(["127.0.0.1", 0], { maxMessageSize: -1 }), RangeError);
  });
});

describe("messages over a socket", { timeout: SUITE_MS }, () => {
  test("sendBytes/recvBytes: slices, empty messages, exact bytes, and 16 MiB both ways", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    const data = bytes("abcdefghijklmnopqrstuvwxyz");
    client.sendBytes(data);
    client.sendBytes(data, 3, 5);
    client.sendBytes(data, 26);
    client.sendBytes(new Uint8Array([3, 255, 0]));
    assert.equal(text(await server.recvBytes()), "abcdefghijklmnopqrstuvwxyz");
    assert.equal(text(await server.recvBytes()), "defgh");
    assert.equal((await server.recvBytes()).length, 0);
    assert.deepEqual(await server.recvBytes(), new Uint8Array([3, 255, 0]));
    const big = randomBytes(16 * 2 ** 20);
    server.sendBytes(big);
    client.sendBytes(big);
    assert.ok(Buffer.from(await client.recvBytes()).equals(big));
    assert.ok(Buffer.from(await server.recvBytes()).equals(big));
    await assert.rejects(async () => {
      client.sendBytes(data);
      await server.recvBytes(10);
    }, /bad message length/);
    server.close();
    client.close();
    listener.close();
  });

  test("a slow reader gets every message of a fast sender, in order (the socket pauses and resumes)", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    const count = 48;
    for (let i = 0; i < count; i++) client.sendBytes(new Uint8Array(2 ** 20).fill(i));
    client.send("end");
    for (let i = 0; i < count; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      const message = await server.recvBytes();
      assert.equal(message.length, 2 ** 20);
      assert.ok(message[0] === i && message[message.length - 1] === i, `message ${i}`);
    }
    assert.equal(await server.recv(), "end");
    server.close();
    client.close();
    listener.close();
  });

  test("recvBytesInto fills the buffer at an offset; a buffer too short gives BufferTooShort with the whole message", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    client.sendBytes(bytes("hello"));
    client.sendBytes(bytes("too long for it"));
    const target = new Uint8Array(8);
    assert.equal(await server.recvBytesInto(target, 2), 5);
    assert.deepEqual(target, new Uint8Array([0, 0, ...bytes("hello"), 0]));
    await assert.rejects(server.recvBytesInto(new Uint8Array(4)), (err: unknown) => err instanceof BufferTooShort && text(err.data) === "too long for it");
    server.close();
    client.close();
    listener.close();
  });

  test("poll: false when empty, true for an empty message until it is read; boundaries kept; polling never consumes", async () => {
    const listener = track(new Listener(["127.0.0.1", 0]));
    const [server, client] = await pair(listener);
    assert.equal(await client.poll(), false);
    assert.equal(await client.poll(-1), false);
    assert.equal(await client.poll(20), false);
    server.sendBytes(new Uint8Array(0));
    assert.equal(await client.poll(HANG_MS), true, "data sent from the accepted side is seen (bpo-16955)");
    assert.equal(await client.poll(), true);
    assert.equal(await client.poll(), true);
    assert.equal((await client.recvBytes()).length, 0);
    assert.equal(await client.poll(), false);
    const sent = ["a", "", "bc", "", "", "def"];
    for (const part of sent) server.sendBytes(bytes(part));
    server.send("last");
    const got: string[] = [];
    for (let i = 0; i < sent.length; i++) {
      assert.equal(await client.poll(HANG_MS), true);
      got.push(text(await client.recvBytes()));
    }
    assert.deepEqual(got, sent);
    assert.equal(await client.recv(), "last");
    server.close();
    client.close();
    listener.close();
  });

  test("a timed recv gives TimeoutError, an aborted one the abort reason, and neither loses the next message", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    await assert.rejects(client.recv({ timeout: 20 }), TimeoutError);
    const controller = new AbortController();
    const aborted = client.recv({ signal: controller.signal });
    controller.abort(new Error("stop"));
    await assert.rejects(aborted, /stop/);
    server.send("kept");
    assert.equal(await client.recv({ timeout: HANG_MS }), "kept");
    server.close();
    client.close();
    listener.close();
  });

  test("after the peer closes: recv gives EOFError once what was sent is read, poll is true, and send throws BrokenPipeError", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    client.send("parting words");
    client.close();
    assert.equal(client.closed, true);
    assert.equal(await server.recv(), "parting words");
    await assert.rejects(server.recv(), EOFError);
    await assert.rejects(server.recvBytes(), EOFError);
    assert.equal(await server.poll(), true);
    assert.throws(() => server.send("anyone?"), BrokenPipeError);
    server.close();
    await assert.rejects(server.recv(), /closed/);
    listener.close();
  });

  test("closing a connection rejects a recv waiting on it", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    const waiting = server.recv();
    server.close();
    await assert.rejects(waiting, /closed/);
    client.close();
    listener.close();
  });

  test("a peer that hangs up mid-message gives EOFError; a frame over the limit drops only that connection", async () => {
    const listener = track(new Listener());
    await listener.listening;
    const tornAccept = listener.accept();
    const torn = await RawPeer.connect(listener.address);
    torn.socket.end(Buffer.from([0, 0, 0, 10, 1, 2, 3]));
    const tornConn = track(await tornAccept);
    await assert.rejects(tornConn.recvBytes(), (err: unknown) => err instanceof EOFError && /middle of a message/.test(err.message));

    const hugeAccept = listener.accept();
    const huge = await RawPeer.connect(listener.address);
    huge.socket.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    const conn = track(await hugeAccept);
    assert.equal(await conn.poll(HANG_MS), true);
    await assert.rejects(conn.recvBytes(), /bad message length/);
    await assert.rejects(conn.recvBytes(), /bad message length/);
    await huge.closed();

    const [server, client] = await pair(listener);
    client.send("fine");
    assert.equal(await server.recv(), "fine");
    for (const c of [tornConn, conn, server, client]) c.close();
    listener.close();
  });

  test("socket connections: recvSync and pollSync read the socket with the calling thread; they cannot be sent to another process", async () => {
    const listener = track(new Listener());
    const [server, client] = await pair(listener);
    assert.equal(server.pollSync(0), false);
    assert.equal(server.pollSync(20), false);
    assert.throws(() => server.recvSync(20), TimeoutError);
    client.send("over the socket");
    client.send({ kind: "dumped", list: [1, "two"] });
    client.sendBytes(Buffer.from("bare"));
    assert.equal(server.pollSync(HANG_MS), true);
    assert.equal(server.recvSync(HANG_MS), "over the socket");
    assert.deepEqual(server.recvSync(HANG_MS), { kind: "dumped", list: [1, "two"] });
    assert.equal(Buffer.from(server.recvBytesSync()).toString(), "bare");
    // What the thread read and what the event loop reads interleave in order.
    client.send(1);
    assert.equal(await server.recv(), 1);
    client.send(2);
    client.send(3);
    assert.equal(server.recvSync(HANG_MS), 2);
    assert.equal(await server.recv(), 3);
    server.send("back");
    assert.equal(client.recvSync(HANG_MS), "back");
    assert.throws(() => client.send(server), SerializationError);
    client.close();
    // The close goes out through this process's event loop (both ends live here): wait for it without blocking.
    assert.equal(await server.poll(HANG_MS), true);
    assert.equal(server.pollSync(HANG_MS), true);
    assert.throws(() => server.recvSync(HANG_MS), EOFError);
    server.close();
    listener.close();
  });
});

describe("interoperability with Python's multiprocessing.connection", { timeout: SUITE_MS }, () => {
  for (const family of ["tcp", "unix"]) {
    test(`Python's Client talks to our Listener over ${family}, and is refused with the wrong key`, async () => {
      const listener = track(new Listener(family === "tcp" ? ["127.0.0.1", 0] : unixPath(), { authkey: KEY }));
      await listener.listening;
      const where = family === "tcp" ? String((listener.address as [string, number])[1]) : (listener.address as string);
      const python = runPython(PYTHON_CLIENT, [family, where, text(KEY)]);
      const conn = track(await listener.accept());
      assert.equal(text(await conn.recvBytes()), "hello from python");
      assert.equal((await conn.recvBytes()).length, 0);
      const big = await conn.recvBytes();
      assert.equal(big.length, 256 * 4096);
      assert.ok(big.every((b, i) => b === i % 256));
      conn.sendBytes(bytes("from node"));
      assert.equal(text(await conn.recvBytes()), "edon morf");
      await assert.rejects(conn.recvBytes(), EOFError);
      conn.close();
      const run = await python.done;
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), "done");

      const intruder = runPython(PYTHON_CLIENT, [family, where, text(WRONG_KEY)]);
      await assert.rejects(listener.accept(), (err: unknown) => err instanceof AuthenticationError && err.message === "digest received was wrong");
      const refused = await intruder.done;
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(refused.stdout, /AuthenticationError: digest sent was rejected/);
      listener.close();
    });

    test(`our Client talks to Python's Listener over ${family}, and is refused with the wrong key`, async () => {
      const path = unixPath();
      const python = runPython(PYTHON_LISTENER, [family, text(KEY), path]);
      const line = await python.firstLine;
      const address: Address = family === "tcp" ? ["127.0.0.1", Number(line)] : line;
      const conn = track(await Client(address, { authkey: KEY }));
      conn.sendBytes(bytes("shout this"));
      assert.equal(text(await conn.recvBytes()), "SHOUT THIS");
      const big = await conn.recvBytes();
      assert.equal(big.length, 256 * 4096);
      conn.sendBytes(new Uint8Array(0));
      conn.close();
      const run = await python.done;
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /received shout this/);

      const other = runPython(PYTHON_LISTENER, [family, text(KEY), unixPath()]);
      const otherLine = await other.firstLine;
      await assert.rejects(
        Client(family === "tcp" ? ["127.0.0.1", Number(otherLine)] : otherLine, { authkey: WRONG_KEY }),
        (err: unknown) => err instanceof AuthenticationError && err.message === "digest sent was rejected",
      );
      const refused = await other.done;
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(refused.stdout, /AuthenticationError: digest received was wrong/);
    });
  }
});
