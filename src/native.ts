/*
 * Loads the native addon (native/multiproc.c), the equivalent of CPython's
 * _multiprocessing C module. Loaded lazily: a process that never needs it
 * (a non-daemon child, say) does not pay for it.
 */
import { requireFromPackage, builtin } from "./runtime.ts";

const { fileURLToPath } = builtin("node:url");

export interface NativeAddon {
  /** prctl(PR_SET_PDEATHSIG): returns 0 or an errno value (ENOSYS off Linux). */
  setParentDeathSignal(signo: number): number;
  /** A nameless in-memory file (memfd_create on Linux): its fd, or -errno. */
  anonymousFile(): number;
  /** pipe2(O_CLOEXEC): [readFd, writeFd], or -errno. */
  pipe(): [number, number] | number;
}

const packageRoot = fileURLToPath(new URL("..", import.meta.url));
let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  try {
    addon = requireFromPackage()(`${packageRoot}build/Release/multiproc.node`) as NativeAddon;
  } catch {
    try {
      const build = requireFromPackage()("node-gyp-build") as (dir: string) => NativeAddon;
      addon = build(packageRoot);
    } catch (err) {
      throw new Error(
        "multiproc: the native addon is not built for this Node.js. It is compiled by node-gyp when the package " +
          "is installed, which needs python3, make and a C compiler (on Debian/Ubuntu: apt-get install -y python3 make g++), " +
          `then run \`npm rebuild multiproc\`. Cause: ${(err as Error).message}`,
      );
    }
  }
  return addon;
}
