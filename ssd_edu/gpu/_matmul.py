"""The timing matmul (private): a dense tiled shared-memory matmul, the device's practical peak
for :func:`ssd_edu.gpu.timing.device_matmul_rate`."""
from __future__ import annotations

from ._cuda import cuda, kernel

#: Tile of the reference matmul: blocks of (16, 16) threads.
MATMUL_TILE = 16


def shared_matmul(tile: int) -> int:
    """Elements of dynamic shared memory :func:`matmul_kernel` needs."""
    return 2 * tile * (tile + 1)


@kernel
def matmul_kernel(A, B, out, tile):
    """``out = A @ B`` for (m, k) x (k, n): the classic shared-memory tiled matmul.

    Naive loop: ``for i, j: out[i, j] = sum_k A[i, k] B[k, j]``.
    Mapping: block (tile, tile) threads, thread (ty, tx) owns out[i0 + ty, j0 + tx];
    grid.x = row tiles * column tiles. Shared: one (tile x tile) tile of A and one of B per
    step along k. Used by ``timing.device_matmul_rate`` as a practical peak (no cuBLAS in
    numba.cuda; a vendor BLAS is several times faster).
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m = out.shape[0]
    n = out.shape[1]
    K = A.shape[1]
    n_ct = (n + tile - 1) // tile
    i = (cuda.blockIdx.x // n_ct) * tile + ty
    j = (cuda.blockIdx.x % n_ct) * tile + tx
    pitch = tile + 1
    sh = cuda.shared.array(0, dtype=A.dtype)
    oB = tile * pitch
    acc = A.dtype.type(0)
    for k0 in range(0, K, tile):
        sh[ty * pitch + tx] = A[i, k0 + tx] if i < m and k0 + tx < K else A.dtype.type(0)
        sh[oB + ty * pitch + tx] = B[k0 + ty, j] if k0 + ty < K and j < n else A.dtype.type(0)
        cuda.syncthreads()
        for k in range(tile):
            acc += sh[ty * pitch + k] * sh[oB + k * pitch + tx]
        cuda.syncthreads()
    if i < m and j < n:
        out[i, j] = acc
