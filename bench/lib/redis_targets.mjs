// Tasks of bench/redis_kills.mjs: found by `multiproc worker` processes by module (relative to the project
// root) and export name.
import { setTimeout as sleep } from "node:timers/promises";

/** x * x after `ms` milliseconds. */
export async function slowSquare(x, ms) {
  await sleep(ms);
  return x * x;
}
