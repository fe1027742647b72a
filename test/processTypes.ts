/*
 * Type-level checks of Process options, verified by `npm run typecheck` (never run): each
 * `@ts-expect-error` line must be an error, or the typecheck fails.
 */
import { Process, getContext } from "../src/index.ts";

export function add(a: number, b: number): number {
  return a + b;
}

export function greet(name: string, options?: { loud: boolean }): string {
  return options?.loud ? name.toUpperCase() : name;
}

export const typed = new Process({ target: add, args: [1, 2] });
// @ts-expect-error add takes numbers
export const wrongType = new Process({ target: add, args: ["x", 2] });
// @ts-expect-error add takes two arguments
export const tooMany = new Process({ target: add, args: [1, 2, 3] });
export const optional = new Process({ target: greet, args: ["ada"] });
// @ts-expect-error greet's first argument is a string
export const viaContext = new (getContext("thread").Process)({ target: greet, args: [1] });
export const withKwargs = new Process({ target: greet, args: ["ada"], kwargs: { loud: true } });
export const untyped = new Process({ args: [1, "two", { three: 3 }] });
export const launched = new Process({ target: add, args: [1, 2], env: { A: "1" }, cwd: "/tmp", execArgv: [], maxOldGenerationSizeMb: 64, stdio: "pipe" });
// @ts-expect-error stdio is "inherit" or "pipe"
export const badStdio = new Process({ target: add, args: [1, 2], stdio: "ignore" });

export class Worker extends Process {
  override run(): number {
    return 1;
  }
}
export const subclassed = new Worker({ name: "w" });
