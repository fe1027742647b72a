/*
 * The bundles in dist/ (after tsc has written the type declarations there):
 *
 *   - the ES module build: the package's entry points, in shared chunks. It
 *     is what Node.js loads, for `import` and for `require` alike (Node.js
 *     requires ES modules, through the "module-sync" condition), and what
 *     every child process and worker thread runs.
 *   - dist/index.cjs, a CommonJS build of the main entry, for loaders that
 *     cannot require an ES module: jest in its default mode. jest evaluates it
 *     in each test file's sandbox, as it does the ES module build in its ES
 *     module mode.
 *
 * The library finds its own files through `import.meta.url`: the children's
 * entry points, the native addon, and the module a child imports to rebuild
 * an object that travels (a Lock, a Queue) or to find a registered target.
 * In the CommonJS build every module's `import.meta.url` is therefore the
 * ES module file that holds the same module: the paths resolve the same, and
 * a child (plain Node.js) imports the files it has already, never this build.
 */
import { relative } from "node:path";
import { readFile } from "node:fs/promises";
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  packages: "external",
  keepNames: true,
  sourcemap: true,
  logLevel: "warning",
};

const esm = await build({
  ...common,
  entryPoints: ["src/index.ts", "src/spawn/bootstrap.ts", "src/spawn/threadBootstrap.ts", "src/redis.ts", "src/cli.ts"],
  splitting: true,
  format: "esm",
  outdir: "dist",
  entryNames: "[name]",
  chunkNames: "[name]-[hash]",
  metafile: true,
});

/** For each source module (as the metafile names it: src/...), the ES module file it was bundled into. */
const esmFileOf = new Map();
for (const [output, { inputs }] of Object.entries(esm.metafile.outputs)) {
  for (const input of Object.keys(inputs)) esmFileOf.set(input, relative("dist", output));
}

/** Gives each module that reads import.meta its own, naming its ES module file (esbuild's `define` binds the name per module). */
const esmLocations = {
  name: "esm-locations",
  setup(builder) {
    builder.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async ({ path }) => {
      const source = await readFile(path, "utf8");
      if (!source.includes("import.meta")) return undefined;
      const file = esmFileOf.get(relative(".", path));
      if (file === undefined) throw new Error(`${path} is in the CommonJS build but not in the ES module build`);
      // On the first line, so that the source map's lines stay the file's own.
      return { contents: `const __esmImportMeta = { url: __esmDirectory + ${JSON.stringify(file)} }; ${source}`, loader: "ts" };
    });
  },
};

await build({
  ...common,
  entryPoints: ["src/index.ts"],
  format: "cjs",
  outfile: "dist/index.cjs",
  banner: { js: 'const __esmDirectory = require("node:url").pathToFileURL(__dirname + "/").href;' },
  define: { "import.meta": "__esmImportMeta" },
  plugins: [esmLocations],
});
