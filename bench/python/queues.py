"""Workload "queues" (issue #4), Python side: multiprocessing's Queue, SimpleQueue and Pipe, default context
(fork on Linux). The Node counterpart is bench/node/queues.mjs; metrics and methods are the same:

  200k small ints, 1 -> 1    one producer child puts 0..199,999 (Pipe: send), the parent gets them all; msgs/s
                             from "go" (an Event the child waits on once it is up) to the last get; sum checked
  20k x 64 KiB, 1 -> 1       the same with 20,000 bytes objects of 64 KiB; GB/s (2^30 bytes)
  4 -> 4, 200k ints          4 producer and 4 consumer children on one Queue; from go until every consumer has
                             put its sum on a results queue
  Pipe round trip            one echo child, WARM_TRIPS unmeasured, then ROUND_TRIPS x (send, recv); us per round trip

The work stays under `if __name__ == "__main__":`; children run the module-level targets."""
import multiprocessing as mp
import os

from _measure import compare, now

INTS = "200k small ints, 1 → 1"
BLOCKS = "20k × 64 KiB, 1 → 1"
MANY = "4 → 4, 200k ints"
ROUND_TRIP = "Pipe round trip"

N = 200_000
BLOCK_COUNT = 20_000
BLOCK_SIZE = 64 * 1024
ROUND_TRIPS = 10_000
WARM_TRIPS = 2_000
RUNS = min(int(os.environ.get("BENCH_RUNS") or 10), 10)


def produce(q, n, ready, go):
    ready.release()
    go.wait()
    for i in range(n):
        q.put(i)


def send_ints(conn, n, ready, go):
    ready.release()
    go.wait()
    for i in range(n):
        conn.send(i)


def produce_blocks(q, count, size, ready, go):
    block = b"\x01" * size
    ready.release()
    go.wait()
    for _ in range(count):
        q.put(block)


def consume(q, n, results, ready, go):
    ready.release()
    go.wait()
    total = 0
    for _ in range(n):
        total += q.get()
    results.put(total)


def echo(conn, rounds):
    for _ in range(rounds):
        conn.send(conn.recv())


def timed(specs, finish):
    ready = mp.Semaphore(0)
    go = mp.Event()
    children = [mp.Process(target=target, args=(*args, ready, go)) for target, args in specs]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    t0 = now()
    go.set()
    finish()
    ms = now() - t0
    for child in children:
        child.join()
    return ms


def ints(target, child_end, receive):
    """N ints from a `target` child that sends them into `child_end`, taken here with `receive()`."""
    box = [0]

    def finish():
        total = 0
        for _ in range(N):
            total += receive()
        box[0] = total

    ms = timed([(target, (child_end, N))], finish)
    assert box[0] == N * (N - 1) // 2
    return {INTS: N / ms * 1000}


def ints_through(queue_class):
    q = queue_class()
    return ints(produce, q, q.get)


def ints_through_pipe():
    reader, writer = mp.Pipe(False)
    try:
        return ints(send_ints, writer, reader.recv)
    finally:
        reader.close()
        writer.close()


def blocks_through_queue():
    q = mp.Queue()
    box = [0]

    def finish():
        total = 0
        for _ in range(BLOCK_COUNT):
            total += len(q.get())
        box[0] = total

    ms = timed([(produce_blocks, (q, BLOCK_COUNT, BLOCK_SIZE))], finish)
    assert box[0] == BLOCK_COUNT * BLOCK_SIZE
    return {BLOCKS: box[0] / 2**30 / (ms / 1000)}


def many_to_many():
    q = mp.Queue()
    results = mp.Queue()
    per = N // 4
    specs = [(produce, (q, per)) for _ in range(4)] + [(consume, (q, per, results)) for _ in range(4)]
    box = [0]

    def finish():
        box[0] = sum(results.get() for _ in range(4))

    ms = timed(specs, finish)
    assert box[0] == 4 * (per * (per - 1) // 2)
    return {MANY: N / ms * 1000}


def round_trip():
    here, there = mp.Pipe()
    child = mp.Process(target=echo, args=(there, ROUND_TRIPS + WARM_TRIPS))
    child.start()
    there.close()
    for i in range(WARM_TRIPS):
        here.send(i)
        here.recv()
    t0 = now()
    for i in range(ROUND_TRIPS):
        here.send(i)
        here.recv()
    us = (now() - t0) / ROUND_TRIPS * 1000
    child.join()
    here.close()
    return {ROUND_TRIP: us}


if __name__ == "__main__":
    compare(
        [
            ("python Queue", "msgs/s", lambda: ints_through(mp.Queue)),
            ("python SimpleQueue", "msgs/s", lambda: ints_through(mp.SimpleQueue)),
            ("python Pipe", "msgs/s", ints_through_pipe),
        ],
        runs=RUNS,
    )
    compare([("python Queue", "GB/s", blocks_through_queue)], runs=RUNS)
    compare([("python Queue", "msgs/s", many_to_many)], runs=RUNS)
    compare([("python Pipe", "µs", round_trip)], runs=RUNS)
