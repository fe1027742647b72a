/*
 * `npm run soak`: the reliability experiments the README quotes, one after
 * the other, each in its own process.
 *   worker kill          bench/pool_soak.ts (spawn, then thread)
 *   producer/consumer kill  bench/queue_soak.ts
 *   parent kill          bench/parent_soak.ts
 *
 *   npm run soak                  # all of them
 *   npm run soak -- queue parent  # those whose name contains a filter
 *
 * Exits 1 if any experiment found a violation. Takes minutes on a quiet
 * machine; SOAK_KILLS and SOAK_RUNS scale the queue and parent experiments.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const experiments: Array<{ name: string; script: string; args: string[] }> = [
  { name: "pool worker kill (spawn)", script: here("./pool_soak.ts"), args: ["spawn"] },
  { name: "pool worker kill (thread)", script: here("./pool_soak.ts"), args: ["thread"] },
  { name: "queue producer/consumer kill", script: here("./queue_soak.ts"), args: [process.env.SOAK_KILLS ?? "200"] },
  { name: "parent kill", script: here("./parent_soak.ts"), args: [process.env.SOAK_RUNS ?? "20"] },
];

const filters = process.argv.slice(2);
let failed = 0;
for (const { name, script, args } of experiments) {
  if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
  console.log(`== ${name}`);
  const run = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { stdio: "inherit" });
  if (run.status !== 0) {
    failed++;
    console.log(`== ${name}: FAILED (exit ${run.status ?? run.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
