"""The validation's finiteness test as one compiled pass, with no temporary:

    finite(v)  <=>  sum_i (v_i - v_i) == 0        (inf - inf and NaN - NaN are NaN)

read by every thread from ``PARALLEL_MIN_SIZE`` entries on, else by one.
"""
from __future__ import annotations

from numba import njit, prange

from ._jit import JIT

PARALLEL_MIN_SIZE = 1 << 20


def _sum_of_differences(v):
    acc = v.dtype.type(0)
    for i in prange(v.shape[0]):
        # v_i - v_i is 0 for a finite entry, NaN for inf or NaN
        acc += v[i] - v[i]
    return acc == 0


_parallel = njit(parallel=True, fastmath={"reassoc"}, **JIT)(_sum_of_differences)
_serial = njit(fastmath={"reassoc"}, **JIT)(_sum_of_differences)


def all_finite(v) -> bool:
    """v (n,) float32/float64: True when every entry is finite."""
    return bool((_parallel if v.shape[0] >= PARALLEL_MIN_SIZE else _serial)(v))
