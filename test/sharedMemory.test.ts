/* SharedMemory and ShareableList (src/sharedMemory.ts) in one process, across real processes and threads, and after crashes. */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SharedMemory, ShareableList, getContext, type StartMethod } from "../src/index.ts";
import * as targets from "./fixtures/shmTargets.ts";
import { fixtures, pidExists, pidsWithCommandLine, readJson, tempDir, waitUntil } from "./helpers.ts";

const methods: StartMethod[] = ["spawn", "thread"];

/** Every name this file uses starts with this prefix, or is a generated name recorded in `generated`. */
const prefix = `mpt${process.pid}-`;
let counter = 0;
const fresh = () => `${prefix}${counter++}`;
const generated = new Set<string>();
const existing = () => readdirSync("/dev/shm");
const inShm = (name: string) => existsSync(`/dev/shm/${name}`);

function created(options: { size: number; name?: string }): SharedMemory {
  const shm = new SharedMemory({ ...options, create: true });
  if (!options.name) generated.add(shm.name);
  return shm;
}

function errorCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.equal((err as { code?: string }).code, code, String(err));
    return true;
  };
}

after(async () => {
  // Segments of killed children are reclaimed asynchronously: wait for them (a hang guard, not a timing check).
  const ours = () => existing().filter((name) => name.startsWith(prefix) || generated.has(name));
  await waitUntil(() => ours().length === 0, 20_000, `no entries of this test file left in /dev/shm (left: ${ours().join(", ")})`).catch(() => {});
  assert.deepEqual(ours(), [], "entries of this test file left in /dev/shm");
});

