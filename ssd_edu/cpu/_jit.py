"""Compilation settings and small compile-time helpers shared by every Numba CPU kernel.

* ``JIT``: ``cache=True`` (compiled once per signature, then loaded from disk; the cache is
  stamped with a hash of every ``ssd_edu/cpu/*.py``, see ``_cache``, so an edited helper
  never loads stale machine code),
  ``error_model='numpy'`` (no Python division checks in inner loops), ``boundscheck=False``.
* ``FASTMATH = {'contract', 'reassoc'}``: allows fused multiply-add and reordering of sums
  (needed to vectorize the sums over n). It never flushes subnormals to zero and never assumes
  finite values, so tiny decays (1e-300) and long mask tails keep their values (docs/theory.md#fma).
* ``decay(a, t)`` / ``at(row, n)``: one kernel source for both families. In the scalar family a
  sequence's decays ``a`` are (T,) and ``decay(a, t)`` is the number a_t; in the diagonal family
  they are (T, N) and ``decay(a, t)`` is the row a_t. ``at(row, n)`` is then a_t or a[t, n].
  Numba picks the branch from the argument types at compile time.
* ``single_threaded_blas()``: a kernel that calls ``np.dot`` runs BLAS inside every Numba
  thread; a multi-threaded BLAS under each of them oversubscribes the cores (measured 2-5x
  slower for chunks of Q >= 128 on 2 cores). The launcher holds BLAS to one thread meanwhile.
* ``threads_for(work)``: a call smaller than ``SMALL_WORK`` runs its parallel kernels on one
  thread. Every parallel region waits for its slowest thread: microseconds on an idle
  machine, a scheduler time slice when other processes keep the cores busy. Measured on 2
  cores with two busy processes (median of 30 calls): 12 ms per parallel region, so a
  T = 64, N = 4, P = 3 chunked call took 36 ms on two threads and 0.5 ms on one, and a
  T = 2048, N = P = 16 diagonal scan 12 ms and 0.4 ms; on the idle machine one and two
  threads were within 10% at these sizes.
"""
from __future__ import annotations

import contextlib
import functools

import numba
from numba import types
from numba.extending import overload

from . import _cache

_cache.install()          # before any @njit(cache=True) of this directory is defined

JIT = dict(cache=True, error_model="numpy", boundscheck=False, nogil=True)
FASTMATH = {"contract", "reassoc"}


def decay(a, t):
    """a_t of one sequence: a number (scalar family, a (T,)) or a row (diagonal, a (T, N))."""
    return a[t]


def at(row, n):
    """Mode n of a decay row: the row itself for the scalar family, row[n] for the diagonal."""
    return row[n] if getattr(row, "ndim", 0) else row


@overload(decay, inline="always")
def _decay_ol(a, t):
    return lambda a, t: a[t]


@overload(at, inline="always")
def _at_ol(row, n):
    if isinstance(row, types.Array):
        return lambda row, n: row[n]
    return lambda row, n: row


def num_threads() -> int:
    """Threads Numba's parallel loops use."""
    return numba.get_num_threads()


#: Work (state updates, or mask entries times widths: a launcher's own count) below which a
#: call runs on one thread (about a millisecond of one thread's work).
SMALL_WORK = 1 << 22


@contextlib.contextmanager
def threads_for(work: int):
    """Numba's threads for one call: all of them, or one when ``work`` < ``SMALL_WORK``.
    Numba's thread count is thread-local, so another thread's calls are not affected."""
    if work >= SMALL_WORK or numba.get_num_threads() == 1:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


@functools.lru_cache(maxsize=None)
def _blas_controller():
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS that Numba's np.dot calls)
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def single_threaded_blas():
    """Context manager: every loaded BLAS runs one thread inside it (threadpoolctl)."""
    return _blas_controller().limit(limits=1, user_api="blas")
