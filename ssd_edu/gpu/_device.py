"""Device code shared by the forms (private): the kernel factory, the inline helpers of the tiled
kernels, and the finiteness count.

* :func:`specialized` - a cached factory ``get(tile, family, dtype, *extra)`` compiling a kernel
  builder's body with the tile, family and dtype as closure constants (static shared arrays of
  ``(tile, tile + 1)``, unrolled inner loops, no runtime family branch);
* :func:`ceil_div`, :func:`split_block`, :func:`split_lane`, :func:`operands` - decode a block's
  tile, a thread's channel lane and a flattened batch's operand rows;
* :func:`register_tile` - the (1 x WIDTH) register tile of channels: zero, load, accumulate, store;
* :func:`count_nonfinite_kernel` - counts inf / NaN of a device array without copying it.

Conventions: 2-D shared tiles have a pitch of ``tile + 1`` (distinct banks); ``DT(0)`` / ``DT(1)``
keep literals in the computation dtype; every decay product is a direct product of the a's (no
log, no ratio, no clamp: zero and negative decays exact); no fastmath; 1-D grids of blocks.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ._cuda import cuda, device, kernel, simulator_enabled, uint64


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


@device
def ceil_div(m, n):
    """ceil(m / n) for positive integers: the number of tiles of n that cover m."""
    return (m + n - 1) // n


@device
def split_block(n_fast, n_mid):
    """The digits ``(fast, mid, rest)`` of ``blockIdx.x = (rest n_mid + mid) n_fast + fast``."""
    blk = cuda.blockIdx.x
    return blk % n_fast, (blk // n_fast) % n_mid, blk // (n_fast * n_mid)


@device
def split_lane(N, P, diag):
    """This thread's lane ``cuda.grid(1) = (rest N + n) P + p`` of a 1-D grid over channel lanes
    (p fastest: coalesced loads), as ``(rest, n, na, p)`` with ``na = n if diag else 0`` (the
    decay's mode column); ``rest`` (the sequence, or sequence and step) is past its range in
    the threads beyond the last lane."""
    lane = cuda.grid(1)
    n = (lane // P) % N
    return lane // (N * P), n, n if diag else 0, lane % P


@device
def operands(idx, b):
    """The rows ``(ix, ia, iB, iC)`` of x, a, B and C that flattened batch b reads (``idx[:4, b]``)."""
    return idx[0, b], idx[1, b], idx[2, b], idx[3, b]


@functools.lru_cache(maxsize=None)
def register_tile(TILE, WIDTH, DT):
    """Inline helpers ``(zeros, load, accumulate, store)`` of a (1 x WIDTH) register tile.

    Thread (ty, tx) of a (TILE, TILE) block owns the WIDTH channels ``p0 + w TILE`` (w < WIDTH,
    ``p0`` includes tx) of one row; the tile of its block's columns in shared memory is
    ``x_s`` (TILE x WIDTH TILE), row k holding one step (or one k of a matmul):

    * ``acc = zeros()`` - the register tile, acc[w] = 0;
    * ``load(x_s, rows, s, stop, p0, P)`` - x_s[ty, w TILE + tx] = rows[s, p0 + w TILE], 0 for
      s >= stop or a channel >= P (each thread row loads its step s);
    * ``accumulate(acc, coef, x_s)`` - acc[w] += sum_k coef[k] x_s[k, w TILE + tx], the product of
      a row (or column) view ``coef`` of TILE shared values with the tile: one FMA and its
      shared loads per step (unsigned counters, see ZERO);
    * ``store(out, acc, p0, P)`` - out[p0 + w TILE] = acc[w] for the channels < P.
    """
    @device
    def zeros():
        acc = cuda.local.array(WIDTH, DT)
        for w in range(WIDTH):
            acc[w] = DT(0)
        return acc

    @device
    def load(x_s, rows, s, stop, p0, P):
        ty = cuda.threadIdx.y
        tx = cuda.threadIdx.x
        for w in range(WIDTH):
            p = p0 + w * TILE
            x_s[ty, w * TILE + tx] = rows[s, p] if s < stop and p < P else DT(0)

    @device
    def accumulate(acc, coef, x_s):
        tx = cuda.threadIdx.x
        k = ZERO
        while k < TILE:
            c = coef[k]
            w = ZERO
            while w < WIDTH:
                acc[w] += c * x_s[k, w * TILE + tx]
                w += ONE
            k += ONE

    @device
    def store(out, acc, p0, P):
        for w in range(WIDTH):
            p = p0 + w * TILE
            if p < P:
                out[p] = acc[w]

    return zeros, load, accumulate, store


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
