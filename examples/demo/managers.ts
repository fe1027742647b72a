/*
 * Demo scenes for managers: seed 004's five pool tasks incrementing managed
 * state under a managed Lock, and a proxy that travels everywhere (a child
 * process, a thread, a pool worker, through a Queue, inside a managed dict)
 * while a dead manager is reported, not waited for.
 */
import { Manager, Pool, Process, Queue, getContext, type DictProxy, type ListProxy, type LockProxy, type ValueProxy } from "multiproc";
import { isMainThread } from "node:worker_threads";
import { childSay, say, secondsSince, type Scene } from "./scene.ts";

export async function addUnderLock(i: number, lock: LockProxy, total: ValueProxy, log: ListProxy<string>): Promise<void> {
  await using _held = await lock.hold();
  await total.set((await total.get()) + 1);
  await log.append(`task ${i} in pid ${process.pid}`);
}

export async function signIn(book: DictProxy<string, string>, where: string): Promise<void> {
  await book.set(where, `${isMainThread ? "pid" : "a thread in pid"} ${process.pid}`);
  childSay(`${where} signed ${book}`);
}

const sharedUnderLock: Scene = {
  title: "Manager(): five pool tasks add 1 under a managed Lock (seed 004) [spawn]",
  async run() {
    const start = performance.now();
    await using manager = await Manager();
    say(`manager process pid ${manager.process!.pid}, started in ${secondsSince(start)}`);
    const lock = await manager.Lock();
    const total = await manager.Value("i", 0);
    const log = await manager.list<string>();
    {
      await using pool = new Pool(2);
      await Promise.all([0, 1, 2, 3, 4].map((i) => pool.apply(addUnderLock, [i, lock, total, log])));
    }
    for (const line of await log.toArray()) childSay(line);
    say(`total = ${await total.get()} (five increments, none lost)`);
  },
};

const proxiesTravel: Scene = {
  title: "A dict proxy travels: a child, a thread, a pool worker, through a Queue; then the manager dies [spawn + thread]",
  async run() {
    const manager = await Manager();
    const book = await manager.dict<string, string>();
    const child = new Process({ target: signIn, args: [book, "a child process"] });
    const thread = new (getContext("thread").Process)({ target: signIn, args: [book, "a thread"] });
    child.start();
    thread.start();
    await Promise.all([child.join(), thread.join()]);
    {
      await using pool = new Pool(1);
      const queue = new Queue<typeof book>();
      await queue.put(book);
      await pool.apply(signIn, [await queue.get(), "a pool worker (the proxy came through a Queue)"]);
      queue.close();
    }
    const holder = await manager.dict({ book });
    const again = (await holder.get("book"))!;
    say(`the book, read back through a proxy kept inside another managed dict: ${JSON.stringify(await again.copy())}`);
    const event = await manager.Event();
    const waiting = event.wait();
    manager.process!.kill();
    try {
      await waiting;
    } catch (err) {
      say(`manager SIGKILLed while a call waited: ${(err as Error).name}: ${(err as Error).message}`);
    }
    await manager.shutdown();
  },
};

export const managerScenes: Scene[] = [sharedUnderLock, proxiesTravel];
