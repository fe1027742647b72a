/*
 * Entry point of a "spawn" child: `node [parent's execArgv] bootstrap.js
 * <parentPid>`, with its start payload on fd 4 (see spawnChild.ts). A daemon
 * child asks the kernel to kill it when its parent dies, so it cannot
 * outlive a SIGKILLed parent even while its own code is busy. Socket
 * handles, if any, are then requested over the IPC channel. Then the process
 * runs (child.ts).
 */

import { native } from "../native.ts";
import { runChild, type ChildHeader } from "./child.ts";
import { HANDLES_PLEASE, PAYLOAD_FD, type HandleMessage } from "./spawnChild.ts";
import type { Handle } from "../reduction.ts";
import type { Socket } from "node:net";
import { builtin } from "../runtime.ts";
import { preloadLibrary } from "./standby.ts";

const { closeSync, fstatSync, readSync } = builtin("node:fs");
const { constants } = builtin("node:os");
const { deserialize } = builtin("node:v8");

const parentPid = Number(process.argv[2]);
process.argv.splice(2);

const diesWithParent = () => {
  native().setParentDeathSignal(constants.signals.SIGKILL);
  // The parent may have died before the request took effect.
  if (process.ppid !== parentPid) process.kill(process.pid, "SIGKILL");
};

// A spare (standby.ts) reads a pipe, and until it has a payload it is nobody's child: it dies with its parent.
// Neither the check nor the read may leave a pipe's stat in fs's shared (non-bigint) stat array: Node.js's
// realpathSync reads that array for path parts it has cached, takes "a pipe" for "stop resolving", and the
// user's `import "multiproc"` through a symlink (pnpm, npm link) then loads a second copy of the library.
const spare = fstatSync(PAYLOAD_FD, { bigint: true }).isFIFO();
if (spare) diesWithParent();
let payload: Buffer;
if (spare) {
  // While nobody waits for it, a spare loads what its payload will need (a pool worker's modules, the
  // classes that travel): for a child started from it, that is time off the start.
  await preloadLibrary();
  payload = readPipe(PAYLOAD_FD);
  // The parent closed the pipe without a payload: it discarded this spare.
  if (payload.length === 0) process.exit(0);
} else {
  payload = Buffer.allocUnsafe(fstatSync(PAYLOAD_FD).size);
  readSync(PAYLOAD_FD, payload, 0, payload.length, 0);
}
closeSync(PAYLOAD_FD);
const { header, body } = deserialize(payload) as { header: ChildHeader; body: Uint8Array };

if (header.daemon && !spare) diesWithParent();
if (!header.daemon && spare) native().setParentDeathSignal(0);

const handles: Handle[] = [];
if (header.handleCount === 0) {
  process.channel?.unref();
  void runChild(header, body, handles, process.pid);
} else {
  let received = 0;
  const early = new Map<Handle, { waiting: Socket[]; keep: (socket: Socket) => void }>();
  const onMessage = (message: HandleMessage, handle?: Handle) => {
    handles[message.handle] = handle!;
    if ("unshift" in handle!) {
      if (message.buffered) handle.unshift(Buffer.from(message.buffered));
    } else {
      // A server handle accepts at once; keep what arrives before the target listens, and replay it.
      const waiting: Socket[] = [];
      const keep = (socket: Socket) => waiting.push(socket);
      early.set(handle!, { waiting, keep });
      handle!.on("connection", keep);
    }
    if (++received < header.handleCount) return;
    process.off("message", onMessage);
    process.channel?.unref();
    void runChild(header, body, handles, process.pid, () => {
      for (const [server, { waiting, keep }] of early) {
        server.off("connection", keep);
        for (const socket of waiting) server.emit("connection", socket);
      }
    });
  };
  process.on("message", onMessage);
  process.send!(HANDLES_PLEASE);
}

function readPipe(fd: number): Buffer {
  const chunks: Buffer[] = [];
  for (;;) {
    const chunk = Buffer.allocUnsafe(65536);
    const read = readSync(fd, chunk, 0, chunk.length, null);
    if (read === 0) return Buffer.concat(chunks);
    chunks.push(chunk.subarray(0, read));
  }
}
