/*
 * What a scene of the demo tour is (examples/demo.ts runs them in order), and
 * the small helpers scenes share to print their results the same way.
 */

export interface Scene {
  /** Shown in the scene's heading. */
  title: string;
  /** Starts real processes and prints what they did; resolves when all are done. */
  run(): Promise<void>;
}

/** A line printed by the main process of the demo. */
export function say(text = ""): void {
  console.log(text === "" ? "" : `  ${text}`);
}

/** A line printed by a child (indented one step further). */
export function childSay(text: string): void {
  console.log(`    ${text}`);
}

/** Seconds since `start` (a performance.now() value), as "0.31 s". */
export function secondsSince(start: number): string {
  return `${((performance.now() - start) / 1000).toFixed(2)} s`;
}
