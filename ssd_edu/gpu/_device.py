"""Device code the kernels share: the kernel factory :func:`specialized` (tile, family and dtype
compiled in as closure constants), index helpers, the (1 x WIDTH) register tile of channels, the
finiteness count. Shared 2-D tiles have a pitch of ``tile + 1``; decay products are direct
products of the a's (no log, no ratio: zero and negative decays exact); 1-D grids of blocks.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ._cuda import cuda, device, kernel, simulator_enabled, uint64


#: Unsigned loop counters (``k = ZERO; while k < TILE: ...``): numba's signed ``range`` adds a
#: negative-index wraparound to every subscript, which keeps LLVM from unrolling the loop.
ZERO = uint64(0)
ONE = uint64(1)


def launch_bounds(tile: int) -> tuple:
    """(threads per block, minimum resident blocks per SM): at tile 16, registers <= 128."""
    return (tile * tile, 2)


def specialized(builder):
    """A cached factory ``get(tile, family, dtype, *extra)``: the body
    ``builder(tile, diagonal, DT, *extra)`` compiled with :func:`launch_bounds` (the body itself
    without numba-cuda); ``get.builder`` is kept for the compile report."""
    @functools.lru_cache(maxsize=None)
    def get(tile: int, family: str, dtype, *extra):
        from numba import from_dtype
        body = builder(int(tile), family == "diagonal", from_dtype(np.dtype(dtype)), *extra)
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
    """``(rest, n, na = n if diag else 0, p)`` of lane ``cuda.grid(1) = (rest N + n) P + p``."""
    lane = cuda.grid(1)
    n = (lane // P) % N
    return lane // (N * P), n, n if diag else 0, lane % P


@device
def operands(idx, b):
    """The rows ``(ix, ia, iB, iC)`` of x, a, B, C that flat batch b reads (``idx[:4, b]``)."""
    return idx[0, b], idx[1, b], idx[2, b], idx[3, b]


@functools.lru_cache(maxsize=None)
def register_tile(TILE, WIDTH, DT):
    """Inline ``(zeros, load, accumulate, store)`` of a (1 x WIDTH) register tile: thread (ty, tx)
    owns channels ``p0 + w TILE`` (w < WIDTH, p0 includes tx); x_s (TILE x WIDTH TILE) holds one
    step per row. load: x_s[ty, w TILE + tx] = rows[s, p0 + w TILE] (0 past stop or P);
    accumulate: acc[w] += sum_k coef[k] x_s[k, w TILE + tx]; store: out[p0 + w TILE] = acc[w].
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
    """``count[slot] += number of inf / NaN entries of flat``: a grid-stride loop, one atomic
    per thread."""
    found = 0
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        if not math.isfinite(flat[i]):
            found += 1
    if found > 0:
        cuda.atomic.add(count, slot, found)