describe("SharedMemory in one process", () => {
  test("a created segment has a generated psm_ name, its size and a zeroed buf; another attachment sees the same bytes", () => {
    const shm = created({ size: 100 });
    assert.match(shm.name, /^psm_[0-9a-f]{8}$/);
    assert.equal(shm.size, 100);
    assert.ok(shm.buf instanceof Uint8Array);
    assert.equal(shm.buf.length, 100);
    assert.ok(shm.buf.every((b) => b === 0));
    assert.ok(inShm(shm.name));
    assert.equal(String(shm), `SharedMemory("${shm.name}", size=100)`);
    shm.buf.set([1, 2, 3]);
    const other = new SharedMemory({ name: shm.name });
    assert.deepEqual(Array.from(other.buf.subarray(0, 4)), [1, 2, 3, 0]);
    other.buf[3] = 4;
    assert.equal(shm.buf[3], 4);
    other.close();
    shm.close();
    shm.unlink();
    assert.ok(!inShm(shm.name));
  });

  test("a given name is used as is; a leading slash is dropped", () => {
    const name = fresh();
    const shm = created({ name: `/${name}`, size: 8 });
    assert.equal(shm.name, name);
    assert.ok(inShm(name));
    shm.close();
    shm.unlink();
  });

  test("attaching ignores the size asked for and reports the segment's real size", () => {
    const shm = created({ name: fresh(), size: 64 });
    const bigger = new SharedMemory({ name: shm.name, size: 1 << 20 });
    assert.equal(bigger.size, 64);
    assert.equal(bigger.buf.length, 64);
    bigger.close();
    shm.close();
    shm.unlink();
  });

  test("creating requires a positive integer size; attaching requires a name", () => {
    assert.throws(() => new SharedMemory({ create: true }), RangeError);
    assert.throws(() => new SharedMemory({ create: true, size: 0 }), RangeError);
    assert.throws(() => new SharedMemory({ create: true, size: -1 }), RangeError);
    assert.throws(() => new SharedMemory({ create: true, size: 1.5 }), RangeError);
    assert.throws(() => new SharedMemory({ name: "x", size: -1 }), RangeError);
    assert.throws(() => new SharedMemory(), RangeError);
    assert.throws(() => new SharedMemory({ name: "a/b", create: true, size: 8 }), RangeError);
    assert.throws(() => new SharedMemory({ name: "a\0b", create: true, size: 8 }), RangeError);
    assert.throws(() => new SharedMemory({ name: "x".repeat(256), create: true, size: 8 }), RangeError);
  });

  test("creating an existing name is an EEXIST error; attaching a missing one is ENOENT", () => {
    const shm = created({ name: fresh(), size: 16 });
    assert.throws(() => new SharedMemory({ name: shm.name, create: true, size: 16 }), errorCode("EEXIST"));
    assert.throws(() => new SharedMemory({ name: fresh() }), errorCode("ENOENT"));
    shm.close();
    shm.unlink();
  });

  test("a second unlink is an ENOENT error, and the name can no longer be attached", () => {
    const shm = created({ name: fresh(), size: 16 });
    shm.unlink();
    assert.ok(!inShm(shm.name));
    assert.throws(() => shm.unlink(), errorCode("ENOENT"));
    assert.throws(() => new SharedMemory({ name: shm.name }), errorCode("ENOENT"));
    // Unlinked is not closed: the mapping still works.
    shm.buf[0] = 5;
    assert.equal(shm.buf[0], 5);
    shm.close();
  });

  test("close() is idempotent; buf then throws and earlier views have length 0 instead of dangling", () => {
    const shm = created({ name: fresh(), size: 32 });
    const view = new Float64Array(shm.buf.buffer);
    view[0] = 1.5;
    shm.close();
    shm.close();
    assert.throws(() => shm.buf, /closed/);
    assert.equal(view.length, 0);
    assert.equal(view[0], undefined);
    shm.unlink();
  });

  test("a closed segment that was not unlinked stays attachable while its creator lives", () => {
    const shm = created({ name: fresh(), size: 16 });
    shm.buf[0] = 42;
    shm.close();
    const again = new SharedMemory({ name: shm.name });
    assert.equal(again.buf[0], 42);
    again.close();
    again.unlink();
  });

  test("using releases the mapping at the end of the scope", () => {
    const name = fresh();
    let escaped: SharedMemory;
    {
      using shm = created({ name, size: 8 });
      escaped = shm;
      shm.buf[0] = 1;
    }
    assert.throws(() => escaped.buf, /closed/);
    escaped.unlink();
  });

  test("a segment larger than /dev/shm fails at creation with ENOMEM naming both sizes (no SIGBUS later, no page committed) and leaves nothing", (t) => {
    const fs = statfsSync("/dev/shm");
    const total = fs.blocks * fs.bsize;
    if (total === 0 || total > 2 ** 46) {
      t.skip("/dev/shm has no size limit here");
      return;
    }
    const name = fresh();
    assert.throws(() => new SharedMemory({ name, create: true, size: total + (1 << 30) }), (err: unknown) => {
      assert.ok(err instanceof RangeError);
      assert.equal((err as { code?: string }).code, "ENOMEM");
      assert.match((err as Error).message, new RegExp(`cannot allocate .*\\(${total + (1 << 30)} bytes\\) of shared memory: only .* available .*free space of /dev/shm`));
      return true;
    });
    assert.ok(!inShm(name));
  });
});

