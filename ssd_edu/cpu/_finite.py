"""The finiteness test of the shared validation as one compiled, parallel pass.

``np.all(np.isfinite(arr))`` writes a boolean temporary of the input's size and reads it
again; this loop reads each entry once, on every thread, and keeps no temporary:

    finite(v)  <=>  sum_i (v_i - v_i) == 0        (inf - inf and NaN - NaN are NaN)

The sum is reassociated (so it vectorizes) but no flag assumes finite values, so the
subtraction is never folded away. Installed into :mod:`ssd_edu.validation` on import of
``ssd_edu.cpu``; arrays below ``validation.FAST_FINITE_MIN_SIZE`` entries stay with NumPy.
"""
from __future__ import annotations

from numba import njit, prange

from ._jit import JIT


@njit(parallel=True, fastmath={"reassoc"}, **JIT)
def all_finite(v) -> bool:
    """v (n,) float32/float64: True when every entry is finite."""
    acc = v.dtype.type(0)
    for i in prange(v.shape[0]):
        # v_i - v_i is 0 for a finite entry, NaN for inf or NaN
        acc += v[i] - v[i]
    return acc == 0
