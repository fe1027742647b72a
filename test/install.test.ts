/*
 * The packed tarball as users install it: `npm pack`, then fresh projects
 * outside the repo in every layout users have (npm, pnpm isolated and
 * hoisted, `npm link`, npm workspaces, --ignore-scripts, a PATH with no
 * compiler), each running a program that starts 4 processes in a row (so the
 * warm standby takes over), a Pool, a Queue and a Lock, with both start
 * methods, with and without the standby. The addon must come from the
 * prebuilt binary: nothing is compiled at install.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixtures, tempDir } from "./helpers.ts";

const repo = fileURLToPath(new URL("..", import.meta.url));
const pnpm = join(repo, "node_modules", ".bin", "pnpm");
const work = tempDir();
const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;
const tarball = join(work, `multiproc-${version}.tgz`);
const prebuilt = "/prebuilds/linux-x64/multiproc.napi.glibc.node";

/** The environment of a user's shell: none of the npm_* variables `npm test` sets, which would steer the inner npm. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return { ...env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", ...extra };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `timeoutMs` is a hang guard for installs on a busy machine, not a timing assertion. */
function run(command: string, args: string[], cwd: string, env = userEnv(), timeoutMs = 600_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number | string }) | null;
      resolve({ code: failure ? (typeof failure.code === "number" ? failure.code : null) : 0, stdout, stderr: `${stderr}${failure && typeof failure.code !== "number" ? String(failure) : ""}` });
    });
  });
}

