"""Paired timing for the benchmarks: two operations timed in alternating batches, so load on the machine
moves both alike and their ratio, not their absolute time, is what a benchmark reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def paired(
    first: Callable[[], object], second: Callable[[], object], rounds: int, batch: int = 1
) -> tuple[list[float], list[float]]:
    """Returns the per-call times (us) of each function, timed in alternating batches."""
    first()
    second()  # warm-up
    a, b = [], []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            first()
        t1 = time.perf_counter_ns()
        for _ in range(batch):
            second()
        t2 = time.perf_counter_ns()
        a.append((t1 - t0) / batch / 1000)
        b.append((t2 - t1) / batch / 1000)
    return a, b


def median_ratio(
    first: Callable[[], object], second: Callable[[], object], rounds: int
) -> tuple[float, float, float]:
    """Returns (median us of first, median us of second, median of the per-round ratios first/second)."""
    a, b = paired(first, second, rounds)
    return (
        statistics.median(a),
        statistics.median(b),
        statistics.median(x / y for x, y in zip(a, b, strict=True)),
    )
