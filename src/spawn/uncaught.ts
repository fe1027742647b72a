/*
 * How a child's uncaught error is reported, as Python's BaseProcess._bootstrap
 * prints it: `Process <name>:` then the error, on stderr. A leaf module:
 * the child (child.ts) and the thread parent (threadChild.ts) both report,
 * and the parent side must not load the child's side (which loads
 * process.ts, which loads the parent side).
 *
 * Talks to: spawn/child.ts, spawn/threadChild.ts.
 */
import { builtin } from "../runtime.ts";

const { inspect } = builtin("node:util");

export function reportUncaught(name: string, err: unknown): void {
  process.stderr.write(`Process ${name}:\n${inspect(err)}\n`);
}
