/*
 * Every program in README.md runs as shown. A code block in TypeScript or
 * JavaScript starts with `// <file> — run with: <command>`; the test writes
 * it to that file in a fresh ES-module project outside the repo (where
 * `multiproc` is this package and `tsx` is installed, as a user's would be),
 * runs the command on this Node.js, and wants exit code 0 and a quiet stderr.
 * A program on Redis (it imports multiproc/redis) gets what its comment asks
 * for: a Redis server and two `multiproc worker` processes rooted in its
 * directory.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers.ts";
import { RedisServer, WorkerProcess, builtCli, redisMissing } from "./redisSetup.ts";

const repo = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(join(repo, "README.md"), "utf8");
const header = /^\/\/ (\S+) — run with: (node .+)$/;

interface Snippet {
  line: number;
  file: string;
  command: string[];
  code: string;
}

function snippets(): Snippet[] {
  const found: Snippet[] = [];
  for (const match of readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    const [, language, code] = match as unknown as [string, string, string];
    if (!["ts", "js", "mjs", "cjs", "mts", "cts"].includes(language)) continue;
    const line = readme.slice(0, match.index).split("\n").length;
    const first = header.exec(code.split("\n")[0]!);
    assert.ok(first, `README.md:${line}: a ${language} block must start with "// <file> — run with: node ..." so that it can be run as shown`);
    found.push({ line, file: first[1]!, command: first[2]!.split(/\s+/), code });
  }
  return found;
}

const project = tempDir();
writeFileSync(join(project, "package.json"), JSON.stringify({ name: "readme", private: true, type: "module" }));
mkdirSync(join(project, "node_modules"));
symlinkSync(repo, join(project, "node_modules", "multiproc"));
symlinkSync(join(repo, "node_modules", "tsx"), join(project, "node_modules", "tsx"));

after(() => rmSync(project, { recursive: true, force: true }));

const all = snippets();

test("README.md has programs to run, each under its own file name", () => {
  assert.ok(all.length >= 7, `found ${all.length}`);
  assert.equal(new Set(all.map((snippet) => snippet.file)).size, all.length);
});

for (const snippet of all) {
  test(`README.md:${snippet.line}: ${snippet.file} runs as shown`, async (t) => {
    const dir = join(project, snippet.file.replace(/\W/g, "_"));
    mkdirSync(dir);
    writeFileSync(join(dir, snippet.file), snippet.code);
    const [, ...args] = snippet.command;
    const env = { ...process.env };
    if (snippet.code.includes('"multiproc/redis"')) {
      if (redisMissing()) return t.skip("Redis suite NOT RUN: no redis-server and no REDIS_URL");
      const server = await RedisServer.start(false);
      t.after(() => server.stop());
      const queue = `readme-${process.pid}`;
      const workers = [0, 1].map(() => new WorkerProcess(server.url, queue, { extra: ["--root", dir], program: builtCli }));
      t.after(() => workers.forEach((worker) => worker.killGroup()));
      await Promise.all(workers.map((worker) => worker.started()));
      Object.assign(env, { REDIS_URL: server.url, QUEUE: queue });
    }
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // The timeout is a hang guard only.
      execFile(process.execPath, args, { cwd: dir, env, timeout: 120_000 }, (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string }) | null;
        resolve({ code: failure ? (typeof failure.code === "number" ? failure.code : null) : 0, stdout, stderr });
      });
    });
    assert.equal(result.code, 0, `${snippet.file}:\n${result.stdout}\n${result.stderr}`);
    assert.equal(result.stderr, "", `${snippet.file} wrote to stderr`);
  });
}
