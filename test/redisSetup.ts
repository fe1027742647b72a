/*
 * Redis for the Redis tests and benches: a private redis-server on a free
 * port (needed to stop it), else REDIS_URL; and `multiproc worker`
 * processes, each in its own process group as if on its own machine.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

export const root = fileURLToPath(new URL("..", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
/** The built bin: for tasks that import the package by name (dist), so that one process does not load src and dist both. */
export const builtCli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

/** What this test process started, killed when it exits however it exits. */
const owned = new Set<() => void>();
process.on("exit", () => {
  for (const kill of owned) kill();
});

export function haveRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

/** Why the Redis suite cannot run here, or undefined when it can. */
export function redisMissing(): string | undefined {
  if (haveRedisServer() || process.env.REDIS_URL) return undefined;
  const why = "no redis-server on PATH and REDIS_URL is not set";
  if (process.env.MULTIPROC_REQUIRE_REDIS === "1") throw new Error(`MULTIPROC_REQUIRE_REDIS=1 but ${why}`);
  process.stderr.write(`# Redis suite NOT RUN: ${why} (install redis-server or set REDIS_URL)\n`);
  return why;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

function redisUrl(address: string, port: number, password: string): string {
  return `redis://${password ? `:${password}@` : ""}${address}:${port}`;
}

export class RedisServer {
  process: ChildProcess | undefined;
  constructor(
    readonly url: string,
    readonly port: number,
    readonly password = "",
  ) {}

  /** Its URL as a client at `address` (one of those it listens on) writes it. */
  urlVia(address: string): string {
    return redisUrl(address, this.port, this.password);
  }

  /**
   * A private server (when the binary is on PATH and `shared` is false or REDIS_URL unset), else REDIS_URL.
   * A private one listens on 127.0.0.1 and on `alsoOn` (addresses of this host that other "machines" reach),
   * and then wants a password, as Redis does of clients on other hosts.
   */
  static async start(shared = true, alsoOn: string[] = []): Promise<RedisServer> {
    if (shared && process.env.REDIS_URL) return new RedisServer(process.env.REDIS_URL, 0);
    const port = await freePort();
    const password = alsoOn.length > 0 ? randomUUID() : "";
    const server = new RedisServer(redisUrl("127.0.0.1", port, password), port, password);
    await server.#spawn(alsoOn);
    return server;
  }

  async #spawn(alsoOn: string[]): Promise<void> {
    const auth = this.password ? ["--requirepass", this.password] : [];
    const child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", ...alsoOn, ...auth, "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    this.process = child;
    owned.add(() => child.kill("SIGKILL"));
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    for (let i = 0; ; i++) {
      try {
        await client.connect();
        await client.ping();
        break;
      } catch {
        if (i > 200) throw new Error("redis-server did not start");
        client.disconnect();
        await sleep(50);
      }
    }
    client.disconnect();
  }

  pause(): void {
    this.process?.kill("SIGSTOP");
  }

  resume(): void {
    this.process?.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await once(child, "exit");
  }
}

/** How a WorkerProcess is started. */
export interface WorkerLaunch {
  /** More `multiproc worker` options. */
  extra?: string[];
  /** The CLI to run: the TypeScript source (default) or the built bin. */
  program?: string;
  /** Node options before it; default `--import tsx`. */
  nodeOptions?: string[];
  /** A command that runs node for it (`ip netns exec NAME`: on another "host"); it must exec node, keeping its pid. */
  launcher?: string[];
}

/** A `multiproc worker` in a process group of its own; its log lines are kept. */
export class WorkerProcess {
  readonly child: ChildProcess;
  log = "";

  constructor(url: string, queue: string, { extra = [], program = cli, nodeOptions = ["--import", "tsx"], launcher = [] }: WorkerLaunch = {}) {
    const command = [...launcher, process.execPath, ...nodeOptions, program, "worker", "--redis", url, "--queue", queue, "--root", root, "--processes", "1", ...extra];
    this.child = spawn(command[0]!, command.slice(1), {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    owned.add(() => this.killGroup());
    this.child.stdout!.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
    this.child.stderr!.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async started(): Promise<void> {
    while (!this.log.includes(" started ")) {
      if (this.child.exitCode !== null) throw new Error(`worker exited: ${this.log}`);
      await sleep(25);
    }
  }

  /** SIGKILL the worker and its children: the machine is gone. */
  killGroup(): void {
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  async exited(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) await once(this.child, "exit");
    return this.child.exitCode;
  }
}

/** Keys under `pattern` (SCAN, never KEYS). */
export async function scanKeys(url: string, pattern: string): Promise<string[]> {
  const client = new Redis(url);
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  await client.quit();
  return keys;
}

/**
 * Another "host" on this machine: a network namespace of its own, reaching
 * this one over a veth pair (10.77.x.y/30), and nothing else (not even this
 * host's loopback). Needs root and iproute2's `ip`; names and addresses
 * come from this process's pid, so concurrent runs do not meet.
 */
export class NetworkHost {
  readonly name = `mpt${process.pid}`;
  readonly #outside = `mpo${process.pid}`;
  readonly #inside = `mpi${process.pid}`;
  readonly #subnet = `10.77.${process.pid % 250}`;
  readonly #first = (Math.floor(process.pid / 250) % 63) * 4;
  /** This host's address on the link, which the other host reaches. */
  readonly hostAddress = `${this.#subnet}.${this.#first + 1}`;
  readonly #ownAddress = `${this.#subnet}.${this.#first + 2}`;

  /** The host, or why there cannot be one here. */
  static create(): NetworkHost | string {
    const host = new NetworkHost();
    try {
      host.#ip("netns", "add", host.name);
    } catch (err) {
      return `no network namespaces here (root and iproute2 needed): ${(err as Error).message.split("\n")[0]}`;
    }
    owned.add(() => host.remove());
    host.#ip("link", "add", host.#outside, "type", "veth", "peer", "name", host.#inside);
    host.#ip("link", "set", host.#inside, "netns", host.name);
    host.#ip("addr", "add", `${host.hostAddress}/30`, "dev", host.#outside);
    host.#ip("link", "set", host.#outside, "up");
    host.#ip("-n", host.name, "addr", "add", `${host.#ownAddress}/30`, "dev", host.#inside);
    host.#ip("-n", host.name, "link", "set", host.#inside, "up");
    host.#ip("-n", host.name, "link", "set", "lo", "up");
    return host;
  }

  /** What runs a command on that host. */
  get launcher(): string[] {
    return ["ip", "netns", "exec", this.name];
  }

  /** Take the link down: the other host's connections stall, as over a network that failed. */
  cut(): void {
    this.#ip("link", "set", this.#outside, "down");
  }

  restore(): void {
    this.#ip("link", "set", this.#outside, "up");
  }

  /** Remove the namespace, and our end of the link (gone with it, unless a process still lives in there). */
  remove(): void {
    spawnSync("ip", ["netns", "del", this.name]);
    spawnSync("ip", ["link", "del", this.#outside]);
  }

  #ip(...args: string[]): void {
    const run = spawnSync("ip", args, { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`ip ${args.join(" ")}: ${run.error?.message ?? run.stderr.trim()}`);
  }
}
