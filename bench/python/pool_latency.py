"""Workload "pool latency" (issue 11), Python side: multiprocessing.Pool on the fork context. The Node counterpart
is bench/node/pool_latency.mjs; metrics and methods are the same:

  pool fresh Pool(2): first map of 20k x x*x, chunksize 1
                                  tasks/s: a new Pool(2), one 100-item map (chunksize=1), then the measured
                                  pool.map(square, range(20000), chunksize=1); terminated after the clock stops
  pool Pool(2).map of 2 x ~200 ms CPU tasks, time / one task's
  pool Pool(4).map of 4 x ~200 ms CPU tasks, time / one task's
                                  x: each round, one burn(n) here, then pool.map(burn, [n] * 2) / [n] * 4 on a
                                  warm pool, default chunksize; the pool's time over the one task's

A spawn child re-imports this file: its top level imports only what the children need."""
import multiprocessing

from pool import burn, square  # the same targets as the throughput workload

N = 20_000
# burn(BURN_N) ~ 200 ms on the bench machine (ten times bench/python/pool.py's 20 ms burn).
BURN_N = 1_800_000


if __name__ == "__main__":
    from _measure import RUNS, compare, now

    runs = min(RUNS, 10)
    impl = "python fork"
    ctx = multiprocessing.get_context("fork")
    items = list(range(N))
    FIRST_MAP = "pool fresh Pool(2): first map of 20k × x*x, chunksize 1"
    TWO = "pool Pool(2).map of 2 × ~200 ms CPU tasks, time / one task's"
    FOUR = "pool Pool(4).map of 4 × ~200 ms CPU tasks, time / one task's"

    def first_map():
        with ctx.Pool(2) as pool:
            pool.map(square, items[:100], chunksize=1)
            t0 = now()
            out = pool.map(square, items, chunksize=1)
            ms = now() - t0
        if out != [i * i for i in items]:
            raise RuntimeError("wrong squares")
        return {FIRST_MAP: N / ms * 1000}

    compare([(impl, "tasks/s", first_map)], runs=runs)

    expected = burn(BURN_N)
    with ctx.Pool(2) as two, ctx.Pool(4) as four:

        def burn_ratio(pool, count):
            t0 = now()
            if burn(BURN_N) != expected:
                raise RuntimeError("wrong burn")
            one = now() - t0
            t0 = now()
            out = pool.map(burn, [BURN_N] * count)
            ms = now() - t0
            if out != [expected] * count:
                raise RuntimeError("wrong burn results")
            return ms / one

        compare([(impl, "x", lambda: {TWO: burn_ratio(two, 2), FOUR: burn_ratio(four, 4)})], runs=runs, warmup=1)
