/* Shared values and arrays (src/sharedctypes.ts), in one process and across real processes and threads. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
import * as mp from "../src/index.ts";
import {
  Barrier,
  Lock,
  RLock,
  RawArray,
  RawValue,
  SharedArray,
  Value,
  getContext,
  type Process,
  type StartMethod,
  type Target,
  type Typecode,
} from "../src/index.ts";
import * as targets from "./fixtures/sharedTargets.ts";
import { tempDir } from "./helpers.ts";

const methods: StartMethod[] = ["spawn", "thread"];

/** A hang guard only: no assertion depends on how long a child takes. */
const HANG_MS = 120_000;

function start(method: StartMethod, target: Target, args: unknown[]): Process {
  const child = new (getContext(method).Process)({ target, args });
  child.start();
  return child;
}

async function finish(...children: Process[]): Promise<void> {
  for (const child of children) {
    await child.join(HANG_MS);
    if (child.exitCode === null) child.kill();
    assert.equal(child.exitCode, 0, `child ${child.name} exited with ${child.exitCode}`);
  }
}

/** Two children running `target(start, ...args)`; `start` is a Barrier they meet at, so that their loops overlap. */
async function together(method: StartMethod, target: Target, args: unknown[]): Promise<void> {
  const barrier = new Barrier(2);
  await finish(start(method, target, [barrier, ...args]), start(method, target, [barrier, ...args]));
}

async function run(method: StartMethod, target: Target, args: unknown[]): Promise<void> {
  await finish(start(method, target, args));
}

describe("Value and RawValue in one process", () => {
  test("every typecode starts at zero, or at its initial value, and has Python's element type", () => {
    const numbers: Typecode[] = ["b", "B", "h", "H", "i", "I", "f", "d"];
    const bigints: Typecode[] = ["l", "L", "q", "Q"];
    for (const code of numbers) {
      assert.equal(new Value(code).value, 0, code);
      assert.equal(new RawValue(code, 7).value, 7, code);
    }
    for (const code of bigints) {
      assert.equal(new Value(code).value, 0n, code);
      assert.equal(new RawValue(code, 7n).value, 7n, code);
    }
  });

  test("values convert as the C types do: integers wrap, float32 rounds, 64-bit codes hold the full range", () => {
    assert.equal(new Value("b", 200).value, -56);
    assert.equal(new Value("B", 300).value, 44);
    assert.equal(new Value("H", -1).value, 65535);
    assert.equal(new Value("I", -1).value, 4294967295);
    assert.equal(new Value("f", 0.1).value, Math.fround(0.1));
    assert.equal(new Value("d", 0.1).value, 0.1);
    assert.equal(new Value("q", -(2n ** 63n)).value, -(2n ** 63n));
    assert.equal(new Value("Q", 2n ** 64n - 1n).value, 2n ** 64n - 1n);
    assert.equal(new Value("l", 2n ** 62n).value, 2n ** 62n);
    const v = new Value("i", 1);
    v.value = 41;
    v.value += 1;
    assert.equal(v.value, 42);
  });

  test("the TypeScript element type follows the typecode", () => {
    const big: bigint = new Value("q", 0n).value;
    const small: number = new Value("i", 0).value;
    assert.equal(typeof big, "bigint");
    assert.equal(typeof small, "number");
    // @ts-expect-error a 64-bit code holds bigints
    assert.throws(() => new Value("q", 1), TypeError);
    // @ts-expect-error a 32-bit code holds numbers
    assert.throws(() => new Value("i", 1n), TypeError);
  });

  test("integer atomics: add, sub and exchange return the previous value; compareExchange swaps only on a match", () => {
    const v = new Value("i", 10);
    assert.equal(v.add(5), 10);
    assert.equal(v.value, 15);
    assert.equal(v.sub(3), 15);
    assert.equal(v.exchange(100), 12);
    assert.equal(v.compareExchange(99, 1), 100);
    assert.equal(v.value, 100);
    assert.equal(v.compareExchange(100, 1), 100);
    assert.equal(v.value, 1);
    const q = new RawValue("Q", 2n ** 64n - 1n);
    assert.equal(q.add(1n), 2n ** 64n - 1n);
    assert.equal(q.value, 0n);
    const d = new Value("d", 1.5);
    // @ts-expect-error the atomic helpers are for integer codes only
    assert.throws(() => d.add(1), /add\(\) needs an integer typecode/);
    // @ts-expect-error
    assert.throws(() => d.compareExchange(1.5, 2), TypeError);
  });

  test("an unknown typecode is a TypeError naming the valid ones", () => {
    for (const bad of ["x", "u", "c", "", "ii", 5, undefined, "__proto__", "toString"]) {
      assert.throws(() => new Value(bad as Typecode), (err: Error) => err instanceof TypeError && /^bad typecode \(must be b, B, h, H, i, I, l, L, q, Q, f or d\)/.test(err.message), String(bad));
      assert.throws(() => new RawValue(bad as Typecode), TypeError);
      assert.throws(() => new SharedArray(bad as Typecode, 3), TypeError);
      assert.throws(() => new RawArray(bad as Typecode, 3), TypeError);
    }
  });

  test("toString and inspect show the typecode and the value", () => {
    assert.equal(String(new Value("i", 3)), "Value('i', 3)");
    assert.equal(inspect(new RawValue("q", 3n)), "RawValue('q', 3n)");
    assert.equal(JSON.stringify({ v: new Value("d", 0.5) }), '{"v":0.5}');
  });
});

