/*
 * Progress of one pool call: the caller's onProgress(done, total), and a
 * bar on stderr when asked for and stderr is a terminal (cli-progress,
 * loaded only then). The bar is redrawn at most every BAR_MS; onProgress is
 * called on every change.
 *
 * Talks to: pool.ts.
 */
import type { SingleBar } from "cli-progress";
import { requireFromPackage } from "../runtime.ts";

const BAR_MS = 100;

export interface ProgressReporter {
  update(done: number): void;
  /** The total became known (an imap input ended). */
  total(total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  onProgress?: (done: number, total: number | undefined) => void;
  progress?: boolean | string;
}

export function progressReporter(options: ProgressOptions, total: number | undefined): ProgressReporter | undefined {
  const { onProgress, progress } = options;
  if (onProgress !== undefined && typeof onProgress !== "function") throw new TypeError("onProgress must be a function");
  const bar = progress && process.stderr.isTTY ? startBar(typeof progress === "string" ? progress : "pool", total) : undefined;
  if (!onProgress && !bar) return undefined;
  let known = total;
  let done = 0;
  let drawn = 0;
  return {
    update(count) {
      done = count;
      onProgress?.(done, known);
      if (bar && performance.now() - drawn >= BAR_MS) {
        drawn = performance.now();
        bar.update(done);
      }
    },
    total(count) {
      known = count;
      bar?.setTotal(count);
    },
    stop() {
      if (!bar) return;
      bar.setTotal(known ?? done);
      bar.update(done);
      bar.stop();
    },
  };
}

function startBar(label: string, total: number | undefined): SingleBar {
  const { SingleBar: Bar, Presets } = requireFromPackage()("cli-progress") as typeof import("cli-progress");
  const bar = new Bar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  bar.start(total ?? 0, 0);
  return bar;
}
