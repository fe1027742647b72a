/*
 * The "spawn" start method (Python's popen_spawn_posix.py): a new Node.js
 * process running bootstrap.ts, with the parent's execArgv (so `--import tsx`
 * and friends load the same way), stdin closed, stdout/stderr shared.
 *
 * The start payload reaches the child on fd 4 by a path that survives the
 * parent: IPC writes are asynchronous, and a parent killed right after
 * start() would otherwise take the payload with it (Python writes its
 * pickled Process into a pipe for the same reason). A cold child inherits an
 * anonymous in-memory file written before it exists; a spare (standby.ts)
 * blocks reading a pipe that start() writes synchronously. The IPC channel
 * (fd 3) carries socket handles, once the child asks for them, and tells the
 * child when its parent is gone.
 */
import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";

import { ProcessError } from "../errors.ts";
import type { Handle } from "../reduction.ts";
import { holdCounter, type ChildHandle } from "./lifecycle.ts";
import type { ChildHeader } from "./child.ts";
import { native } from "../native.ts";
import { builtin } from "../runtime.ts";
import { replenish, takeSpare } from "./standby.ts";
import { childExecArgv } from "./execArgv.ts";
import { isInherited, type LaunchOptions } from "./launchOptions.ts";
import type { Readable } from "node:stream";

const { closeSync, existsSync, writeSync } = builtin("node:fs");
const { serialize } = builtin("node:v8");
const { constants } = builtin("node:os");
const { extname } = builtin("node:path");
const { fileURLToPath } = builtin("node:url");

/** The fd a spawn child reads its payload from (after stdin, stdout, stderr and the IPC channel). */
export const PAYLOAD_FD = 4;
/** The message a child sends when it is ready to receive its socket handles. */
export const HANDLES_PLEASE = "multiproc:handles";

/** A handle on its way to a child, with the bytes the parent had already read from it. */
export interface HandleMessage {
  handle: number;
  buffered?: Uint8Array;
}

