/* Targets for bench/node/managers.mjs: they run in a child process and in pool workers. */
import { now } from "./measure.mjs";

/** A child that runs one measured loop per command from the parent and sends back its ops/s; null ends it. */
export async function managerClient(conn, dict) {
  await dict.set("k", 0);
  conn.send("ready");
  for (;;) {
    const command = await conn.recv();
    if (command === null) return;
    const { op, n, inFlight } = command;
    const t0 = now();
    if (inFlight > 1) {
      let next = 0;
      const lane = async () => {
        while (next < n) {
          const i = next++;
          if (op === "set") await dict.set("k", i);
          else await dict.get("k");
        }
      };
      await Promise.all(Array.from({ length: inFlight }, lane));
    } else if (op === "set") {
      for (let i = 0; i < n; i++) await dict.set("k", i);
    } else {
      for (let i = 0; i < n; i++) await dict.get("k");
    }
    conn.send((n / (now() - t0)) * 1000);
  }
}

export async function produce(queue, n) {
  for (let i = 0; i < n; i++) await queue.put(i);
}
