/*
 * The child's side of start (Python's spawn._main + BaseProcess._bootstrap),
 * shared by both start methods: rebuild the Process object from the
 * payload, importing the modules its target (or subclass) lives in, then run
 * it. An uncaught error prints `Process <name>:` and the error to stderr and
 * exits with code 1. After run() settles the child lives on while its event
 * loop has work, like any Node.js program.
 */
import { loads, type Handle } from "../reduction.ts";
import { ParentProcess, Process, selfProcess, setBootstrapping, setCurrentProcess, type Target } from "../process.ts";
import type { StartMethod } from "../context.ts";
import { silenceNodeTest } from "./testFiles.ts";
import { enableTypeScriptLoader } from "./typescript.ts";

import { reportUncaught } from "./uncaught.ts";

/** What a child needs to know about itself before it can read the rest of the payload. */
export interface ChildHeader {
  name: string;
  daemon: boolean;
  authkey: Uint8Array;
  identity: number[];
  parent: { pid: number; name: string };
  startMethod: StartMethod;
  handleCount: number;
  /** The parent uses node:test: the child gets an inert one (testFiles.ts). */
  silenceTests: boolean;
}

interface ChildBody {
  cls?: typeof Process;
  target?: Target;
  args: unknown[];
  kwargs?: Record<string, unknown>;
  this: Record<string, unknown>;
}

/**
 * `onRunStarted` runs once the target has been called and has attached its
 * listeners synchronously (bootstrap.ts replays early connections then).
 */
export async function runChild(
  header: ChildHeader,
  body: Uint8Array,
  handles: Handle[],
  ident: number,
  onRunStarted?: () => void,
): Promise<void> {
  // Until the target settles, the child lives even if nothing else holds its event loop (module loading
  // through an off-thread loader, or an await on something unref'd, would otherwise let it end silently).
  const keepAlive = setInterval(() => {}, 2 ** 30);
  const parent = new ParentProcess(header.parent.pid, header.parent.name, header.startMethod === "thread");
  const identity = { name: header.name, daemon: header.daemon, authkey: Buffer.from(header.authkey), ident };
  let proc: Process;
  try {
    if (header.silenceTests) silenceNodeTest();
    enableTypeScriptLoader();
    // Module code run while importing already sees the right currentProcess().
    setCurrentProcess(selfProcess(Process, identity), parent, header.identity);
    setBootstrapping(true);
    const payload = (await loads(body, handles)) as ChildBody;
    proc = selfProcess(payload.cls ?? Process, { ...identity, target: payload.target, args: payload.args, kwargs: payload.kwargs });
    Object.assign(proc, payload.this);
    setCurrentProcess(proc, parent, header.identity);
  } catch (err) {
    reportUncaught(header.name, err);
    process.exit(1);
  } finally {
    setBootstrapping(false);
  }
  try {
    const running = proc.run();
    onRunStarted?.();
    await running;
  } catch (err) {
    reportUncaught(header.name, err);
    process.exit(1);
  } finally {
    clearInterval(keepAlive);
  }
}
