/*
 * Compile the addon (native/binding.gyp, into native/build/) and copy it to
 * where node-gyp-build finds it in an installed package: run by `prepare`, so
 * a packed tarball carries the binary for the platform it was packed on, and
 * installs load it with no compiler and no install script. Shipped too, for
 * users on other platforms: `npm run build:native` in the package directory.
 * Named by node-gyp-build's rules: prebuilds/<platform>-<arch>/<name>.<tags>.node.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";

const libc = process.platform === "linux" ? (existsSync("/etc/alpine-release") ? ".musl" : ".glibc") : "";
const dir = `prebuilds/${process.platform}-${process.arch}`;
execFileSync("node-gyp", ["rebuild", "--directory=native"], { stdio: "inherit" });
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
copyFileSync("native/build/Release/multiproc.node", `${dir}/multiproc.napi${libc}.node`);
