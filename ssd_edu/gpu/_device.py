"""Device code shared by the forms (private): the kernel factory and the finiteness count.

* :func:`specialized` - turns a kernel *builder* into a cached factory: ``builder(tile, family,
  dtype, ...)`` returns a plain Python kernel body in which the tile, the family and the dtype
  are closure constants, so numba.cuda compiles them in: static shared arrays of
  ``(tile, tile + 1)`` elements, inner loops of ``tile`` steps that unroll, no runtime family
  branch. One compiled kernel per key, built on first use and kept for the process.
* :func:`count_nonfinite_kernel` - counts inf / NaN of a device array, so a device input is
  validated without copying it to the host.

Conventions of every specialized kernel: 2-D shared tiles have a pitch of ``tile + 1`` so that
column reads hit distinct banks; ``DT(0)`` / ``DT(1)`` keep literals in the computation dtype
(float32 kernels compute in float32 throughout); decays are used as given, every decay
product is a direct product of the a's (THEORY 2.1: no log, no ratio, no clamp; zero and
negative decays exact); no fastmath (subnormals survive); grids are 1-D over blocks and each
block decodes its tile indices from ``blockIdx.x``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ._cuda import cuda, kernel, simulator_enabled, uint64


def numba_dtype(dtype):
    """The numba scalar type of a NumPy float dtype (the closure constant ``DT`` of a kernel)."""
    from numba import from_dtype
    return from_dtype(np.dtype(dtype))


#: Unsigned loop counters for the inner loops over a tile (``k = ZERO; while k < TILE: ...;
#: k += ONE``): numba types ``range`` indices as signed 64-bit and adds the negative-index
#: wraparound to every subscript, which keeps LLVM from unrolling the loop; an unsigned
#: counter against a compile-time bound has neither, so the loop unrolls into one FMA and
#: its shared-memory loads per step.
ZERO = uint64(0)
ONE = uint64(1)

#: Every specialized kernel asks ptxas for at least this many resident blocks of tile**2
#: threads per SM (``launch_bounds``): at tile 16, registers <= 128 and occupancy >= 25%.
MIN_BLOCKS = 2


def launch_bounds(tile: int) -> tuple:
    """(threads per block, minimum resident blocks per SM) of a specialized kernel."""
    return (tile * tile, MIN_BLOCKS)


def specialized(builder):
    """A cached factory ``get(tile, family, dtype, *extra) -> compiled kernel`` for ``builder``.

    ``builder(tile, diagonal, DT, *extra)`` returns the kernel body (``diagonal`` is True for the
    diagonal family, ``DT`` the numba dtype). The result is ``cuda.jit`` of that body with
    :func:`launch_bounds` (or the body itself without numba-cuda, never launched);
    ``get.builder`` is kept for the compile report, which compiles the same bodies for a named
    architecture.
    """
    @functools.lru_cache(maxsize=None)
    def get(tile: int, family: str, dtype, *extra):
        body = builder(int(tile), family == "diagonal", numba_dtype(dtype), *extra)
        if cuda is None:
            return body
        if simulator_enabled():  # the simulator runs the body as Python: no launch bounds
            return cuda.jit(body)
        return cuda.jit(body, launch_bounds=launch_bounds(tile))

    get.builder = builder
    get.__name__ = builder.__name__.replace("_build", "")
    get.__doc__ = builder.__doc__
    return get


@kernel
def count_nonfinite_kernel(flat, count, slot):
    """``count[slot] += number of inf / NaN entries of flat``, to validate a float device array
    without copying it to the host.

    Naive loop: ``for i: count[slot] += not isfinite(flat[i])``.
    Mapping: a 1-D grid-stride loop; each thread counts in a register and adds its count with
    one atomic (an integer count: the order of the additions cannot change it). Shared: none.
    """
    found = 0
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        if not math.isfinite(flat[i]):
            found += 1
    if found > 0:
        cuda.atomic.add(count, slot, found)
