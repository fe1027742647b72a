/*
 * Loads the native addon (native/multiproc.c), the equivalent of CPython's
 * _multiprocessing C module. Loaded lazily: a process that never needs it
 * (a non-daemon child, say) does not pay for it.
 */
import { requireFromPackage, builtin } from "./runtime.ts";

const { fileURLToPath } = builtin("node:url");
const { existsSync } = builtin("node:fs");

export interface NativeAddon {
  /** prctl(PR_SET_PDEATHSIG): returns 0 or an errno value (ENOSYS off Linux). */
  setParentDeathSignal(signo: number): number;
  /** A nameless in-memory file (memfd_create on Linux): its fd, or -errno. */
  anonymousFile(): number;
  /** pipe2(O_CLOEXEC): [readFd, writeFd], or -errno. */
  pipe(): [number, number] | number;
  /**
   * A listening socket bound now: a Unix one at `path` ("\0name": abstract), else IPv4 `host:port`
   * (SO_REUSEADDR). [fd, port, bound IPv4 address ("" for Unix)], or -errno (-ENOENT: the host does
   * not resolve to IPv4).
   */
  listenSocket(path: string | null, host: string, port: number, backlog: number): [number, number, string] | number;
  /**
   * recv into `buffer` from connected socket `fd` without blocking, retried for `spinUs` microseconds, then
   * poll up to `timeoutMs`: the bytes read, 0 at the end of the stream, or -errno (-EAGAIN: nothing came).
   */
  socketRead(fd: number, buffer: Uint8Array, spinUs: number, timeoutMs: number): number;
  /** send `buffer` to connected socket `fd` without blocking or SIGPIPE: the bytes sent (maybe fewer), or -errno. */
  socketWrite(fd: number, buffer: Uint8Array): number;
  /**
   * A new shared segment (memfd, pages reserved): its id in this process, or -errno. reserve > size:
   * map that much address space, for a segment that will grow (segmentGrow).
   */
  segmentCreate(size: number, reserve: number): number;
  /**
   * Map the segment that process `pid` holds as descriptor `fd`, if that is still inode `inode`: its id,
   * or -errno (ESTALE if not). populate (1): fill the page tables of a large segment now. reserve: map
   * at least that much, for a segment that will grow.
   */
  segmentOpen(pid: number, fd: number, inode: number, populate: number, reserve: number): number;
  /** The segment's inode number. */
  segmentInode(id: number): number;
  /** An ArrayBuffer over the first `length` bytes of the segment's mapping (0: all); the mapping lives while any such buffer does. */
  segmentBuffer(id: number, length: number): ArrayBuffer;
  /**
   * Detach a buffer segmentBuffer made and drop its reference now (not when it is collected); with this
   * process's last one the mapping and the descriptor go. Idempotent.
   */
  segmentClose(buffer: ArrayBuffer): void;
  /** Drop the reference segmentCreate/segmentOpen returned. */
  segmentRelease(id: number): void;
  /** Make the segment's file at least `size` bytes, reserving the pages of [from, size): 0 or -errno. Mappings must already cover it (reserve). */
  segmentGrow(id: number, from: number, size: number): number;
  /** Free the pages of [offset, offset + length) (they read as zeros until written): 0 or -errno. */
  segmentDiscard(id: number, offset: number, length: number): number;
  /** The descriptor this process holds the segment by. */
  segmentFd(id: number): number;
  /**
   * The bytes a shared allocation may still commit: the lowest of MemAvailable, the memory cgroup limits
   * minus their usage, and (with `path`) that filesystem's free space. Creation and growth return -ENOMEM
   * past it, before any page is committed.
   */
  memoryRoom(path: string | null): number;
  /** Block while the 32-bit word at `offset` holds `expected`: 0 woken, 1 timed out, 2 changed. timeoutMs < 0: no limit. */
  futexWait(id: number, offset: number, expected: number, timeoutMs: number): number;
  futexWake(id: number, offset: number, count: number): number;
  /** The calling thread's OS thread id (unique across processes). */
  threadId(): number;
  /**
   * The same wait without blocking: `done(result)` runs later on this thread. Returns a request id, or -errno.
   * `settleOffset` >= 0: a word the waiter thread decrements as soon as the wait ends (or is cancelled).
   * `linger` 1: this is the word's only sleeper and will wait on it again; the waiter thread keeps
   * watching it meanwhile, and the next wait on it costs no wake of that thread (native/waiter.c).
   */
  waitAsync(id: number, offset: number, expected: number, timeoutMs: number, done: (result: number) => void, settleOffset: number, linger: number): number;
  /** True if the wait was still pending; its callback will then never run. */
  cancelWait(request: number): boolean;
  /**
   * Create (O_EXCL, sized, pages reserved) or attach the POSIX segment `name` (no leading slash)
   * and map it: the buffer, and whether the tracker was told to watch it; or -errno.
   */
  shmOpen(name: string, create: boolean, size: number): { buffer: ArrayBuffer; tracked: boolean } | number;
  /** Unmap at once; the buffer is detached (zero length). */
  shmClose(buffer: ArrayBuffer): void;
  /** shm_unlink, and drop this process's hold on the segment: 0 or -errno. */
  shmUnlink(name: string): number;
  /** 0: linked to a running tracker; > 0: a listening socket fd to start a tracker on (then close it); or -errno. */
  shmTrackerConnect(): number;
  /** The tracker's loop, on listening socket `fd`; returns when nothing is left to watch and no client is linked. */
  shmTrackerRun(fd: number): number;
  /** The file this addon was loaded from. */
  shmAddonPath(): string;
}

