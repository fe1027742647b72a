// The tour run by `npm run demo`: scenes that start real processes and print
// what they did. Each scene lives in a module under examples/demo/ and is
// listed below; later parts of multiproc add their scenes to `scenes`.
//
// Run: npm run demo              (all scenes)
//      npm run demo -- 3 5       (only scenes 3 and 5)
//  or: node --import tsx examples/demo.ts
import { isMain } from "multiproc";
import { processScenes } from "./demo/processes.ts";
import { sharedScenes } from "./demo/shared.ts";
import { queueScenes } from "./demo/queues.ts";
import { poolScenes } from "./demo/pool.ts";
import { managerScenes } from "./demo/managers.ts";
import { secondsSince, type Scene } from "./demo/scene.ts";

export const scenes: Scene[] = [...processScenes, ...sharedScenes, ...queueScenes, ...poolScenes, ...managerScenes];

async function main(selected: number[]): Promise<void> {
  const tourStart = performance.now();
  console.log(`multiproc demo: ${scenes.length} scenes, real OS processes (and threads)`);
  for (const [index, scene] of scenes.entries()) {
    const number = index + 1;
    if (selected.length > 0 && !selected.includes(number)) continue;
    console.log(`\n== ${number}. ${scene.title} ==`);
    const start = performance.now();
    await scene.run();
    console.log(`   (scene took ${secondsSince(start)})`);
  }
  console.log(`\ndemo finished in ${secondsSince(tourStart)}`);
}

if (isMain(import.meta)) {
  await main(process.argv.slice(2).map(Number).filter(Number.isInteger));
}