describe("ShareableList in one process", () => {
  const mixed = ["howdy", Buffer.from("HoWdY"), -273.154, 100, null, true, 42n] as const;

  test("values that are not iterable are refused, not taken for an empty list; attaching by name is shown", () => {
    const list = new ShareableList([1]);
    const name = list.shm.name;
    generated.add(name);
    assert.throws(() => new ShareableList({ name } as never), (err: Error) => err instanceof TypeError && /new ShareableList\(null, \{ name \}\)/.test(err.message));
    assert.throws(() => new ShareableList(5 as never), /must be iterable .* got number/);
    const attached = new ShareableList(null, { name });
    assert.equal(attached.get(0), 1);
    attached.shm.close();
    list.shm.close();
    list.shm.unlink();
  });

  test("mixed values round-trip, with negative indices, get/set and length", () => {
    const list = new ShareableList([...mixed]);
    generated.add(list.shm.name);
    assert.equal(list.length, 7);
    assert.equal(list[0], "howdy");
    assert.deepEqual(list[1], Buffer.from("HoWdY"));
    assert.ok(Buffer.isBuffer(list[1]));
    assert.equal(list[2], -273.154);
    assert.equal(list[3], 100);
    assert.equal(list[4], null);
    assert.equal(list[5], true);
    assert.equal(list[6], 42n);
    assert.equal(list[-1], 42n);
    assert.equal(list.get(-7), "howdy");
    assert.ok(0 in list && 6 in list && -7 in list && !(7 in list));
    assert.equal(String(list), `ShareableList(["howdy", <5 bytes>, -273.154, 100, null, true, 42n], name="${list.shm.name}")`);
    list[3] = 2 ** 53;
    list.set(4, "n/a");
    assert.equal(list.get(3), 2 ** 53);
    assert.equal(list[4], "n/a");
    assert.equal(list.count(true), 1);
    assert.equal(list.index(-273.154), 2);
    assert.equal(list.index(Buffer.from("HoWdY")), 1);
    assert.throws(() => list.index("absent"), RangeError);
    list.shm.close();
    list.shm.unlink();
  });

  test("an item can change type: any slot takes any scalar, strings up to the slot's size", () => {
    const list = new ShareableList([1, "abc"]);
    generated.add(list.shm.name);
    list[0] = "12345678"; // a number's slot holds 8 bytes
    list[1] = 7n;
    assert.deepEqual([...list], ["12345678", 7n]);
    list[1] = false;
    assert.equal(list[1], false);
    list.shm.close();
    list.shm.unlink();
  });

  test("a string longer than its slot throws without touching its neighbours; UTF-8 bytes count", () => {
    const list = new ShareableList(["a", "abcdefgh", "z"], { name: fresh() });
    // "abcdefgh" has a slot of 8 bytes: 8 ASCII characters fit, 4 two-byte characters fit, 5 do not.
    list[1] = "éééé";
    assert.equal(list[1], "éééé");
    assert.throws(() => (list[1] = "ééééé"), /exceeds available storage/);
    assert.throws(() => list.set(1, Buffer.alloc(9)), /exceeds available storage/);
    assert.deepEqual([...list], ["a", "éééé", "z"]);
    list.shm.close();
    list.shm.unlink();
  });

  test("out-of-range indices and unsupported values are refused", () => {
    const list = new ShareableList([1, 2]);
    generated.add(list.shm.name);
    assert.throws(() => list.get(2), RangeError);
    assert.throws(() => list.get(-3), RangeError);
    assert.throws(() => (list[5] = 1), RangeError);
    assert.throws(() => list.set(0, undefined as never), TypeError);
    assert.throws(() => list.set(0, {} as never), TypeError);
    assert.throws(() => list.set(0, 2n ** 64n), RangeError);
    assert.throws(() => new ShareableList([[1]] as never), TypeError);
    assert.deepEqual([...list], [1, 2]);
    list.shm.close();
    list.shm.unlink();
  });

  test("attaching by name sees the same list; an empty list works; a plain segment is not a list", () => {
    const list = new ShareableList(["x", 1], { name: fresh() });
    const same = new ShareableList(null, { name: list.shm.name });
    assert.deepEqual([...same], ["x", 1]);
    same[1] = 2;
    assert.equal(list[1], 2);
    const empty = new ShareableList([]);
    generated.add(empty.shm.name);
    assert.equal(empty.length, 0);
    assert.deepEqual([...empty], []);
    const plain = created({ name: fresh(), size: 64 });
    assert.throws(() => new ShareableList(null, { name: plain.name }), /does not hold a ShareableList/);
    for (const shm of [same.shm, list.shm, empty.shm, plain]) shm.close();
    for (const shm of [list.shm, empty.shm, plain]) shm.unlink();
  });
});

