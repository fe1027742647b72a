/*
 * Entry point of a "thread" child: a Worker whose workerData is the start
 * payload, or a spare (standby.ts) that waits for its payload as a message.
 */
import { builtin } from "../runtime.ts";
import { runChild, type ChildHeader } from "./child.ts";
import { preloadLibrary } from "./standby.ts";

const { parentPort, threadId, workerData } = builtin("node:worker_threads");

type Payload = { header: ChildHeader; body: Uint8Array };

const start = workerData as Payload | { standby: true };
if ("header" in start) {
  void runChild(start.header, start.body, [], threadId);
} else {
  const preloaded = preloadLibrary();
  parentPort!.once("message", (payload: Payload) => void preloaded.then(() => runChild(payload.header, payload.body, [], threadId)));
}