async function ok(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Run> {
  const result = await run(command, args, cwd, env);
  assert.equal(result.code, 0, `${command} ${args.join(" ")} in ${cwd}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

function project(dir: string, manifest: Record<string, unknown> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, ...manifest }, null, 2));
  cpSync(join(fixtures, "install"), dir, { recursive: true });
  return dir;
}

/** The package as it would be vendored or linked: the tarball's contents in `dir`. */
async function unpack(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await ok("tar", ["xzf", tarball, "--strip-components=1", "-C", dir], work);
  return dir;
}

/**
 * Run the user's program (`app.mjs` or `app.cjs`) in `dir`, with and without the warm standby,
 * and check every start, the Pool, the Queue, the Lock, and that the addon is the prebuilt one.
 */
async function assertWorks(dir: string, program = "app.mjs", env = userEnv()): Promise<void> {
  for (const standby of ["1", "0"]) {
    const result = await run(process.execPath, [program], dir, { ...env, MULTIPROC_STANDBY: standby }, 180_000);
    assert.equal(result.code, 0, `${program} in ${dir} (MULTIPROC_STANDBY=${standby}):\n${result.stdout}\n${result.stderr}`);
    const report = JSON.parse(result.stdout.trim().split("\n").pop()!) as Record<string, unknown> & { addon?: string };
    for (const method of ["spawn", "thread"]) {
      assert.deepEqual(report[method], { codes: [0, 0, 0, 0], got: [0, 1, 2, 3], squares: [1, 4, 9, 16] }, `${method}, MULTIPROC_STANDBY=${standby}`);
    }
    assert.ok(report.addon?.endsWith(prebuilt), `the prebuilt addon should load, got ${report.addon}`);
    assert.equal(result.stderr, "", "no warnings");
  }
}

/** The installed package in `dir` (a symlink is followed): nothing was compiled there. */
function assertNothingCompiled(packageDir: string): void {
  const real = realpathSync(packageDir);
  assert.ok(existsSync(join(real, prebuilt)), `${real} should carry the prebuilt binary`);
  assert.ok(!existsSync(join(real, "native", "build")) && !existsSync(join(real, "build")), `${real}: nothing should be compiled at install`);
}

/**
 * Where no prebuilt binary fits (here: it is removed), the error names the build command in the words of
 * the package manager that installed the package; that command works, and its build is what loads.
 */
async function assertUserBuild(dir: string, manager: "npm" | "pnpm"): Promise<void> {
  const installed = realpathSync(join(dir, "node_modules", "multiproc"));
  rmSync(join(installed, "prebuilds"), { recursive: true });
  const missing = await run(process.execPath, ["app.mjs"], dir);
  assert.notEqual(missing.code, 0);
  const command = manager === "npm" ? /`(npm) (run build:native --prefix \S+)`/ : /`(pnpm) (--dir \S+ run build:native)`/;
  const [, , args] = command.exec(missing.stderr) ?? assert.fail(`the error should name the ${manager} command:\n${missing.stderr}`);
  await ok(manager === "npm" ? "npm" : pnpm, args!.split(" "), dir);
  const built = await run(process.execPath, ["app.mjs"], dir);
  assert.equal(built.code, 0, built.stderr);
  assert.ok(built.stdout.includes(`${installed}/native/build/Release/multiproc.node`), built.stdout);
}

before(async () => {
  // Pack a copy: packing rebuilds dist/ and the addon, which the other test files are using right now.
  const source = join(work, "source");
  const nativeBuild = join(repo, "native", "build");
  for (const entry of ["src", "native", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json", "README.md", "LICENSE"]) {
    cpSync(join(repo, entry), join(source, entry), { recursive: true, filter: (path) => !path.startsWith(nativeBuild) });
  }
  symlinkSync(join(repo, "node_modules"), join(source, "node_modules"));
  await ok("npm", ["pack", "--pack-destination", work], source);
  assert.ok(existsSync(tarball), `npm pack should write ${tarball}`);
});

after(() => rmSync(work, { recursive: true, force: true }));

test("the tarball carries the built library, the prebuilt addon and the sources to rebuild it, and nothing of the repo's own", async () => {
  const { stdout } = await ok("tar", ["tzf", tarball], work);
  const files = stdout.trim().split("\n").map((line) => line.replace(/^package\//, ""));
  for (const file of ["dist/index.js", "dist/index.cjs", "dist/index.d.ts", "dist/bootstrap.js", "dist/threadBootstrap.js", prebuilt.slice(1), "native/binding.gyp", "native/multiproc.c", "scripts/prebuild.mjs", "LICENSE", "README.md"]) {
    assert.ok(files.includes(file), `missing ${file}`);
  }
  for (const file of files) assert.doesNotMatch(file, /^(src|test|bench|examples|native\/build)\/|\.tgz$/, `should not ship ${file}`);
  const manifest = JSON.parse((await ok("tar", ["xzfO", tarball, "package/package.json"], work)).stdout) as { scripts: Record<string, string>; os: string[] };
  // pnpm (11+) fails an install whose dependency has an install script or a binding.gyp at its root; npm (11)
  // warns at every install of one that lists `prepare` (scripts/packManifest.mjs keeps it out of the package).
  for (const hook of ["preinstall", "install", "postinstall", "prepare"]) assert.equal(manifest.scripts[hook], undefined, `no ${hook} script`);
  assert.ok(!files.includes("binding.gyp"));
  assert.deepEqual(manifest.os, ["linux"]);
});

test("npm: installed from the tarball, ES module and CommonJS programs", async () => {
  const dir = project(join(work, "npm"));
  await ok("npm", ["install", tarball], dir);
  assertNothingCompiled(join(dir, "node_modules", "multiproc"));
  await assertWorks(dir);
  await assertWorks(dir, "app.cjs");
  await assertUserBuild(dir, "npm");
});

test("npm --ignore-scripts", async () => {
  const dir = project(join(work, "ignore-scripts"));
  await ok("npm", ["install", "--ignore-scripts", tarball], dir);
  assertNothingCompiled(join(dir, "node_modules", "multiproc"));
  await assertWorks(dir);
});

test("npm with no compiler on PATH (node and npm only)", async () => {
  const dir = project(join(work, "no-compiler"));
  const bin = join(work, "bin-node-npm-only");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  const npmCli = realpathSync((await ok("sh", ["-c", "command -v npm"], work)).stdout.trim());
  symlinkSync(npmCli, join(bin, "npm"));
  const env = userEnv({ PATH: bin });
  assert.notEqual((await run("/bin/sh", ["-c", "command -v cc || command -v gcc || command -v g++ || command -v make"], dir, env)).code, 0);
  await ok(join(bin, "npm"), ["install", tarball], dir, env);
  assertNothingCompiled(join(dir, "node_modules", "multiproc"));
  await assertWorks(dir, "app.mjs", env);
});

for (const linker of ["isolated", "hoisted"]) {
  test(`pnpm, ${linker} node_modules`, async () => {
    const dir = project(join(work, `pnpm-${linker}`));
    const store = join(work, "pnpm-store");
    await ok(pnpm, ["add", tarball, `--config.node-linker=${linker}`, `--config.store-dir=${store}`], dir);
    assertNothingCompiled(join(dir, "node_modules", "multiproc"));
    await assertWorks(dir);
    await assertWorks(dir, "app.cjs");
    if (linker === "isolated") await assertUserBuild(dir, "pnpm");
  });
}

test("npm link: the package linked from a folder of its own", async () => {
  const env = userEnv({ npm_config_prefix: join(work, "global") });
  const library = await unpack(join(work, "linked", "multiproc"));
  await ok("npm", ["install", "--omit=dev"], library, env);
  await ok("npm", ["link"], library, env);
  const dir = project(join(work, "link-app"));
  await ok("npm", ["link", "multiproc"], dir, env);
  assert.equal(realpathSync(join(dir, "node_modules", "multiproc")), library);
  assertNothingCompiled(library);
  await assertWorks(dir);
});

test("npm workspaces: the package vendored as a workspace, imported by the root app through the workspace symlink", async () => {
  const dir = project(join(work, "workspace-root"), { workspaces: ["vendor/multiproc"], dependencies: { multiproc: "*" } });
  const library = await unpack(join(dir, "vendor", "multiproc"));
  await ok("npm", ["install"], dir);
  assert.equal(realpathSync(join(dir, "node_modules", "multiproc")), library);
  assert.ok(existsSync(join(library, "dist", "index.js")), "prepare must keep the shipped dist/");
  assertNothingCompiled(library);
  await assertWorks(dir);
});

test("npm workspaces: the app and the package both workspace packages", async () => {
  const root = join(work, "workspace-both");
  mkdirSync(root);
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "root", private: true, workspaces: ["packages/*"] }));
  const library = await unpack(join(root, "packages", "multiproc"));
  const app = project(join(root, "packages", "app"), { dependencies: { multiproc: "*" } });
  await ok("npm", ["install"], root);
  assertNothingCompiled(library);
  await assertWorks(app);
});
