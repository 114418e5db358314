"""Every timing helper of the package: one clock, best-of timing, slopes.

The benchmark and the cost figure time through here, so a change of method (clock, repeats)
is made once (``verify`` times nothing: its cost rows count operations):

* :func:`timed` - seconds of one call (wall clock, ``time.perf_counter``);
* :func:`best_time` - best of ``repeats`` calls of one function;
* :func:`best_times` - best of ``repeats`` rounds over several functions, one call of each per
  round (round-robin, each round in a new seeded order), in CPU time by default: a burst of
  load from other processes then hits every size alike, and preemption cannot inflate the
  result;
* :func:`traced_peak` - seconds and peak Python/NumPy allocation of one call (tracemalloc);
* :func:`matmul_rate` - flop/s of a NumPy (BLAS) matmul, the machine's practical peak;
* :func:`loglog_slope` - the growth exponent k of ``time ~ size^k`` by least squares.
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np


def timed(call) -> float:
    """Wall-clock seconds of one ``call()``."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """Best of ``repeats`` calls of ``fn`` (seconds of ``clock``)."""
    return best_times([fn], repeats, clock)[0]


def best_times(fns, repeats: int, clock=time.process_time) -> list:
    """Best of ``repeats`` runs of each of ``fns``, taken round-robin (one run of each per
    round, each round in a new order drawn from a fixed seed), so that a burst of load from
    other processes hits every size alike, also when it recurs with the period of a round.

    The default clock is the CPU time of this process, which other processes on a shared
    machine cannot inflate by preempting it (wall-clock time can, unevenly across sizes).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    best = [float("inf")] * len(fns)
    order = np.random.default_rng(0)
    for _ in range(repeats):
        # each round in a new (seeded) order: interference that recurs with the period of a
        # round would otherwise hit the same function, e.g. the largest size, every round
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


#: Seconds to wait after a BLAS matmul before timing anything else. OpenBLAS's worker threads
#: busy-wait for a while after a call before they sleep; on a 2-core machine they take a core
#: from Numba's threads. Measured here (numba diagonal scan, float32, 8 x T 2048, N = P = 64,
#: 2 threads, best of 5): 7-8 ms fresh, 11-12 ms right after a float64 or a float32 matmul,
#: 8 ms 0.5 s after it, 8 ms after a matmul limited to one BLAS thread. This is the "float32
#: slower after float64" of issue 14: not the dtype, the spinning threads of the matmul before.
BLAS_SETTLE_S = 0.5


def settle_blas() -> None:
    """Sleep :data:`BLAS_SETTLE_S` so that BLAS's spinning threads are asleep before a timing."""
    time.sleep(BLAS_SETTLE_S)


def matmul_rate(dtype, n: int = 1024, repeats: int = 10) -> float:
    """flop/s of an (n, n) @ (n, n) NumPy matmul in ``dtype``: 2 n^3 / best of ``repeats``.

    The BLAS matmul is the practical peak of this machine; measured once per dtype and run,
    never interleaved with the timed kernels, and followed by :data:`BLAS_SETTLE_S` seconds of
    sleep so that BLAS's spinning threads are asleep before anything else is timed.
    """
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    A @ B
    rate = 2.0 * n**3 / best_time(lambda: A @ B, repeats)
    settle_blas()
    return rate


def loglog_slope(sizes, times) -> float:
    """Least-squares slope k of log(time) = k log(size) + const: the measured growth exponent."""
    return float(np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(times, float)),
                            1)[0])
