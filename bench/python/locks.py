"""Workload "locks" (issue #3), Python side: multiprocessing's Lock and Event, default context (fork on Linux).
The Node counterpart is bench/node/locks.mjs; metrics and methods are the same:

  Lock acquire+release, uncontended   python mp.Lock: LOOPS x (acquire(); release()), the bound methods
                                      looked up once, ops/s
  Lock contended: 2 x 200k            two children, each 200,000 x (acquire, value.value += 1, release), ms from
                                      "go" until both are done, exact total checked; children live across runs
    python Lock + Value               mp.Lock() and mp.Value('i') (whose .value also takes the Value's own RLock)
    python Lock + RawValue            mp.Lock() and mp.RawValue('i'): the leanest Python
    python Value.get_lock()           with value.get_lock(): value.value += 1  (the documented idiom)
                                      BENCH_RUNS / 3 runs (at least 5): a round of the three takes ~1.5 s
  Event set->wake p50 / p90, round trip / 2   ping-pong of two mp.Events with one child; the child writes
                                      time.monotonic_ns() into a RawValue('q') before it sets pong

A fork child runs the targets below; the work stays under `if __name__ == "__main__":`."""
import multiprocessing
import time

UNCONTENDED = "Lock acquire+release, uncontended"
CONTENDED = "Lock contended: 2 × 200k (acquire, += 1, release)"
WAKE_P50 = "Event set→wake p50"
WAKE_P90 = "Event set→wake p90"
HALF_ROUND_TRIP = "Event round trip / 2"

LOOPS = 1_000_000
PER_CHILD = 200_000
ROUND_TRIPS = 1_000


def contend(value, lock, n, idiom, ready, go, done, stop):
    ready.release()
    while True:
        go.acquire()
        if stop.is_set():
            return
        if idiom == "get_lock":
            for _ in range(n):
                with lock:
                    value.value += 1
        else:
            acquire, release = lock.acquire, lock.release
            for _ in range(n):
                acquire()
                value.value += 1
                release()
        done.release()


def echo(ping, pong, stamp, stop):
    pong.set()
    while True:
        ping.wait()
        ping.clear()
        if stop.is_set():
            return
        stamp.value = time.monotonic_ns()
        pong.set()


def uncontended(lock, now):
    acquire, release = lock.acquire, lock.release
    t0 = now()
    for _ in range(LOOPS):
        acquire()
        release()
    return {UNCONTENDED: LOOPS / (now() - t0) * 1000}


class Contenders:
    def __init__(self, variant, now):
        self.now = now
        self.value = multiprocessing.RawValue("i", 0) if variant == "RawValue" else multiprocessing.Value("i", 0)
        lock = self.value.get_lock() if variant == "get_lock" else multiprocessing.Lock()
        self.ready, self.go, self.done = (multiprocessing.Semaphore(0) for _ in range(3))
        self.stop = multiprocessing.Event()
        args = (self.value, lock, PER_CHILD, variant, self.ready, self.go, self.done, self.stop)
        self.children = [multiprocessing.Process(target=contend, args=args) for _ in range(2)]
        for child in self.children:
            child.start()
        for _ in self.children:
            self.ready.acquire()

    def run(self):
        self.value.value = 0
        t0 = self.now()
        self.go.release()
        self.go.release()
        self.done.acquire()
        self.done.acquire()
        ms = self.now() - t0
        if self.value.value != 2 * PER_CHILD:
            raise RuntimeError(f"lost updates: total {self.value.value}, expected {2 * PER_CHILD}")
        return {CONTENDED: ms}

    def close(self):
        self.stop.set()
        for child in self.children:
            self.go.release()
        for child in self.children:
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"contender exited with {child.exitcode}")


def quantile(values, q):
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class Echo:
    def __init__(self):
        self.ping, self.pong, self.stop = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Event()
        self.stamp = multiprocessing.RawValue("q", 0)
        self.child = multiprocessing.Process(target=echo, args=(self.ping, self.pong, self.stamp, self.stop))
        self.child.start()
        self.pong.wait()  # the child is up
        self.pong.clear()

    def run(self):
        ping, pong, stamp, clock = self.ping, self.pong, self.stamp, time.monotonic_ns
        wake, round_trip = [], []
        for _ in range(ROUND_TRIPS):
            t0 = clock()
            ping.set()
            pong.wait()
            t1 = clock()
            pong.clear()
            wake.append((t1 - stamp.value) / 1000)
            round_trip.append((t1 - t0) / 1000)
        return {WAKE_P50: quantile(wake, 0.5), WAKE_P90: quantile(wake, 0.9), HALF_ROUND_TRIP: quantile(round_trip, 0.5) / 2}

    def close(self):
        self.stop.set()
        self.ping.set()
        self.child.join()
        if self.child.exitcode != 0:
            raise RuntimeError(f"echo child exited with {self.child.exitcode}")


def stop_helpers():
    """Stop (and reap) the resource tracker, so its CPU counts as this script's (see process_start.py)."""
    from multiprocessing import resource_tracker

    try:
        resource_tracker._resource_tracker._stop()
    except Exception:  # private API; only the CPU accounting depends on it
        pass


if __name__ == "__main__":
    from _measure import RUNS, compare, now

    lock = multiprocessing.Lock()
    compare([("python mp.Lock", "ops/s", lambda: uncontended(lock, now))])

    crews = [
        ("python Lock + Value", Contenders("Value", now)),
        ("python Lock + RawValue", Contenders("RawValue", now)),
        ("python Value.get_lock()", Contenders("get_lock", now)),
    ]
    # A quiet round takes about 1.5 s here (the three variants: ~0.6 + 0.27 + 0.6 s): a third of the runs.
    compare([(impl, "ms", crew.run) for impl, crew in crews], runs=max(5, RUNS // 3))
    for _, crew in crews:
        crew.close()

    echoer = Echo()
    compare([("python Event.wait()", "µs", echoer.run)])
    echoer.close()
    stop_helpers()
