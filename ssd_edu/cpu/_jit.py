"""Compilation settings and compile-time helpers shared by every Numba CPU kernel.

``JIT``: cached (see ``_cache``), no division or bounds checks, no GIL. ``FASTMATH``: fused
multiply-add and reordered sums only, so non-finite values keep their meaning
(docs/theory.md#fma). ``decay``/``at`` let one kernel source serve both families.
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


num_threads = numba.get_num_threads

#: Work (state updates, or mask entries times widths) below which a call runs on one thread.
SMALL_WORK = 1 << 22


@contextlib.contextmanager
def threads_for(work: int):
    """Numba's threads for one call: all of them, or one when ``work`` < ``SMALL_WORK``
    (Numba's thread count is thread-local: other threads are not affected)."""
    old = numba.get_num_threads()
    numba.set_num_threads(old if work >= SMALL_WORK else 1)
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