describe("the lock option", () => {
  test("by default a Value and a SharedArray get an RLock of their own; lock: true is the same", async () => {
    for (const shared of [new Value("i"), new Value("i", 0, { lock: true }), new SharedArray("i", 2), new SharedArray("i", 2, { lock: true })]) {
      assert.ok(shared instanceof (shared instanceof RawValue ? Value : SharedArray));
      const lock = shared.getLock();
      assert.ok(lock instanceof RLock);
      assert.equal(shared.acquireSync(), true);
      assert.equal(shared.acquireSync(), true, "an RLock: its holder may take it again");
      assert.equal(lock.count(), 2);
      shared.release();
      shared.release();
      assert.equal(lock.locked(), false);
      {
        await using held = await shared.hold();
        assert.equal(held.ownerDied, false);
        assert.equal(lock.locked(), true);
      }
      assert.equal(lock.locked(), false);
    }
    assert.notEqual(new Value("i").getLock(), new Value("i").getLock());
  });

  test("a given Lock or RLock is the one getLock() returns, and the one acquire() takes", async () => {
    const lock = new Lock();
    const v = new Value("d", 0, { lock });
    const a = new SharedArray("d", 4, { lock });
    assert.equal(v.getLock(), lock);
    assert.equal(a.getLock(), lock);
    assert.equal(await v.acquire(), true);
    assert.equal(lock.locked(), true);
    assert.equal(a.acquireSync({ block: false }), false, "a plain Lock shared by both: taken once");
    a.release();
    const rlock = new RLock();
    assert.equal(new RawArray("i", 0) instanceof SharedArray, false);
    assert.equal(new SharedArray("i", 1, { lock: rlock }).getLock(), rlock);
  });

  test("lock: false gives a RawValue / RawArray, which have no getLock (as Python's raw objects)", () => {
    const v = new Value("i", 5, { lock: false });
    const a = new SharedArray("i", [1, 2], { lock: false });
    assert.ok(v instanceof RawValue);
    assert.ok(!(v instanceof Value));
    assert.equal("getLock" in v, false);
    assert.equal(v.value, 5);
    assert.ok(a instanceof RawArray);
    assert.ok(!(a instanceof SharedArray));
    assert.equal("getLock" in a, false);
    assert.deepEqual(a.toArray(), [1, 2]);
    // @ts-expect-error the type says there is no lock either
    assert.equal(v.getLock, undefined);
    for (const raw of [new RawValue("i"), new RawArray("i", 1)]) assert.equal("getLock" in raw, false);
  });

  test("anything else as lock is a TypeError", () => {
    for (const bad of [5, "yes", null, {}]) {
      assert.throws(() => new Value("i", 0, { lock: bad as never }), /lock must be true, false, a Lock or an RLock/);
      assert.throws(() => new SharedArray("i", 1, { lock: bad as never }), TypeError);
    }
  });
});

