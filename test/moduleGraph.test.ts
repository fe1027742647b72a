/*
 * No import cycles (issue 11): a module that runs code at load (a top-level
 * `const defaultContext = getContext()`, `const n = cpuCount()`) must find
 * what it imports already evaluated, whichever module is loaded first. The
 * value imports of src/ (esbuild's view: type-only imports are erased) form
 * no cycle; and each module of the former cycle, loaded first in a fresh
 * process, leaves a working library.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { runProgram } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The value-import graph of the library's entry points, module → modules it imports. */
async function moduleGraph(): Promise<Map<string, string[]>> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/index.ts", "src/spawn/bootstrap.ts", "src/spawn/threadBootstrap.ts"],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "node",
    packages: "external",
    outdir: "out",
    logLevel: "silent",
  });
  const graph = new Map<string, string[]>();
  for (const [path, input] of Object.entries(result.metafile.inputs)) {
    graph.set(path, input.imports.filter((edge) => edge.kind === "import-statement" && !edge.external).map((edge) => edge.path));
  }
  return graph;
}

/** One cycle of the graph as a path that returns to its start, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test("the scan finds a cycle when there is one", () => {
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a"]],
  ]);
  assert.deepEqual(findCycle(graph), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", []]])), undefined);
});

test("the library's modules import one another without a cycle", { timeout: 60_000 }, async () => {
  const graph = await moduleGraph();
  assert.ok(graph.has("src/context.ts") && graph.has("src/pool/engine.ts"), `unexpected graph: ${[...graph.keys()].join(", ")}`);
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" → ")}`);
});

const loadedFirst = ["context.ts", "pool.ts", "pool/engine.ts", "process.ts", "startMethod.ts", "spawn/child.ts", "spawn/threadChild.ts", "spawn/spawnChild.ts"];

test("each module of the former cycle, loaded first in a fresh process, leaves a working library", { timeout: 180_000 }, async () => {
  for (const module of loadedFirst) {
    const run = await runProgram("loadFirst.ts", [module], 120_000);
    assert.equal(run.stdout.trim(), "ok", `${module} first: exit ${run.code}, ${run.stderr}`);
  }
});
