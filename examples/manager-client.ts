// The other half of examples/manager-server.ts: connect to the server with
// the authkey, take jobs from its queue until there are none, and put the
// squares in its results dict. Run one or several, on any machine that can
// reach the server. A wrong key is refused with AuthenticationError.
//
// Run: node --import tsx examples/manager-client.ts [host] [port] [authkey]
import { AuthenticationError, BaseManager, isMain, type BaseProxy } from "multiproc";

interface JobQueue extends BaseProxy {
  get(timeoutMs: number): Promise<number | null>;
}
interface Results extends BaseProxy {
  set(key: string, value: number): Promise<void>;
}

export class QueueManager extends BaseManager {
  declare jobs: () => Promise<JobQueue>;
  declare results: () => Promise<Results>;
}
// The client registers the names only: the objects live in the server.
QueueManager.register("jobs");
QueueManager.register("results");

if (isMain(import.meta)) {
  const [host = "127.0.0.1", port = "50000", key = "the secret"] = process.argv.slice(2);
  const manager = new QueueManager({ address: [host, Number(port)], authkey: Buffer.from(key) });
  try {
    await manager.connect();
  } catch (err) {
    if (err instanceof AuthenticationError) {
      console.log(`refused: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const jobs = await manager.jobs();
  const results = await manager.results();
  console.log(`connected: ${jobs}`);
  let done = 0;
  for (let n = await jobs.get(500); n !== null; n = await jobs.get(500)) {
    await results.set(String(n), n * n);
    done++;
  }
  console.log(`client ${process.pid} squared ${done} numbers`);
}
