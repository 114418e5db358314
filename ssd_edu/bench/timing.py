"""Every timing helper of the package: one clock, best-of timing, peak memory, slopes."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np


def timed(call) -> float:
    """Wall-clock seconds of one ``call()``."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def min_median(call, repeats: int) -> tuple[float, float]:
    """(min, median) wall-clock seconds of ``repeats`` calls after one untimed (warm-up) call."""
    call()
    times = [timed(call) for _ in range(repeats)]
    return min(times), float(np.median(times))


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """Best of ``repeats`` calls of ``fn`` (seconds of ``clock``)."""
    return best_times([fn], repeats, clock)[0]


def best_times(fns, repeats: int, clock=time.process_time) -> list:
    """Best of ``repeats`` runs of each of ``fns``, one run of each per round, each round in a
    new order from a fixed seed (a burst of load hits every function alike). The default clock,
    this process's CPU time, is not inflated by other processes preempting it."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    best = [float("inf")] * len(fns)
    order = np.random.default_rng(0)
    for _ in range(repeats):
        for i in order.permutation(len(fns)):
            start = clock()
            fns[i]()
            best[i] = min(best[i], clock() - start)
    return best


def traced_peak(call) -> tuple[float, int]:
    """(seconds, peak bytes allocated through Python/NumPy) of one call."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        seconds = timed(call)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return seconds, int(peak)


def settle_blas() -> None:
    """Sleep half a second: OpenBLAS's worker threads busy-wait for a while after a call,
    taking cores from Numba's threads."""
    time.sleep(0.5)


def matmul_rate(dtype, n: int = 1024, repeats: int = 10) -> float:
    """flop/s of an (n, n) @ (n, n) NumPy matmul in ``dtype``: 2 n^3 / best of ``repeats``,
    then :func:`settle_blas`."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, n, n)).astype(dtype)
    A @ B
    rate = 2.0 * n**3 / best_time(lambda: A @ B, repeats)
    settle_blas()
    return rate


def loglog_slope(sizes, times) -> float:
    """Least-squares slope k of log(time) = k log(size) + const: the measured growth exponent."""
    return float(np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(times, float)),
                            1)[0])
