/*
 * Entry point of a "spawn" child: `node [parent's execArgv] bootstrap.js
 * <daemon|plain> <parentPid>`. A daemon child first asks the kernel to kill
 * it when its parent dies, so it cannot outlive a SIGKILLed parent even
 * while its own code is busy. Then it reads the start payload (and socket
 * handles) from the IPC channel and runs the process (child.ts).
 */
import { constants } from "node:os";
import { native } from "../native.ts";
import { runChild, type ChildHeader } from "./child.ts";
import type { Handle } from "../reduction.ts";

const [, , mode, parentPid] = process.argv;
process.argv.splice(2);

if (mode === "daemon") {
  native().setParentDeathSignal(constants.signals.SIGKILL);
  // The parent may have died before the request took effect.
  if (process.ppid !== Number(parentPid)) process.kill(process.pid, "SIGKILL");
}

let header: ChildHeader | undefined;
let body: Uint8Array | undefined;
const handles: Handle[] = [];
let received = 0;

function onMessage(message: unknown, handle?: Handle): void {
  if (!header) {
    ({ header, body } = message as { header: ChildHeader; body: Uint8Array });
  } else {
    handles[(message as { handle: number }).handle] = handle!;
    received++;
  }
  if (received === header.handleCount) {
    process.off("message", onMessage);
    process.channel?.unref();
    void runChild(header, body!, handles, process.pid);
  }
}

process.on("message", onMessage);
