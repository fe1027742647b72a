/*
 * Parent-kill soak: a program that created a named segment, a queue and a
 * lock and started two daemon children attached to the segment is SIGKILLed,
 * again and again. Its daemon children must exit on their own, and the
 * segment must leave /dev/shm (the tracker reclaims it), each time.
 *
 *   node --import tsx bench/parent_soak.ts [runs]
 *
 * Prints one JSON line; exits 1 if a child or a segment was ever left after
 * 30 s. Not a test: run it by hand or with `npm run soak` (bench/README.md).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const RUNS = Number(process.argv[2] ?? 20);
const LEFT_AFTER_MS = 30_000;
const program = fileURLToPath(new URL("./lib/parent_program.ts", import.meta.url));

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return !["Z", "X"].includes(stat.slice(stat.lastIndexOf(")") + 2)[0]!);
  } catch {
    return false;
  }
}

async function until(check: () => boolean): Promise<number | null> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > LEFT_AFTER_MS) return null;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
}

let childrenLeft = 0;
let segmentsLeft = 0;
const childrenGoneMs: number[] = [];
const segmentGoneMs: number[] = [];
const started = Date.now();
for (let run = 0; run < RUNS; run++) {
  const child = spawn(process.execPath, ["--import", "tsx", program], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes("\n")) resolve(text.slice(0, text.indexOf("\n")));
    });
    child.once("exit", (code) => reject(new Error(`the program exited (${code}) before it was ready`)));
  });
  const { children, segment } = JSON.parse(line) as { children: number[]; segment: string };
  child.kill("SIGKILL");
  const childrenGone = await until(() => children.every((pid) => !alive(pid)));
  const segmentGone = await until(() => !existsSync(`/dev/shm/${segment}`));
  if (childrenGone === null) childrenLeft += children.filter(alive).length;
  else childrenGoneMs.push(childrenGone);
  if (segmentGone === null) segmentsLeft++;
  else segmentGoneMs.push(segmentGone);
}
const worst = (values: number[]) => (values.length ? Math.max(...values) : null);
const result = {
  experiment: "parent kill",
  runs: RUNS,
  childrenLeft,
  segmentsLeft,
  worstChildrenGoneMs: worst(childrenGoneMs),
  worstSegmentGoneMs: worst(segmentGoneMs),
  seconds: Math.round((Date.now() - started) / 100) / 10,
};
console.log(JSON.stringify(result));
process.exit(childrenLeft === 0 && segmentsLeft === 0 ? 0 : 1);
