// "Share data across machines" (seed 004's closing note on SyncManager):
// a manager server that clients on other machines reach over TCP with the
// authkey. It serves a shared job queue and a results dict; run it, then
// run examples/manager-client.ts (here or on another machine, pointing it
// at this one) as many times as you like.
//
// Run: node --import tsx examples/manager-server.ts [host] [port] [authkey]
//      (defaults: 127.0.0.1 50000 "the secret"; use 0.0.0.0 to accept other machines)
import { BaseManager, Queue, isMain } from "multiproc";

/** One queue and one dict for the whole server: every client's `jobs()` and `results()` reach the same ones. */
const jobs = new Queue<number>();
const results = new Map<string, number>();

export class Results {
  set(key: string, value: number): void {
    results.set(key, value);
  }
  entries(): Array<[string, number]> {
    return [...results];
  }
}

export class JobQueue {
  async get(timeoutMs: number): Promise<number | null> {
    try {
      return await jobs.get({ timeout: timeoutMs });
    } catch {
      return null;
    }
  }
  qsize(): number {
    return jobs.qsize();
  }
}

export function getJobs(): JobQueue {
  return new JobQueue();
}

export function getResults(): Results {
  return new Results();
}

export class QueueManager extends BaseManager {}
QueueManager.register("jobs", getJobs);
QueueManager.register("results", getResults);

if (isMain(import.meta)) {
  const [host = "127.0.0.1", port = "50000", key = "the secret"] = process.argv.slice(2);
  for (let n = 1; n <= 10; n++) await jobs.put(n);
  const manager = new QueueManager({ address: [host, Number(port)], authkey: Buffer.from(key) });
  const server = manager.getServer();
  const where = server.address;
  console.log(`serving 10 jobs at ${typeof where === "string" ? where : where.join(":")}; stop with Ctrl-C`);
  // For the test and the demo: once every job has a result, give clients a second to see the queue empty, then stop.
  const done = setInterval(() => {
    if (results.size === 10) {
      console.log(`all results in: ${JSON.stringify(Object.fromEntries([...results].sort((a, b) => Number(a[0]) - Number(b[0]))))}`);
      clearInterval(done);
      setTimeout(() => server.shutdown(), 1000);
    }
  }, 50);
  await server.serveForever();
  jobs.close();
}
