/* Process (src/process.ts) across real processes and threads, on both start methods. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import {
  Process,
  ProcessError,
  currentProcess,
  parentProcess,
  activeChildren,
  cpuCount,
  getContext,
  isMain,
  type StartMethod,
} from "../src/index.ts";
import * as targets from "./fixtures/targets.ts";
import { registeredTarget } from "./fixtures/registered.ts";
import { readJson, runProgram, tempDir, waitUntil, pidExists } from "./helpers.ts";

const methods: StartMethod[] = ["spawn", "thread"];

function unexported(): void {}
const unexportedArrow = (): void => {};

describe("the main process", () => {
  test("currentProcess() is MainProcess, alive, not a daemon, with a 32-byte authkey", () => {
    const me = currentProcess();
    assert.equal(me.name, "MainProcess");
    assert.equal(me.pid, process.pid);
    assert.equal(me.ident, process.pid);
    assert.equal(me.daemon, false);
    assert.equal(me.isAlive(), true);
    assert.equal(me.exitCode, null);
    assert.equal(me.authkey.length, 32);
    assert.equal(parentProcess(), null);
  });

  test("cpuCount() is a positive integer", () => {
    assert.ok(Number.isInteger(cpuCount()) && cpuCount() >= 1);
  });

  test("isMain is true for the program's own file and false for a module it imports", () => {
    assert.equal(isMain(import.meta), true);
    assert.equal(isMain({ url: new URL("./fixtures/targets.ts", import.meta.url).href }), false);
  });

  test("run() calls the target in the current process and returns its result", () => {
    const p = new Process({ target: targets.double, args: [21] });
    assert.equal(p.run(), 42);
    assert.equal(p.pid, undefined);
  });

  test("default names count up as Process-N; a given name is kept", () => {
    const a = new Process();
    const b = new Process();
    const na = Number(a.name.split("-")[1]);
    assert.match(a.name, /^Process-\d+$/);
    assert.equal(b.name, `Process-${na + 1}`);
    assert.equal(new Process({ name: "worker-1" }).name, "worker-1");
  });
});

for (const method of methods) {
  const ctx = getContext(method);

  describe(`${method}: lifecycle`, () => {
    test("a child runs its target with args and kwargs, sees its own name and its parent, and exits 0", async () => {
      const dir = tempDir();
      const out = join(dir, "self.json");
      const p = new ctx.Process({ target: targets.describeSelf, args: [out, 1, "str", [1]], kwargs: { k: "v" } });
      assert.equal(p.exitCode, null);
      assert.equal(p.isAlive(), false);
      p.start();
      assert.equal(typeof p.pid, "number");
      assert.equal(p.exitCode, null);
      assert.ok(activeChildren().includes(p));
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(p.isAlive(), false);
      assert.ok(!activeChildren().includes(p));
      const seen = readJson(out);
      assert.deepEqual(seen.args, [1, "str", [1], { k: "v" }]);
      assert.equal(seen.name, p.name);
      assert.equal(seen.daemon, false);
      assert.equal(seen.alive, true);
      assert.equal(seen.exitCode, null);
      assert.equal(seen.authkey, currentProcess().authkey.toString("hex"));
      assert.deepEqual(seen.parent, { pid: process.pid, name: "MainProcess", alive: true });
      if (method === "spawn") {
        assert.equal(seen.osPid, p.pid);
        assert.notEqual(p.pid, process.pid);
        assert.equal(seen.osPpid, process.pid);
        assert.equal(p.ident, p.pid);
      } else {
        assert.equal(p.pid, process.pid);
        assert.equal(seen.osPid, process.pid);
        assert.equal(seen.ident, p.ident);
        assert.notEqual(p.ident, process.pid);
      }
    });

    test("join(timeout) resolves at the timeout while the child still runs; terminate() gives -15", async () => {
      const p = new ctx.Process({ target: targets.sleepMs, args: [60_000] });
      p.start();
      await p.join(50);
      assert.equal(p.isAlive(), true);
      assert.equal(p.exitCode, null);
      await p.join(0);
      assert.equal(p.isAlive(), true);
      p.terminate();
      await p.join();
      assert.equal(p.exitCode, -15);
      assert.equal(p.isAlive(), false);
    });

    test("kill() gives -9, even for a child busy in a CPU loop", async () => {
      const p = new ctx.Process({ target: targets.busyForever });
      p.start();
      await p.join(100);
      p.kill();
      await p.join();
      assert.equal(p.exitCode, -9);
    });

    test("isAlive() stays true right after terminate() and is false once the child is reaped", async () => {
      const p = new ctx.Process({ target: targets.sleepMs, args: [60_000] });
      p.start();
      p.terminate();
      assert.equal(p.isAlive(), true);
      await p.exited;
      assert.equal(p.isAlive(), false);
    });

    test("process.exit(3) in the target gives exit code 3", async () => {
      const p = new ctx.Process({ target: targets.exitWith, args: [3] });
      p.start();
      assert.equal(await p.exited, 3);
      assert.equal(p.exitCode, 3);
    });

    test("an async target is awaited before the child exits", async () => {
      const out = join(tempDir(), "late.txt");
      const p = new ctx.Process({ target: targets.writeAfter, args: [out, 100, "done"] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.ok(existsSync(out));
    });

    test("a subclass overriding run() gets its own fields in the child and a ClassName-N name", async () => {
      const out = join(tempDir(), "sub.json");
      const p = method === "spawn" ? new targets.RecordingProcess() : new targets.ThreadRecordingProcess();
      p.outPath = out;
      p.payload = { n: 42, list: [1, 2] };
      assert.match(p.name, method === "spawn" ? /^RecordingProcess-\d+$/ : /^ThreadRecordingProcess-\d+$/);
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      const seen = readJson(out);
      assert.equal(seen.name, p.name);
      assert.deepEqual(seen.payload, { n: 42, list: [1, 2] });
      assert.equal(seen.current, true);
      assert.equal(seen.pid === process.pid, method === "thread");
    });

    test("a child can start and join its own child, named Process-N:1", async () => {
      const out = join(tempDir(), "grand.json");
      const p = new ctx.Process({ target: targets.startGrandchild, args: [out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      const grand = readJson(out);
      assert.equal(grand.name, `${p.name}:1`);
      assert.equal((grand.parent as { name: string }).name, p.name);
      assert.deepEqual(readJson(`${out}.parent`), { exit: 0, active: 0 });
    });

    test("a daemon child cannot start children", async () => {
      const out = join(tempDir(), "daemon.txt");
      const p = new ctx.Process({ target: targets.daemonStartsChild, args: [out], daemon: true });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.match(readFileSync(out, "utf8"), /daemonic processes are not allowed to have children/);
    });

    test("values of every kind arrive intact: Map, Set, BigInt, Date, bytes, cycles, errors, registered classes, functions", async () => {
      const out = join(tempDir(), "values.json");
      const cyclic: { self?: unknown } = {};
      cyclic.self = cyclic;
      const error = Object.assign(new RangeError("outer", { cause: new Error("inner") }), { code: "E_TEST" });
      const value = {
        map: new Map([[1, "a"], [2, "b"]]),
        set: new Set([1, 2]),
        big: 2n ** 70n,
        date: new Date("2020-01-02T03:04:05.000Z"),
        bytes: Buffer.from("cafe", "hex"),
        cyclic,
        error,
        custom: new targets.Greeter("world"),
        fn: targets.double,
      };
      const p = new ctx.Process({ target: targets.inspectArgs, args: [out, value] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(readJson(out), {
        mapSize: 2,
        setHas: true,
        big: String(2n ** 70n),
        date: "2020-01-02T03:04:05.000Z",
        bytes: "cafe",
        cycle: true,
        errorClass: "RangeError",
        errorName: "RangeError",
        errorMessage: "outer",
        errorStackHasOrigin: true,
        errorCode: "E_TEST",
        causeMessage: "inner",
        customGreet: "hello world",
        fnResult: 40,
      });
    });
  });

  describe(`${method}: registered targets`, () => {
    test("a function that is not exported runs once registered with registerTarget", async () => {
      const out = join(tempDir(), "registered.txt");
      const p = new ctx.Process({ target: registeredTarget(), args: [out] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(readFileSync(out, "utf8"), "ran the registered target");
    });

    test("a target whose module has disappeared fails in the child with the import error and exit code 1", async () => {
      const run = await runProgram("missing-module.ts", [method]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /exitCode=1/);
      assert.match(run.stderr, /Process Process-1:\n[^]*Cannot find module[^]*deleted-module\.ts/);
    });
  });

  describe(`${method}: errors in the child`, () => {
    test("an uncaught error prints `Process <name>:` and the stack to stderr and gives exit code 1", async () => {
      const run = await runProgram("run-target.ts", [method, "throwSync", JSON.stringify(["boom sync"])]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /exitCode=1/);
      assert.match(run.stderr, /Process Process-1:\n/);
      assert.match(run.stderr, /RangeError: boom sync/);
      assert.match(run.stderr, /at (Process\.)?throwSync .*targets\.ts/);
    });

    test("a rejected async target gives exit code 1 with its error on stderr", async () => {
      const run = await runProgram("run-target.ts", [method, "throwAsync", JSON.stringify(["boom async"])]);
      assert.match(run.stdout, /exitCode=1/);
      assert.match(run.stderr, /Process Process-1:\n[^]*TypeError: boom async/);
    });
  });

  describe(`${method}: refused at start(), in the parent`, () => {
    const cases: Array<[string, () => Process, RegExp]> = [
      ["an inline arrow function", () => new ctx.Process({ target: () => {} }), /closure[^]*export/],
      ["a module-level arrow function that is not exported", () => new ctx.Process({ target: unexportedArrow }), /unexportedArrow\(\) is not exported/],
      ["an anonymous function", () => new ctx.Process({ target: (() => function () {})() }), /anonymous function/],
      ["a named function that is not exported", () => new ctx.Process({ target: unexported }), /unexported\(\) is not exported from .*process\.test\.ts[^]*registerTarget/],
      ["a closure", () => new ctx.Process({ target: (() => { const x = 1; return function inner() { return x; }; })() }), /closure/],
      ["a bound function", () => new ctx.Process({ target: targets.double.bind(null) }), /bound function/],
      ["a built-in function", () => new ctx.Process({ target: Math.max }), /built-in/],
      ["a function nested in an argument", () => new ctx.Process({ target: targets.noop, args: [1, { cb: () => 1 }] }), /args\[1\]\.cb/],
      ["a symbol argument", () => new ctx.Process({ target: targets.noop, args: [Symbol("s")] }), /args\[0\] is a symbol/],
      ["a WeakMap argument", () => new ctx.Process({ target: targets.noop, kwargs: { cache: new WeakMap() } }), /kwargs\.cache is a WeakMap/],
    ];
    for (const [what, make, message] of cases) {
      test(`${what} as target or argument throws at start() and starts nothing`, () => {
        const p = make();
        assert.throws(() => p.start(), message);
        assert.equal(p.pid, undefined);
        assert.equal(p.isAlive(), false);
      });
    }
  });
}

describe("misuse gets Python's errors", () => {
  test("start() twice throws", async () => {
    const p = new Process({ target: targets.noop });
    p.start();
    assert.throws(() => p.start(), { name: "ProcessError", message: /cannot start a process twice/ });
    await p.join();
  });

  test("join() before start() rejects", async () => {
    await assert.rejects(new Process().join(), { name: "ProcessError", message: /can only join a started process/ });
  });

  test("setting daemon after start() throws", async () => {
    const p = new Process({ target: targets.noop });
    p.start();
    assert.throws(() => {
      p.daemon = true;
    }, /process has already started/);
    await p.join();
  });

  test("close() while running throws; after join it closes and later use throws", async () => {
    const p = new Process({ target: targets.sleepMs, args: [200] });
    p.start();
    assert.throws(() => p.close(), /Cannot close a process while it is still running/);
    await p.join();
    p.close();
    p.close();
    assert.throws(() => p.isAlive(), { name: "ProcessError", message: /process object is closed/ });
    assert.throws(() => p.pid, /process object is closed/);
    await assert.rejects(p.join(), /process object is closed/);
    assert.throws(() => p.terminate(), /process object is closed/);
  });

  test("terminate() of a process that never started throws", () => {
    assert.throws(() => new Process().terminate(), ProcessError);
  });

  test("join() of the current process is refused", async () => {
    await assert.rejects(currentProcess().join(), /can only join a child process/);
  });

  test("bad options are type errors", () => {
    assert.throws(() => new Process({ target: 5 as never }), TypeError);
    assert.throws(() => new Process({ args: "x" as never }), TypeError);
    assert.throws(() => new Process({ name: 5 as never }), TypeError);
  });

  test("a process exits with code 0 when it has no target", async () => {
    const p = new Process();
    p.start();
    await p.join();
    assert.equal(p.exitCode, 0);
  });

  test("a finished child leaves no zombie behind", async () => {
    const p = new Process({ target: targets.noop });
    p.start();
    const pid = p.pid!;
    await p.join();
    await waitUntil(() => !pidExists(pid), 10_000, "the child to be reaped");
  });
});

describe("spawn: sockets travel as OS handles", () => {
  test("one process per TCP connection: each child echoes its client's text upper-cased (seed 003 §2.2.4)", async () => {
    const { createServer, connect } = await import("node:net");
    const children: Process[] = [];
    const server = createServer((conn) => {
      const child = new Process({ target: targets.echoUpper, args: [conn] });
      child.start();
      children.push(child);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const talk = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const client = connect(port, "127.0.0.1", () => client.write(text));
        client.setEncoding("utf8");
        client.once("data", (reply: string) => {
          client.end();
          resolve(reply);
        });
        client.once("error", reject);
      });
    assert.deepEqual(await Promise.all([talk("hello"), talk("world")]), ["HELLO", "WORLD"]);
    server.close();
    for (const child of children) {
      await child.join();
      assert.equal(child.exitCode, 0);
      assert.notEqual(child.pid, process.pid);
    }
    assert.equal(children.length, 2);
  });

  test("a listening server handed to a child is served there and closed in the parent", async () => {
    const { createServer, connect } = await import("node:net");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const child = new Process({ target: targets.serveOnce, args: [server] });
    child.start();
    await new Promise<void>((resolve) => server.once("close", resolve));
    const reply = await new Promise<string>((resolve, reject) => {
      let text = "";
      const client = connect(port, "127.0.0.1");
      client.setEncoding("utf8");
      client.on("data", (chunk: string) => (text += chunk));
      client.on("end", () => resolve(text));
      client.on("error", reject);
    });
    assert.equal(reply, `served by ${child.pid}`);
    await child.join();
    assert.equal(child.exitCode, 0);
  });

  test("a thread child refuses sockets with a clear error", async () => {
    const { Socket } = await import("node:net");
    const p = new (getContext("thread").Process)({ target: targets.echoUpper, args: [new Socket()] });
    assert.throws(() => p.start(), /args\[0\] is a Socket: sockets and servers can only be passed as arguments of a spawn Process/);
  });
});
