"""Workload "shared memory" (issue #3), Python side: 10M doubles in multiprocessing.Array('d', n, lock=False),
default context (fork on Linux). The Node counterpart is bench/node/shared_memory.mjs; the method is the same:

One run: allocate the Array (timed), start a child (not timed) that writes a[i] = i in a loop (timed in the
child), then copies the same values in with one memoryview slice assignment (a memcpy) and, for reference,
into a local array (both timed, both destinations written before); join it; the parent sums it with sum()
(timed) and checks the sum. Each run uses a new Array and a new child.

A run takes about 2 s (the loop write and sum() run at ~100 MB/s), so this script does BENCH_RUNS / 6 runs
(at least 3) after one warm-up."""
import multiprocessing
import time

N = 10_000_000
MB = N * 8 / 1e6
EXPECTED_SUM = N * (N - 1) // 2


def fill_array(a, timings):
    now = time.perf_counter
    n = len(a)
    t0 = now()
    for i in range(n):
        a[i] = i
    timings[0] = (now() - t0) * 1000

    shared = memoryview(a).cast("B")
    source = bytearray(shared)  # the same values, as a local buffer
    t0 = now()
    shared[:] = source
    timings[1] = (now() - t0) * 1000

    local = bytearray(len(source))
    local[:] = source  # written once, as the shared array was
    t0 = now()
    local[:] = source
    timings[2] = (now() - t0) * 1000


def one_run(now):
    t0 = now()
    a = multiprocessing.Array("d", N, lock=False)
    allocate_ms = now() - t0
    timings = multiprocessing.RawArray("d", 3)
    child = multiprocessing.Process(target=fill_array, args=(a, timings))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"child exited with {child.exitcode}")
    write_ms, shared_copy_ms, local_copy_ms = timings

    t1 = now()
    total = sum(a)
    sum_ms = now() - t1
    if total != EXPECTED_SUM:
        raise RuntimeError(f"sum {total}, expected {EXPECTED_SUM}")
    return allocate_ms, write_ms, sum_ms, shared_copy_ms, local_copy_ms


if __name__ == "__main__":
    from _measure import RUNS, emit, now

    samples = []
    for rnd in range(-1, max(3, RUNS // 6)):
        run = one_run(now)
        if rnd >= 0:
            samples.append(run)
    allocate, write, summed, shared_copy, local_copy = zip(*samples)
    impl = "python Array('d', lock=False)"
    emit(impl, "10M doubles: allocate", allocate, "ms")
    emit(impl, "10M doubles: child loop write", [MB / (ms / 1000) for ms in write], "MB/s")
    emit(impl, "10M doubles: parent sum", [MB / (ms / 1000) for ms in summed], "MB/s")
    emit(impl, "10M doubles: end to end", [MB / ((w + s) / 1000) for w, s in zip(write, summed)], "MB/s")
    emit(impl, "10M doubles: bulk copy", [MB / (ms / 1000) for ms in shared_copy], "MB/s")
    emit("python memoryview copy, local (ref)", "10M doubles: bulk copy", [MB / (ms / 1000) for ms in local_copy], "MB/s")