/** Results of futexWait / waitAsync. */
export const WOKEN = 0;
export const TIMED_OUT = 1;
export const CHANGED = 2;

const packageRoot = fileURLToPath(new URL("..", import.meta.url));
let addon: NativeAddon | undefined;

/**
 * A build of the user's own (npm run build:native) comes first, then the prebuilt binary the package
 * ships, by its path: node-gyp-build's search finds it too, but costs several milliseconds at every
 * start of a child that needs the addon. node-gyp-build stays the fallback for other names and tags.
 */
const candidates = [`${packageRoot}native/build/Release/multiproc.node`, `${packageRoot}prebuilds/${process.platform}-${process.arch}/multiproc.napi.glibc.node`];

export function native(): NativeAddon {
  if (addon) return addon;
  // Why a binary that is there did not load (a glibc older than the prebuilt one needs, say): the most useful cause.
  let unloadable: Error | undefined;
  for (const file of candidates) {
    try {
      addon = requireFromPackage()(file) as NativeAddon;
      return addon;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") unloadable ??= err as Error;
    }
  }
  try {
    const build = requireFromPackage()("node-gyp-build") as (dir: string) => NativeAddon;
    addon = build(packageRoot);
  } catch (err) {
    throw new Error(`multiproc: the native addon could not be loaded (${(unloadable ?? (err as Error)).message.trim()}). ${buildAdvice()}`);
  }
  return addon;
}

/**
 * How to build the addon, in the words of the package manager that installed
 * this copy. The package has no install script (pnpm refuses or skips those
 * by default), so a platform without a prebuilt binary builds it by hand, once.
 */
function buildAdvice(): string {
  const agent = process.env.npm_config_user_agent ?? "";
  const pnpm = agent.startsWith("pnpm") || packageRoot.includes("/node_modules/.pnpm/");
  const command = pnpm ? `pnpm --dir ${packageRoot} run build:native` : `npm run build:native --prefix ${packageRoot}`;
  const prebuilt = process.platform === "linux" && process.arch === "x64" && !existsSync("/etc/alpine-release");
  return (
    (prebuilt ? "" : `The package carries a prebuilt binary for linux-x64 (glibc 2.34 or later) only, not for ${process.platform}-${process.arch}. `) +
    `Build the addon for this system once with \`${command}\`, which needs python3, make and a C compiler ` +
    "(Debian/Ubuntu: apt-get install -y python3 make g++; Alpine: apk add python3 make g++ linux-headers). multiproc runs on Linux only."
  );
}
