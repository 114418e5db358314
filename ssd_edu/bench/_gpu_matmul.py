"""The timing matmul: a tiled shared-memory matmul, the practical peak of ``device_matmul_rate``."""
from __future__ import annotations

from ..gpu._cuda import cuda
from ..gpu._device import ceil_div, register_tile, specialized

#: Blocks of (MATMUL_TILE, MATMUL_TILE) threads; MATMUL_WIDTH column tiles per thread.
MATMUL_TILE, MATMUL_WIDTH = 16, 4


def _build_matmul(TILE, DIAG, DT, WIDTH):
    """``out = A @ B`` for (m, k) x (k, n), tiled in shared memory: block (TILE, TILE) threads,
    thread (ty, tx) owns out[i0 + ty, j0 + tx + w TILE] for w < WIDTH (a register tile); per step
    along k an (TILE x TILE) tile of A and a (TILE x WIDTH TILE) tile of B. ``DIAG`` unused."""
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
