// Seed 004 "进程间共享内存": five pool tasks each add 1 to a plain number
// (a private copy: every task sees 1, the parent keeps 0) and, under a
// managed Lock, to a managed Value, Array[0] and dict['count']: all three
// end at 5.
//
// Run: node --import tsx examples/manager-shared-state.ts
import { Manager, Pool, isMain, type ArrayProxy, type DictProxy, type LockProxy, type ValueProxy } from "multiproc";

export async function worker(
  i: number,
  lock: LockProxy,
  normalValue: number,
  sharedValue: ValueProxy,
  sharedArray: ArrayProxy,
  sharedDict: DictProxy<string, number>,
): Promise<void> {
  normalValue += 1;
  {
    await using _held = await lock.hold(); // Python's `with lock:`
    await sharedValue.set((await sharedValue.get()) + 1);
    await sharedArray.set(0, (await sharedArray.get(0)) + 1);
    await sharedDict.set("count", (await sharedDict.get("count"))! + 1);
  }
  console.log(
    `child[${i}] normal: ${normalValue}, shared value: ${await sharedValue.get()}, ` +
      `shared array: [${await sharedArray.toArray()}], shared dict: ${JSON.stringify(await sharedDict.copy())}`,
  );
}

if (isMain(import.meta)) {
  const po = new Pool(2);
  {
    await using manager = await Manager();
    const lock = await manager.Lock();
    const normalValue = 0;
    const sharedValue = await manager.Value("i", 0);
    const sharedArray = await manager.Array("i", [0, 1, 2]);
    const sharedDict = await manager.dict<string, number>({ count: 0 });
    const tasks = [0, 1, 2, 3, 4].map((i) => po.applyAsync(worker, [i, lock, normalValue, sharedValue, sharedArray, sharedDict]));
    po.close();
    await po.join();
    await Promise.all(tasks);
    console.log(`final: normal ${normalValue}, value ${await sharedValue.get()}, array[0] ${await sharedArray.get(0)}, dict count ${await sharedDict.get("count")}`);
  }
  console.log("main process done.");
}