describe("SharedArray and RawArray in one process", () => {
  test("created with a size, every element is zero; the view is a typed array of the code over the same memory", () => {
    const cases: Array<[Typecode, new (...args: never[]) => ArrayBufferView, number | bigint]> = [
      ["b", Int8Array, 0], ["B", Uint8Array, 0], ["h", Int16Array, 0], ["H", Uint16Array, 0], ["i", Int32Array, 0], ["I", Uint32Array, 0],
      ["l", BigInt64Array, 0n], ["L", BigUint64Array, 0n], ["q", BigInt64Array, 0n], ["Q", BigUint64Array, 0n], ["f", Float32Array, 0], ["d", Float64Array, 0],
    ];
    // Dirty the heap first: new blocks must still come zeroed.
    const dirty = new RawArray("d", 100);
    dirty.view.fill(-1);
    for (const [code, View, zero] of cases) {
      const a = new SharedArray(code, 37);
      assert.ok(a.view instanceof View, code);
      assert.equal(a.length, 37);
      assert.equal(a.view.length, 37);
      assert.ok(a.toArray().every((x) => x === zero), code);
      a[36] = (typeof zero === "bigint" ? 5n : 5) as never;
      assert.equal(a.view[36], typeof zero === "bigint" ? 5n : 5);
    }
    assert.equal(new SharedArray("i", 0).length, 0);
  });

  test("created from values: arrays, typed arrays and iterables; index access reads and writes the view", () => {
    const a = new SharedArray("i", [3, 1, 2]);
    assert.deepEqual(a.toArray(), [3, 1, 2]);
    assert.equal(a[0], 3);
    a[1] = 10;
    assert.equal(a.view[1], 10);
    a.view[2] = 20;
    assert.equal(a[2], 20);
    assert.deepEqual([...a], [3, 10, 20]);
    assert.deepEqual(Array.from(a), [3, 10, 20]);
    assert.equal(1 in a, true);
    assert.equal(3 in a, false);
    assert.deepEqual(Object.keys(a).slice(0, 3), ["0", "1", "2"]);
    assert.deepEqual(new RawArray("d", new Float64Array([0.5, 1.5])).toArray(), [0.5, 1.5]);
    assert.deepEqual(new RawArray("q", new Set([1n, 2n])).toArray(), [1n, 2n]);
    assert.deepEqual(new SharedArray("B", Uint8Array.of(1, 255)).toArray(), [1, 255]);
    const big: bigint = new SharedArray("Q", [2n ** 64n - 1n])[0]!;
    assert.equal(big, 2n ** 64n - 1n);
  });

  test("out-of-range indexes throw RangeError instead of reading undefined or dropping the write", () => {
    const a = new SharedArray("i", 3);
    assert.throws(() => a[3], RangeError);
    assert.throws(() => {
      a[5] = 1;
    }, /index 5 out of range \(length 3\)/);
    assert.throws(() => (a as unknown as Record<string, number>)["-1"], RangeError);
    assert.throws(() => {
      delete a[0];
    }, TypeError);
  });

  test("bad sizes and values are refused", () => {
    assert.throws(() => new SharedArray("i", -1), RangeError);
    assert.throws(() => new SharedArray("i", 1.5), RangeError);
    assert.throws(() => new SharedArray("i", null as never), TypeError);
    assert.throws(() => new SharedArray("i", "abc" as never), TypeError);
    // @ts-expect-error bigint codes take bigints
    assert.throws(() => new SharedArray("q", [1, 2]), /element 0 of typecode 'q' must be a bigint/);
    assert.throws(() => new SharedArray("d", [1, "2"] as never), /element 1 of typecode 'd' must be a number/);
  });

  test("toString and inspect show the elements, the first 100 of a long array", () => {
    assert.equal(String(new SharedArray("i", [1, 2])), "SharedArray('i', [1, 2])");
    assert.equal(inspect(new RawArray("q", [1n])), "RawArray('q', [1n])");
    assert.match(String(new RawArray("B", 150)), /, \.\.\. 50 more\]\)$/);
    assert.equal(JSON.stringify(new SharedArray("d", [0.5])), "[0.5]");
  });

  test("exported as Array for `import * as mp` users, and offered by every context", () => {
    assert.equal(mp.Array, SharedArray);
    const a = new mp.Array("d", 2);
    assert.ok(a instanceof SharedArray);
    for (const method of methods) {
      const ctx = getContext(method);
      assert.equal(ctx.Value, Value);
      assert.equal(ctx.RawValue, RawValue);
      assert.equal(ctx.SharedArray, SharedArray);
      assert.equal(ctx.Array, SharedArray);
      assert.equal(ctx.RawArray, RawArray);
    }
  });
});

