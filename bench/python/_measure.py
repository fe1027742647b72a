"""Helpers shared by the Python workload scripts (bench/python/*.py), mirroring bench/lib/measure.mjs:
run cases round-robin, print one JSON line per (impl, metric) with the median.
Files whose name starts with "_" are helpers: bench/run.ts does not run them."""
import json
import os
import time

RUNS = int(os.environ.get("BENCH_RUNS") or 30)
WARMUP = int(os.environ.get("BENCH_WARMUP") or 2)

now = lambda: time.perf_counter() * 1000.0  # ms


def compare(cases, runs=RUNS, warmup=WARMUP):
    """cases: list of (impl, unit, run) where run() returns {metric: value} for one run.
    Each case runs `warmup` times, then `runs` times, interleaved so that a slow spell hits all cases alike."""
    samples = {}
    for rnd in range(-warmup, runs):
        for impl, unit, run in cases:
            result = run()
            if rnd < 0:
                continue
            for metric, value in result.items():
                samples.setdefault((impl, metric), (unit, []))[1].append(value)
    for (impl, metric), (unit, values) in samples.items():
        emit(impl, metric, values, unit)


def emit(impl, metric, values, unit):
    """Median of values; spread_pct is half the interquartile range, relative to the median."""
    s = sorted(values)
    value = _quantile(s, 0.5)
    spread = 0 if value == 0 else (_quantile(s, 0.75) - _quantile(s, 0.25)) / 2 / value * 100
    line = {"impl": impl, "metric": metric, "value": _round(value), "unit": unit, "runs": len(values), "spread_pct": _round(spread)}
    print(json.dumps(line), flush=True)


def _quantile(s, q):
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _round(x):
    return float(f"{x:.4g}")
