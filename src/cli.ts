#!/usr/bin/env node
/*
 * The package's command line (`npx multiproc ...`). One command for now:
 *
 *   multiproc worker --redis URL --queue NAME [--processes N] [--root DIR]
 *                    [--prefix P] [--lock-duration MS]
 *
 * runs the Redis pool's tasks (redis/worker.ts) until SIGTERM or SIGINT,
 * which drain it: no new jobs, the running ones finish, exit 0.
 *
 * Talks to: redis/worker.ts.
 */
import { parseArgs } from "node:util";

const USAGE = "usage: multiproc worker --redis URL --queue NAME [--processes N] [--root DIR] [--prefix P] [--lock-duration MS]";

function fail(message: string): never {
  process.stderr.write(`multiproc: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive integer, got ${text}`);
  return value;
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        redis: { type: "string" },
        queue: { type: "string" },
        processes: { type: "string" },
        root: { type: "string" },
        prefix: { type: "string" },
        "lock-duration": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals[0] !== "worker" || positionals.length > 1) fail(positionals.length ? `unknown command ${positionals.join(" ")}` : "no command given");
  if (!values.redis) fail("--redis URL is required");
  if (!values.queue) fail("--queue NAME is required");
  let RedisWorker: typeof import("./redis/worker.ts").RedisWorker;
  try {
    ({ RedisWorker } = await import("./redis/worker.ts"));
  } catch (err) {
    fail(`the worker needs the optional packages bullmq and ioredis (npm i bullmq ioredis): ${(err as Error).message}`);
  }
  const worker = new RedisWorker({
    url: values.redis,
    queue: values.queue,
    ...(values.processes === undefined ? {} : { processes: positiveInt("processes", values.processes) }),
    ...(values.root === undefined ? {} : { root: values.root }),
    ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
    ...(values["lock-duration"] === undefined ? {} : { lockDuration: positiveInt("lock-duration", values["lock-duration"]) }),
  });
  // A log reader that went away (a closed pipe) must not take the worker down with it.
  process.stdout.on("error", () => undefined);
  const stop = () => void worker.drain().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main(process.argv.slice(2));