for (const method of methods) {
  describe(`${method}: shared values and arrays across processes`, { timeout: 4 * HANG_MS }, () => {
    test("Value and RawValue of every typecode arrive with their value, and the child's writes are the parent's", async () => {
      const entries: Array<[Value | RawValue, number | bigint, number | bigint]> = [
        [new Value("b", -5), -5, 100],
        [new RawValue("B", 200), 200, 7],
        [new Value("h", -30_000), -30_000, 12_345],
        [new RawValue("H", 60_000), 60_000, 1],
        [new Value("i", -2_000_000_000), -2_000_000_000, 2_000_000_000],
        [new RawValue("I", 4_000_000_000), 4_000_000_000, 3],
        [new Value("l", -(2n ** 62n)), -(2n ** 62n), 2n ** 62n],
        [new RawValue("L", 2n ** 63n), 2n ** 63n, 5n],
        [new Value("q", 2n ** 63n - 1n), 2n ** 63n - 1n, -(2n ** 63n)],
        [new RawValue("Q", 2n ** 64n - 1n), 2n ** 64n - 1n, 9n],
        [new Value("f", 1.5, { lock: false }), 1.5, Math.fround(0.1)],
        [new Value("d", Math.PI), Math.PI, Math.E],
      ];
      await run(method, targets.checkAndSet, [entries]);
      for (const [shared, , next] of entries) assert.equal(shared.value, next, shared.typecode);
    });

    test("a value travels on: a grandchild's write is seen by the parent", async () => {
      const v = new Value("i", 0);
      await run(method, targets.passToGrandchild, [v, 77, method]);
      assert.equal(v.value, 77);
    });

    test("2 processes × 10,000 `value += 1` under the value's lock give exactly 20,000", async () => {
      const counter = new Value("i", 0);
      await together(method, targets.incrementUnderLock, [counter, 10_000]);
      assert.equal(counter.value, 20_000);
    });

    test("the same with a given Lock, through the value's acquireSync/release, on a 64-bit value", async () => {
      const counter = new Value("q", 0n, { lock: new Lock() });
      await together(method, targets.incrementBigUnderLock, [counter, 10_000]);
      assert.equal(counter.value, 20_000n);
    });

    test("value.add(1) with no lock: 2 processes × 100,000 exact", async () => {
      const counter = new RawValue("i", 0);
      await together(method, targets.valueAdds, [counter, 100_000]);
      assert.equal(counter.value, 200_000);
    });

    test("the child's lock is the parent's: held here, the child cannot take it; free, it can; a raw object has none", async () => {
      const out = new RawValue("i", 0);
      const lock = new Lock();
      const v = new Value("i", 0, { lock });
      const a = new SharedArray("i", 3);
      lock.acquireSync();
      await a.acquire();
      await run(method, targets.probeLock, [v, out]);
      assert.equal(out.value, 2, "Value: the child found the given lock held");
      await run(method, targets.probeLock, [a, out]);
      assert.equal(out.value, 2, "SharedArray: the child found its RLock held");
      lock.release();
      a.release();
      await run(method, targets.probeLock, [v, out]);
      assert.equal(out.value, 3);
      await run(method, targets.probeLock, [a, out]);
      assert.equal(out.value, 3);
      await run(method, targets.probeLock, [new Value("i", 0, { lock: false }), out]);
      assert.equal(out.value, 1);
      out.value = 0;
      await run(method, targets.probeLock, [new RawArray("i", 1), out]);
      assert.equal(out.value, 1);
    });

    test("a child turns a SharedArray into its prefix sums through index access; the parent sees them", async () => {
      const n = 1000;
      const a = new SharedArray("i", Array.from({ length: n }, (_, i) => i + 1));
      await run(method, targets.prefixSums, [a]);
      assert.deepEqual(a.toArray(), Array.from({ length: n }, (_, i) => ((i + 1) * (i + 2)) / 2));
    });

    test("a zero-filled RawArray is zero in the child, and the child's write shows here", async () => {
      const a = new RawArray("d", 5000);
      await run(method, targets.checkZeroThenMark, [a]);
      assert.equal(a[0], 1);
      assert.ok(a.view.subarray(1).every((x) => x === 0));
    });

    test("2 processes × 1,000,000 Atomics.add on one slot of a SharedArray('i') view: exact, neighbours untouched", async () => {
      const a = new SharedArray("i", 16);
      await together(method, targets.atomicAdds, [a, 5, 1_000_000]);
      assert.equal(a[5], 2_000_000);
      assert.equal(a.view.reduce((sum, x) => sum + x, 0), 2_000_000);
    });

    test("an 80 MB array (10,000,000 doubles): the child writes it through the view, the parent reads it all", async () => {
      const n = 10_000_000;
      const a = new SharedArray("d", n);
      assert.equal(a.view.byteLength, 80_000_000);
      await run(method, targets.fillIndices, [a]);
      const view = a.view;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += view[i]!;
      assert.equal(sum, (n * (n - 1)) / 2);
      assert.equal(a[n - 1], n - 1);
    });
  });
}

