// Redis and workers for the Redis benches (bench/node/redis_pool.mjs, bench/redis_kills.mjs): a private
// redis-server on a free port (REDIS_URL when the binary is missing), `multiproc worker` processes from the
// built bin, and the plain BullMQ worker of the twin. Every process started here is in its own process group.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

export const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const plainWorker = fileURLToPath(new URL("./redis_plain_worker.mjs", import.meta.url));

async function freePort() {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  return port;
}

/** { url, stop() }, or undefined (with the reason on stderr) when there is no Redis to use. */
export async function startRedis() {
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
    console.error("no redis-server on PATH and no REDIS_URL: the Redis benches did not run");
    return undefined;
  }
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  owned.add(() => child.kill("SIGKILL"));
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => {});
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      client.disconnect();
      await sleep(50);
    }
  }
  client.disconnect();
  return {
    url,
    stop: async () => {
      child.kill("SIGKILL");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

/** Process groups (and servers) to kill when this script exits, even by an uncaught error. */
const owned = new Set();
process.on("exit", () => {
  for (const kill of owned) kill();
});

function startProcess(args, log) {
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", "pipe", "inherit"] });
  owned.add(() => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  });
  const started = new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      const text = chunk.toString();
      log?.(text);
      if (text.includes(" started ") || text.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
  });
  started.catch(() => {});
  return {
    child,
    started,
    kill() {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    },
  };
}

/** A `multiproc worker` (the built bin) with one child process. */
export function multiprocWorker(url, queue, { log, processes = 1, extra = [] } = {}) {
  return startProcess([cli, "worker", "--redis", url, "--queue", queue, "--processes", String(processes), "--root", root, ...extra], log);
}

/** The twin: a plain BullMQ Worker running squareChunk in its own process. */
export function plainBullWorker(url, queue) {
  return startProcess([plainWorker, url, queue]);
}