for (const method of methods) {
  const ctx = getContext(method);

  describe(`${method}: SharedMemory and ShareableList across processes`, () => {
    test("a child attaches by name, sees the parent's bytes, and the parent sees the child's", async () => {
      const shm = created({ name: fresh(), size: 4096 });
      shm.buf.set([10, 20, 30]);
      const out = join(tempDir(), "seen.json");
      const p = new ctx.Process({ target: targets.attachReadWrite, args: [shm.name, 4, 100, [7, 8, 9], out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(readJson(out), { name: shm.name, size: 4096, seen: [10, 20, 30, 0] });
      assert.deepEqual(Array.from(shm.buf.subarray(100, 103)), [7, 8, 9]);
      shm.close();
      shm.unlink();
    });

    test("a SharedMemory passed as an argument arrives attached to the same memory", async () => {
      const shm = created({ size: 256 });
      shm.buf.set([1, 2]);
      const out = join(tempDir(), "seen.json");
      const p = new ctx.Process({ target: targets.receiveSegment, args: [shm, 2, 10, [77], out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(readJson(out), { isSharedMemory: true, name: shm.name, size: 256, seen: [1, 2] });
      assert.equal(shm.buf[10], 77);
      shm.close();
      shm.unlink();
    });

    test("a segment a child created is attachable by the parent while the child holds it", async () => {
      const dir = tempDir();
      const name = fresh();
      const p = new ctx.Process({ target: targets.createAndHold, args: [name, 512, 0xab, join(dir, "ready"), join(dir, "release")] });
      p.start();
      await waitUntil(() => existsSync(join(dir, "ready")), 30_000, "the child's segment");
      const shm = new SharedMemory({ name });
      assert.equal(shm.size, 512);
      assert.ok(shm.buf.every((b) => b === 0xab));
      writeFileSync(join(dir, "release"), "");
      await p.join();
      assert.equal(p.exitCode, 0);
      shm.close();
      shm.unlink();
    });

    test("a ShareableList of mixed values travels by reference; each side sees the other's writes", async () => {
      const list = new ShareableList(["howdy", Buffer.from("HoWdY"), -273.154, 100, null, true, 42n, "a longer string, 32 bytes here!!"]);
      generated.add(list.shm.name);
      const out = join(tempDir(), "list.json");
      const p = new ctx.Process({ target: targets.describeAndUpdateList, args: [list, out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(readJson(out), {
        isList: true,
        name: list.shm.name,
        length: 8,
        items: [
          { type: "string", value: "howdy" },
          { type: "Buffer", value: [72, 111, 87, 100, 89] },
          { type: "number", value: -273.154 },
          { type: "number", value: 100 },
          { type: "null", value: null },
          { type: "boolean", value: true },
          { type: "bigint", value: "42" },
          { type: "string", value: "a longer string, 32 bytes here!!" },
        ],
        last: { type: "string", value: "a longer string, 32 bytes here!!" },
      });
      assert.deepEqual([...list], ["child", Buffer.from("HoWdY"), 1.5, -(2n ** 63n), Buffer.from([9, 8, 7]), false, null, "a longer string, 32 bytes here!!"]);
      list.shm.close();
      list.shm.unlink();
    });

    test("a child's too-long string is refused and the items stay as they were", async () => {
      const list = new ShareableList(["short", 1, "next"], { name: fresh() });
      const out = join(tempDir(), "overfill.json");
      const p = new ctx.Process({ target: targets.overfillList, args: [list.shm.name, 0, "much longer than eight bytes", out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      const report = readJson<{ error: { name: string; message: string } | null; items: unknown[] }>(out);
      assert.equal(report.error?.name, "RangeError");
      assert.match(report.error!.message, /exceeds available storage/);
      assert.deepEqual([...list], ["short", 1, "next"]);
      list.shm.close();
      list.shm.unlink();
    });
  });
}

describe("reclaiming segments whose users died", () => {
  const ctx = getContext("spawn");

  test("a child SIGKILLed while holding a segment it created leaves nothing in /dev/shm", async () => {
    const dir = tempDir();
    const name = fresh();
    const p = new ctx.Process({ target: targets.createAndHold, args: [name, 8192, 1, join(dir, "ready")] });
    p.start();
    await waitUntil(() => existsSync(join(dir, "ready")), 30_000, "the child's segment");
    assert.ok(inShm(name));
    p.kill();
    await p.join();
    assert.equal(p.exitCode, -9);
    await waitUntil(() => !inShm(name), 20_000, `${name} to be reclaimed`);
  });

  test("a segment outlives its killed creator while another process uses it, and goes when that one exits", async () => {
    const dir = tempDir();
    const name = fresh();
    const creator = new ctx.Process({ target: targets.createAndHold, args: [name, 4096, 3, join(dir, "created")] });
    creator.start();
    await waitUntil(() => existsSync(join(dir, "created")), 30_000, "the creator's segment");
    const user = new ctx.Process({ target: targets.attachAndHold, args: [name, join(dir, "attached"), join(dir, "release")] });
    user.start();
    await waitUntil(() => existsSync(join(dir, "attached")), 30_000, "the attacher");
    assert.deepEqual(readJson(join(dir, "attached")), { first: 3 });
    creator.kill();
    await creator.join();
    // Several tracker rounds (0.5 s each) pass: the attacher still holds it, so it must still be there.
    await sleep(1600);
    assert.ok(inShm(name), "reclaimed while a live process still used it");
    writeFileSync(join(dir, "release"), "");
    await user.join();
    assert.equal(user.exitCode, 0);
    await waitUntil(() => !inShm(name), 20_000, `${name} to be reclaimed`);
  });

  test("a segment whose creator was killed stays while this process maps it, and goes when it closes it", async () => {
    const dir = tempDir();
    const name = fresh();
    const creator = new ctx.Process({ target: targets.createAndHold, args: [name, 4096, 5, join(dir, "created")] });
    creator.start();
    await waitUntil(() => existsSync(join(dir, "created")), 30_000, "the creator's segment");
    const shm = new SharedMemory({ name });
    creator.kill();
    await creator.join();
    await sleep(1600);
    assert.ok(inShm(name), "reclaimed while this process still mapped it");
    assert.equal(shm.buf[0], 5);
    shm.close();
    await waitUntil(() => !inShm(name), 20_000, `${name} to be reclaimed`);
  });

  /** Run shm-program.ts with a tracker of its own (MULTIPROC_SHM_TRACKER) and wait for it to exit. */
  function program(args: string[], label: string): { pid: number; exited: Promise<number | null> } {
    const child = spawn(process.execPath, ["--import", "tsx", join(fixtures, "shm-program.ts"), ...args], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, MULTIPROC_SHM_TRACKER: label },
    });
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => (clearTimeout(guard), resolve(code))));
    return { pid: child.pid!, exited };
  }
  const trackers = (label: string) => pidsWithCommandLine(`multiproc-shm-tracker ${label}`);

  test("a program that exits without unlinking leaves nothing behind, and its tracker then exits", async () => {
    const label = `${prefix}tracker-a`;
    const names = [fresh(), fresh()];
    const run = program(["leave", tempDir(), ...names], label);
    assert.equal(await run.exited, 0);
    await waitUntil(() => names.every((n) => !inShm(n)), 20_000, "the segments to be reclaimed");
    await waitUntil(() => trackers(label).length === 0, 20_000, "the tracker to exit");
  });

  test("a tracker that was killed is replaced, and the new one learns the segments created before", async () => {
    const label = `${prefix}tracker-b`;
    const dir = tempDir();
    const [first, second] = [fresh(), fresh()];
    const run = program(["relink", dir, first, second], label);
    await waitUntil(() => existsSync(join(dir, "first")), 30_000, "the first segment");
    await waitUntil(() => trackers(label).length === 1, 20_000, "the tracker");
    const [old] = trackers(label);
    process.kill(old!, "SIGKILL");
    // Not "its command line is gone", nor "it is a zombie": the kernel drops the command line (with
    // the memory) before it closes the tracker's sockets, and a killed process's main thread shows as a
    // zombie while its other threads, which share its descriptors, are still exiting. A segment
    // registered in between goes to a tracker about to vanish. Its parent (the program, which started
    // it) can reap it only once every thread has exited, all descriptors closed.
    await waitUntil(() => !pidExists(old!), 20_000, "the tracker to die and be reaped");
    writeFileSync(join(dir, "go"), "");
    await waitUntil(() => existsSync(join(dir, "second")), 30_000, "the second segment");
    process.kill(run.pid, "SIGKILL");
    await run.exited;
    await waitUntil(() => !inShm(first) && !inShm(second), 20_000, "both segments to be reclaimed");
    await waitUntil(() => trackers(label).length === 0, 20_000, "the new tracker to exit");
  });
});
