"""Workload "managers" (issue #13), Python side: multiprocessing.Manager() proxies, default context.
The Node counterpart is bench/node/managers.mjs; metrics and methods are the same:

  Manager dict set / get from a child, one at a time   a child (started once) runs N x d['k'] = i (or d['k'])
                                      and reports ops/s measured in the child
  Manager dict set from a child, 64 in flight   Python proxies cannot pipeline: the child's one-at-a-time
                                      set rate, under the pipelined metric's name for the ratio
  Manager Queue 1->1, 20,000 items via a Pool worker   a Pool(1) worker puts 20,000 ints on manager.Queue(),
                                      the parent gets them; ms from apply_async to the last get
  Remote manager over TCP, dict set one at a time   a SyncManager on ('127.0.0.1', 0) with an authkey;
                                      this process runs N x d['k'] = i over the socket, ops/s"""
import multiprocessing
from multiprocessing.managers import SyncManager

SET = "Manager dict set from a child, one at a time"
GET = "Manager dict get from a child, one at a time"
PIPELINED = "Manager dict set from a child, 64 in flight"
QUEUE = "Manager Queue 1→1, 20,000 items via a Pool worker"
REMOTE = "Remote manager over TCP, dict set one at a time"

N = 5_000
ITEMS = 20_000


def client(conn, d):
    import time
    d["k"] = 0
    conn.send("ready")
    while True:
        command = conn.recv()
        if command is None:
            return
        op, n = command
        t0 = time.perf_counter()
        if op == "set":
            for i in range(n):
                d["k"] = i
        else:
            for _ in range(n):
                d["k"]
        conn.send(n / (time.perf_counter() - t0))


def produce(q, n):
    for i in range(n):
        q.put(i)


if __name__ == "__main__":
    from _measure import RUNS, compare, now

    runs = max(5, RUNS // 3)
    with multiprocessing.Manager() as manager:
        d = manager.dict()
        mine, theirs = multiprocessing.Pipe()
        child = multiprocessing.Process(target=client, args=(theirs, d))
        child.start()
        mine.recv()

        def ask(metric, op, n):
            mine.send((op, n))
            return {metric: mine.recv()}

        compare(
            [
                ("python Manager()", "ops/s", lambda: ask(SET, "set", N)),
                ("python Manager()", "ops/s", lambda: ask(GET, "get", N)),
                ("python Manager() (no pipelining)", "ops/s", lambda: ask(PIPELINED, "set", N)),
            ],
            runs=runs,
        )
        mine.send(None)
        child.join()

        pool = multiprocessing.Pool(1)
        q = manager.Queue()

        def queue_run():
            t0 = now()
            done = pool.apply_async(produce, (q, ITEMS))
            for _ in range(ITEMS):
                q.get()
            done.get()
            return {QUEUE: now() - t0}

        compare([("python Manager()", "ms", queue_run)], runs=runs)
        pool.close()
        pool.join()

    remote = SyncManager(address=("127.0.0.1", 0), authkey=b"bench")
    remote.start()
    rd = remote.dict()

    def remote_run():
        t0 = now()
        for i in range(N):
            rd["k"] = i
        return {REMOTE: N / (now() - t0) * 1000}

    compare([("python SyncManager (TCP)", "ops/s", remote_run)], runs=runs)
    remote.shutdown()
