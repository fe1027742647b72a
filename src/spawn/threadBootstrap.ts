/* Entry point of a "thread" child: a Worker whose workerData is the start payload (see child.ts). */
import { runChild, type ChildHeader } from "./child.ts";
import { builtin } from "../runtime.ts";

const { threadId, workerData } = builtin("node:worker_threads");

const { header, body } = workerData as { header: ChildHeader; body: Uint8Array };
void runChild(header, body, [], threadId);