describe("the built package", () => {
  test("a plain ES module program shares a Value and an Array with spawn and thread children", { timeout: HANG_MS }, async () => {
    const dir = tempDir();
    const program = join(dir, "shared-main.mjs");
    const dist = pathToFileURL(join(import.meta.dirname, "..", "dist", "index.js")).href;
    writeFileSync(
      program,
      `import * as mp from ${JSON.stringify(dist)};
export function work(v, a) {
  v.getLock().acquireSync();
  v.value += 1;
  v.getLock().release();
  for (let i = 0; i < a.length; i++) a[i] = a.view[i] + i;
}
if (mp.isMain(import.meta)) {
  const v = new mp.Value("i", 0);
  const a = new mp.Array("d", 4);
  for (const method of ["spawn", "thread"]) {
    const child = new (mp.getContext(method).Process)({ target: work, args: [v, a] });
    child.start();
    await child.join();
    if (child.exitCode !== 0) process.exit(10);
  }
  console.log(JSON.stringify({ value: v.value, array: a.toArray(), raw: typeof mp.RawArray, rawValue: typeof mp.RawValue }));
}
`,
    );
    const result = await new Promise<{ error: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [program], { timeout: HANG_MS }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
    });
    assert.equal(result.error, null, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { value: 2, array: [0, 2, 4, 6], raw: "function", rawValue: "function" });
  });
});
