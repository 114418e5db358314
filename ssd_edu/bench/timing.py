"""Every timing helper of the package: one clock, best-of timing, isolated processes, slopes.

The benchmark, the cost rows of ``verify`` and the cost figure all time through here, so a
change of method (clock, repeats, thread settings) is made once:

* :func:`timed` - seconds of one call (wall clock, ``time.perf_counter``);
* :func:`best_time` - best of ``repeats`` calls of one function;
* :func:`best_times` - best of ``repeats`` rounds over several functions, one call of each per
  round (round-robin, each round in a new seeded order), in CPU time by default: a burst of
  load from other processes then hits every size alike, and preemption cannot inflate the
  result;
* :func:`traced_peak` - seconds and peak Python/NumPy allocation of one call (tracemalloc);
* :func:`matmul_rate` - flop/s of a NumPy (BLAS) matmul, the machine's practical peak;
* :func:`run_isolated` - a function of the package run in a fresh interpreter with
  single-threaded BLAS and a malloc that keeps freed memory, its JSON result returned
  (spinning BLAS threads of a multithreaded matmul make times erratic on a small shared
  machine; memory mapped afresh on every call makes time per step jump at some size);
* :func:`loglog_slope` - the growth exponent k of ``time ~ size^k`` by least squares.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

#: Environment of :func:`run_isolated`: one thread for every BLAS and for Numba.
SINGLE_THREAD_ENV = dict(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                         NUMBA_NUM_THREADS="1")
#: ... and a malloc (glibc) that keeps freed memory up to 64 MiB for the next call. By default
#: an array above a threshold that adapts to what the process freed before is mapped afresh
#: and page-faulted on every call: time per step then steps up at some size (measured: the
#: NumPy chunked VJP at T = 3072, 15 -> 19-25 us per step after a plain install, 15 with more
#: modules imported), which a growth row reads as superlinear. Other C libraries ignore these.
KEEP_MEMORY_ENV = dict(MALLOC_MMAP_THRESHOLD_=str(64 << 20),
                       MALLOC_TRIM_THRESHOLD_=str(128 << 20))


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


def run_isolated(function: str, *args, timeout: float = 600):
    """``module.function(*args)`` in a fresh interpreter with single-threaded BLAS and Numba
    (``SINGLE_THREAD_ENV``) and a malloc that keeps freed memory (``KEEP_MEMORY_ENV``).

    ``function`` is a dotted path (``"ssd_edu.theorems.cost.timings"``); ``args`` and the
    result must be JSON-serializable. Raises RuntimeError with the child's error output.
    """
    module, _, name = function.rpartition(".")
    code = (f"import json, sys, {module} as m; "
            f"print(json.dumps(m.{name}(*json.loads(sys.argv[1]))))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(list(args))],
                          env=dict(os.environ, **SINGLE_THREAD_ENV, **KEEP_MEMORY_ENV),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"timing subprocess {function} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
