"""The finiteness test of the shared validation as one compiled pass.

``np.all(np.isfinite(arr))`` writes a boolean temporary of the input's size and reads it
again; this loop reads each entry once and keeps no temporary:

    finite(v)  <=>  sum_i (v_i - v_i) == 0        (inf - inf and NaN - NaN are NaN)

The sum is reassociated (so it vectorizes) but no flag assumes finite values, so the
subtraction is never folded away. Arrays of ``PARALLEL_MIN_SIZE`` entries or more are read by
every thread; smaller ones by the calling thread alone (a parallel region costs more than
reading them when the other cores are busy; ``_jit.threads_for``). The launchers pass it to
the validation (``_launch.flatten``); arrays below ``validation.FAST_FINITE_MIN_SIZE`` entries
stay with NumPy.
"""
from __future__ import annotations

from numba import njit, prange

from ._jit import JIT

#: Entries from which the pass runs on every thread (an input of the default benchmark
#: workload, 8 x 2048 x 64, is one such array).
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
