"""Device code shared by the forms (private): kernels every launcher uses.

* :func:`fill_kernel` - ``flat[:] = value`` on the device (zeroed outputs without a transfer);
* :func:`count_nonfinite_kernel` - counts inf / NaN of a device array, so a device input is
  validated without copying it to the host.
"""
from __future__ import annotations

import math

from ._cuda import cuda, kernel


@kernel
def fill_kernel(flat, value):
    """``flat[:] = value``. Naive loop: ``for i: flat[i] = value``.

    Mapping: a 1-D grid-stride loop (any grid covers any size). Shared: none.
    """
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        flat[i] = value


@kernel
def count_nonfinite_kernel(flat, count, slot):
    """``count[slot] += number of inf / NaN entries of flat``, to validate a float device array
    without copying it to the host.

    Naive loop: ``for i: count[slot] += not isfinite(flat[i])``.
    Mapping: a 1-D grid-stride loop; each thread counts in a register and adds its count with
    one atomic. Shared: none.
    """
    found = 0
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        if not math.isfinite(flat[i]):
            found += 1
    if found > 0:
        cuda.atomic.add(count, slot, found)
