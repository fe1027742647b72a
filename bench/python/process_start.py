"""Workload "process start" (issue #2), Python side: multiprocessing.Process(target=noop) start + join,
and start() alone, for the start methods spawn, fork and forkserver.
The Node counterpart is bench/node/process_start.mjs.

A spawn child re-imports this file, so its top level imports only what the child needs."""
import multiprocessing


def noop():
    pass


def one_run(ctx, now):
    p = ctx.Process(target=noop)
    t0 = now()
    p.start()
    t1 = now()
    p.join()
    t2 = now()
    if p.exitcode != 0:
        raise RuntimeError(f"child exited with {p.exitcode}")
    return {"start+join no-op": t2 - t0, "start() call": t1 - t0}


def stop_helpers():
    """Stop (and reap) the forkserver and the resource tracker now instead of leaving them to exit on their
    own after we do: reaped, their CPU time counts as this script's, not as foreign load, in bench/run.ts."""
    from multiprocessing import forkserver, resource_tracker

    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        try:
            helper._stop()
        except Exception:  # private API; only the CPU accounting depends on it
            pass


if __name__ == "__main__":
    from _measure import compare, now

    cases = []
    for method in ("spawn", "fork", "forkserver"):
        ctx = multiprocessing.get_context(method)
        cases.append((f"python {method}", "ms", lambda ctx=ctx: one_run(ctx, now)))
    compare(cases)
    stop_helpers()
