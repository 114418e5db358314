"""The timing matmul (private): a dense tiled shared-memory matmul, the practical peak that
:func:`ssd_edu.bench.gpu_timing.device_matmul_rate` measures next to the device's own peak."""
from __future__ import annotations

from ..gpu._cuda import cuda
from ..gpu._device import ceil_div, register_tile, specialized

#: Tile of the reference matmul: blocks of (16, 16) threads.
MATMUL_TILE = 16
#: Column tiles per thread (a register tile of 1 x MATMUL_WIDTH outputs).
MATMUL_WIDTH = 4


def _build_matmul(TILE, DIAG, DT, WIDTH):
    """``out = A @ B`` for (m, k) x (k, n): the shared-memory tiled matmul.

    Naive loop: ``for i, j: out[i, j] = sum_k A[i, k] B[k, j]``.
    Mapping: block (TILE, TILE) threads; thread (ty, tx) owns out[i0 + ty, j0 + tx + w TILE]
    for w < WIDTH (a register tile); grid.x = row tiles * column blocks of WIDTH TILE. Shared:
    a (TILE x TILE) tile of A and a (TILE x WIDTH TILE) tile of B per step along k. (No cuBLAS
    in numba.cuda; a vendor BLAS with tensor cores is several times faster.) ``DIAG`` unused.
    """
    PITCH = TILE + 1
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def matmul(A, B, out):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        m, n = out.shape
        K = A.shape[1]
        n_cb = ceil_div(n, WIDE)
        i = (cuda.blockIdx.x // n_cb) * TILE + ty
        j0 = (cuda.blockIdx.x % n_cb) * WIDE + tx
        a_s = cuda.shared.array((TILE, PITCH), DT)
        b_s = cuda.shared.array((TILE, WIDE), DT)
        acc = zeros()
        for k0 in range(0, K, TILE):
            a_s[ty, tx] = A[i, k0 + tx] if i < m and k0 + tx < K else DT(0)
            load(b_s, B, k0 + ty, K, j0, n)               # b_s[ty, :] = B[k0 + ty, j0 + w TILE]
            cuda.syncthreads()
            # out[i, j] += sum_k A[i, k] B[k, j]
            accumulate(acc, a_s[ty], b_s)
            cuda.syncthreads()
        if i < m:
            store(out[i], acc, j0, n)

    return matmul


matmul_kernel = specialized(_build_matmul)


def launch_matmul(A, B, out, tile: int = MATMUL_TILE, width: int = MATMUL_WIDTH) -> None:
    """Launch :func:`matmul_kernel` for device arrays ``out = A @ B``."""
    m, n = out.shape
    grid = -(-m // tile) * -(-n // (tile * width))
    matmul_kernel(tile, "scalar", out.dtype, width)[grid, (tile, tile)](A, B, out)
