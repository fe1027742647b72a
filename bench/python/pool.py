"""Workload "pool" (issue #5), Python side: multiprocessing.Pool(2) on the fork context (Linux's default).
The Node counterpart is bench/node/pool.mjs; metrics and methods are the same:

  pool 200k x x*x, one task per item         tasks/s: pool.map(square, items, chunksize=1)
  pool 200k x x*x, chunks of 100             items/s: pool.map(square, items, chunksize=100)
  pool 200k x x*x, map default chunksize     items/s: pool.map(square, items) (8 chunks of 25,000 for 2 workers)
  pool 64 x ~20 ms CPU tasks, speedup over serial
                                             x: burn(n), n fixed (~20 ms on the bench machine); each round
                                             times 64 x burn(n) here, then pool.map(burn, [n] * 64, chunksize=1)
  create Pool(2) + 1 task + shut down        ms: with ctx.Pool(2) as p: p.apply(square, (3,))  (the with block
                                             ends in terminate(), which joins the workers); fork and spawn; each
                                             run first waits for a quiet machine, as the Node script does

One fork pool lives through the first four workloads; the last creates a pool each run. Every result is checked
after the clock stops. A spawn child re-imports this file: its top level imports only what the children need."""
import multiprocessing

N = 200_000
BURN_TASKS = 64
# burn(BURN_N) takes ~20 ms on the bench machine (calibrated once, as bench/node/pool.mjs's BURN_N: a calibration at
# every start moved with the load of the moment). The printed note gives the serial time per task measured.
BURN_N = 180_000


def square(x):
    return x * x


def burn(n):
    """A fixed amount of CPU work: n rounds of a linear congruential step, each depending on the last."""
    x = 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def check_squares(out, n):
    if len(out) != n or any(v != i * i for i, v in enumerate(out)):
        raise RuntimeError(f"wrong squares (length {len(out)})")


def machine_ticks():
    """Busy and total CPU ticks of the whole machine (/proc/stat), as bench/run.ts reads them."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4] - fields[7], total


def settle(now, quiet_ms=50, max_ms=500):
    """Wait (at most max_ms) for quiet_ms in which the machine is at most 10% busy: the same pause before each
    create run as bench/node/pool.mjs takes, so that no teardown of the last pool lands in the next one's time."""
    import time

    deadline = now() + max_ms
    while now() < deadline:
        busy0, total0 = machine_ticks()
        time.sleep(quiet_ms / 1000)
        busy1, total1 = machine_ticks()
        if (busy1 - busy0) * 10 <= total1 - total0:
            return


def create_apply_shutdown(ctx, now):
    settle(now)
    t0 = now()
    with ctx.Pool(2) as p:
        r = p.apply(square, (3,))
    ms = now() - t0
    if r != 9:
        raise RuntimeError(f"apply returned {r}")
    return {"create Pool(2) + 1 task + shut down": ms}


if __name__ == "__main__":
    from _measure import RUNS, compare, now

    # The heavy workloads (one task per item: ~8 s a run; the 64 burns: ~2 s) are capped so the script stays
    # under ~2 minutes. Python has no JIT to warm: one small map warms the pool instead of full warm-up rounds.
    heavy_runs = min(RUNS, 5)
    light_runs = min(RUNS, 10)
    # As bench/node/pool.mjs: the burn speedup moves 2-3% from round to round, so it gets 9 rounds.
    speedup_runs = min(RUNS, 9)
    impl = "python fork"
    ctx = multiprocessing.get_context("fork")
    items = list(range(N))

    def timed(fn):
        t0 = now()
        out = fn()
        return now() - t0, out

    n = BURN_N
    expected = burn(n)
    with ctx.Pool(2) as pool:
        pool.map(square, range(2000), chunksize=1)

        def per_item():
            ms, out = timed(lambda: pool.map(square, items, chunksize=1))
            check_squares(out, N)
            return {"pool 200k × x*x, one task per item": N / ms * 1000}

        compare([(impl, "tasks/s", per_item)], runs=heavy_runs, warmup=0)

        for metric, kwargs in (("pool 200k × x*x, chunks of 100", {"chunksize": 100}), ("pool 200k × x*x, map default chunksize", {})):

            def chunked(metric=metric, kwargs=kwargs):
                ms, out = timed(lambda: pool.map(square, items, **kwargs))
                check_squares(out, N)
                return {metric: N / ms * 1000}

            compare([(impl, "items/s", chunked)], runs=light_runs)

        # Each round: 64 x burn(n) serially here first (the round's reference), then through the pool.
        serial = {"ms": 0.0, "all": []}

        def serial_burns():
            t0 = now()
            bad = sum(1 for _ in range(BURN_TASKS) if burn(n) != expected)
            serial["ms"] = now() - t0
            serial["all"].append(serial["ms"])
            if bad:
                raise RuntimeError("serial burn: wrong result")
            return {}

        def pool_burns():
            ms, out = timed(lambda: pool.map(burn, [n] * BURN_TASKS, chunksize=1))
            if len(out) != BURN_TASKS or any(v != expected for v in out):
                raise RuntimeError("wrong burn results")
            return {"pool 64 × ~20 ms CPU tasks, speedup over serial": serial["ms"] / ms}

        compare([("serial", "x", serial_burns), (impl, "x", pool_burns)], runs=speedup_runs, warmup=0)
        med = sorted(serial["all"])[len(serial["all"]) // 2]
        print(f"note: burn n = {n:,}; serial task here: {med / BURN_TASKS:.1f} ms (median round / {BURN_TASKS})", flush=True)

    compare([(f"python {method}", "ms", lambda c=multiprocessing.get_context(method): create_apply_shutdown(c, now)) for method in ("fork", "spawn")])