const bootstrapPath = fileURLToPath(new URL(`./bootstrap${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

// Bundled into an app, the library has neither the file its children start from nor its native addon: say so
// when the app starts, rather than let every child die with exit code 1.
if (!existsSync(bootstrapPath)) {
  throw new Error(
    `multiproc cannot run from a bundle: ${fileURLToPath(import.meta.url)} contains its code, but its children start ` +
      `from its own files (${bootstrapPath} is missing) and it loads a native addon, which a bundle does not carry. ` +
      `Mark multiproc external when bundling (esbuild: --external:multiproc or --packages=external) and ship it in node_modules.`,
  );
}

export function startSpawnChild(header: ChildHeader, body: Buffer, handles: readonly Handle[], launch: LaunchOptions): ChildHandle {
  const spare = isInherited(launch) ? takeSpare<SpawnedChild>("spawn", fingerprint) : null;
  const child = spare?.launch(header, body, handles) ?? SpawnedChild.cold(header, body, handles, launch);
  replenish("spawn", fingerprint, () => SpawnedChild.standby());
  return child;
}

/** What a spare spawn child inherited when it started; it may only be used while this is unchanged. */
function fingerprint(): string {
  return JSON.stringify([process.cwd(), process.execArgv, process.env]);
}

/** Exit code as Python reports it: the code, or -N for death by signal N. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return -(constants.signals[signal] ?? 1);
  return code ?? 1;
}

function spawnBootstrap(payloadFd: number, name: string, launch: LaunchOptions = {}): ChildProcess {
  const { spawn } = builtin("node:child_process");
  const execArgv = [...(launch.execArgv ?? childExecArgv())];
  if (launch.maxOldGenerationSizeMb !== undefined) execArgv.push(`--max-old-space-size=${launch.maxOldGenerationSizeMb}`);
  const output = launch.stdio ?? "inherit";
  const child = spawn(process.execPath, [...execArgv, bootstrapPath, String(process.pid)], {
    stdio: ["ignore", output, output, "ipc", payloadFd],
    serialization: "advanced",
    env: launch.env ?? process.env,
    cwd: launch.cwd,
  });
  // Failures to start, and IPC errors after the child died, end in 'exit'.
  child.on("error", () => {});
  if (child.pid === undefined) throw new ProcessError(`failed to start a child process for ${name}`);
  return child;
}

class SpawnedChild implements ChildHandle {
  readonly pid: number;
  daemon = false;
  readonly exited: Promise<number>;
  #child: ChildProcess;
  #exitCode: number | null = null;
  readonly hold: () => () => void;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** A spare's end of its payload pipe, until launch(). */
  #payloadPipe: number | null = null;

  /** Start a child the cold way: its payload is in an anonymous file before it exists. */
  static cold(header: ChildHeader, body: Buffer, handles: readonly Handle[], launch: LaunchOptions): SpawnedChild {
    const payload = native().anonymousFile();
    if (payload < 0) throw new ProcessError(`cannot create the start payload of ${header.name} (errno ${-payload})`);
    let child: SpawnedChild;
    try {
      writeSync(payload, serialize({ header, body }));
      child = new SpawnedChild(spawnBootstrap(payload, header.name, launch));
    } finally {
      closeSync(payload);
    }
    child.#configure(header, handles);
    return child;
  }

  /** Start a spare that boots and then blocks reading its payload pipe. */
  static standby(): SpawnedChild | null {
    const fds = native().pipe();
    if (typeof fds === "number") return null;
    const [reader, writer] = fds;
    try {
      const child = new SpawnedChild(spawnBootstrap(reader, "a standby child"));
      child.#payloadPipe = writer;
      return child;
    } catch {
      closeSync(writer);
      return null;
    } finally {
      closeSync(reader);
    }
  }

  private constructor(child: ChildProcess) {
    this.pid = child.pid!;
    this.#child = child;
    this.hold = holdCounter(child);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exitCode = exitCodeOf(code, signal);
        resolve(this.#exitCode);
      });
    });
    child.unref();
    child.channel?.unref();
    // Node.js drops piped output nobody listens to when the child exits; read into a stream of our own, which
    // keeps it (with backpressure) for a caller who reads after join().
    const { PassThrough } = builtin("node:stream");
    this.stdout = child.stdout && child.stdout.pipe(new PassThrough());
    this.stderr = child.stderr && child.stderr.pipe(new PassThrough());
  }



  /** Hand a spare its payload. Data written to a pipe survives this process, as the anonymous file does. */
  launch(header: ChildHeader, body: Buffer, handles: readonly Handle[]): SpawnedChild | null {
    const pipe = this.#payloadPipe!;
    this.#payloadPipe = null;
    try {
      if (this.poll() !== null) return null;
      const data = serialize({ header, body });
      for (let written = 0; written < data.length; ) written += writeSync(pipe, data, written);
    } catch {
      this.kill();
      return null;
    } finally {
      closeSync(pipe);
    }
    this.#configure(header, handles);
    return this;
  }

  discard(): void {
    this.kill();
    if (this.#payloadPipe !== null) closeSync(this.#payloadPipe);
    this.#payloadPipe = null;
  }

  #configure(header: ChildHeader, handles: readonly Handle[]): void {
    this.daemon = header.daemon;
    // Piped output keeps this process reading until the child closes it, as Node's own children do; a daemon
    // child must not keep it alive, though, or it would never reach the exit that stops the daemon.
    if (header.daemon) for (const stream of [this.#child.stdout, this.#child.stderr]) (stream as Socket | null)?.unref();
    if (handles.length === 0) return;
    const child = this.#child;
    const { Socket } = builtin("node:net");
    for (const handle of handles) if (handle instanceof Socket) stopReading(handle);
    child.once("message", (message) => {
      if (message !== HANDLES_PLEASE) return;
      handles.forEach((handle, index) => {
        const sent: HandleMessage = { handle: index };
        if (handle instanceof Socket && handle.readableLength > 0) sent.buffered = bytesOf(handle.read() as Buffer | string);
        // A socket is closed in the parent once sent (keepOpen defaults to false); a server must be closed by hand.
        child.send(sent, handle, {}, () => {
          if (!(handle instanceof Socket)) handle.close();
        });
      });
    });
  }

  get ident(): number {
    return this.pid;
  }

  /** The exit code once the event loop has reaped the child (isAlive() stays true until then, as DESIGN says). */
  poll(): number | null {
    return this.#exitCode;
  }

  terminate(): void {
    if (this.poll() === null) this.#child.kill("SIGTERM");
  }

  kill(): void {
    if (this.poll() === null) this.#child.kill("SIGKILL");
  }

}

/**
 * Stop this process reading from a socket that is being handed to a child:
 * the data that has not arrived yet stays in the kernel for the child, and
 * what was already read goes with the handle (HandleMessage.buffered).
 * Node.js itself would read on and drop those bytes.
 */
function stopReading(socket: Socket): void {
  socket.pause();
  // readStop() is the only way to stop libuv reading ahead; pause() alone keeps filling the buffer.
  (socket as unknown as { _handle?: { readStop?(): number } })._handle?.readStop?.();
}

function bytesOf(chunk: Buffer | string | null): Uint8Array | undefined {
  if (chunk === null) return undefined;
  return typeof chunk === "string" ? Buffer.from(chunk) : chunk;
}

