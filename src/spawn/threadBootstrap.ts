/* Entry point of a "thread" child: a Worker whose workerData is the start payload (see child.ts). */
import { threadId, workerData } from "node:worker_threads";
import { runChild, type ChildHeader } from "./child.ts";

const { header, body } = workerData as { header: ChildHeader; body: Uint8Array };
void runChild(header, body, [], threadId);
