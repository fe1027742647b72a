/* The Manager examples (seed 004's twins and the remote pair), run as the programs they are. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const examples = fileURLToPath(new URL("../examples/", import.meta.url));
/** A hang guard, never a timing assertion. */
const HANG_MS = 120_000;

function runExample(name: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", `${examples}${name}`, ...args], { timeout: HANG_MS }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("manager Queue in a Pool (seed 004): the writer's A, B, C reach the reader in order through manager.Queue()", { timeout: HANG_MS }, async () => {
  const run = await runExample("manager-queue-pool.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.stdout.match(/got ([ABC]) from/g), ["got A from", "got B from", "got C from"]);
  assert.match(run.stdout, /QueueProxy of Queue/);
});

test("manager shared state (seed 004): five increments under manager.Lock() give 5/5/5, the plain number stays 0", { timeout: HANG_MS }, async () => {
  const run = await runExample("manager-shared-state.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.match(/normal: 1,/g)?.length, 5, "each task saw its own copy of the plain number");
  assert.match(run.stdout, /final: normal 0, value 5, array\[0\] 5, dict count 5/);
});

test("remote pair: a client refused with the wrong key, then two clients square all ten jobs of the server over TCP", { timeout: HANG_MS }, async () => {
  const server = spawn(process.execPath, ["--import", "tsx", `${examples}manager-server.ts`, "127.0.0.1", "0", "pair key"], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  const port = await new Promise<string>((resolve) => {
    server.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const found = /serving 10 jobs at 127\.0\.0\.1:(\d+)/.exec(output);
      if (found) resolve(found[1]!);
    });
  });
  const refused = await runExample("manager-client.ts", ["127.0.0.1", port, "not the key"]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stdout, /refused: digest sent was rejected/);
  const clients = await Promise.all([runExample("manager-client.ts", ["127.0.0.1", port, "pair key"]), runExample("manager-client.ts", ["127.0.0.1", port, "pair key"])]);
  for (const client of clients) assert.equal(client.code, 0, client.stderr);
  const squared = clients.map((client) => Number(/squared (\d+) numbers/.exec(client.stdout)![1]));
  assert.equal(squared[0]! + squared[1]!, 10);
  const code = await new Promise((resolve) => server.once("exit", resolve));
  assert.equal(code, 0);
  assert.match(output, /all results in: \{"1":1,"2":4,"3":9,"4":16,"5":25,"6":36,"7":49,"8":64,"9":81,"10":100\}/);
});
