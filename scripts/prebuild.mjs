/*
 * Run by `prepack`: compile the addon from the sources being packed and put it
 * where node-gyp-build looks first after a local build, so that installs on
 * this platform load it with no compiler and no install script. Named by
 * node-gyp-build's rules: prebuilds/<platform>-<arch>/<name>.<tags>.node.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";

const libc = process.platform === "linux" ? (existsSync("/etc/alpine-release") ? ".musl" : ".glibc") : "";
const dir = `prebuilds/${process.platform}-${process.arch}`;
execFileSync("node-gyp", ["rebuild"], { stdio: "inherit" });
rmSync("prebuilds", { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
copyFileSync("build/Release/multiproc.node", `${dir}/multiproc.napi${libc}.node`);
