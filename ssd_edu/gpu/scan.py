"""The recurrence on the GPU: scalar_scan and diagonal_scan (kernel and launchers).

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0)

One thread per independent (sequence b, state n, channel p) lane; the state lives in a
register for the whole sequence (see :func:`_scan_kernel`).
"""
from __future__ import annotations

from ._cuda import cuda, kernel, require_cuda
from ._launch import empty_result, finish, get_tile, prepare, shared_bytes, zeros


def shared_scan(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_scan_kernel` needs."""
    return tile * tile * tile


@kernel
def _scan_kernel(x, a, B, C, h0, has_h0, idx, tile, atomic, y, h_last):
    """The recurrence, one thread per independent (sequence b, state n, channel p) lane.

    Naive loop it computes (a[b, t, 0] in the scalar family, a[b, t, n] in the diagonal one)::

        for b, n, p:
            h = h0[b, n, p] if has_h0 else 0
            for t in range(T):
                h = a[b, t, n] * h + B[b, t, n] * x[b, t, p]     # h_t = A_t h_{t-1} + B_t x_t^T
                y[b, t, p] += C[b, t, n] * h                     # y_t = h_t^T C_t
            h_last[b, n, p] = h

    Mapping: block (tile, tile) threads = (p, n) lanes of one sequence (threadIdx.x = p, the
    contiguous axis of x and y: coalesced); grid.x = nb * n-tiles * p-tiles. The state h[n, p]
    lives in a register for the whole sequence.
    Shared: part[k, n, p] = C[t0 + k, n] h_{t0+k}[n, p] for a group of ``tile`` steps; after one
    barrier, thread row k sums step t0 + k over the block's modes, so there is one barrier pair
    per ``tile`` steps, not per step. With N > tile several blocks share (b, p) and ``atomic``
    adds their partial sums into y (zeroed by the launcher); otherwise y is stored directly.
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    n_pt = (P + tile - 1) // tile
    n_nt = (N + tile - 1) // tile
    blk = cuda.blockIdx.x
    p = (blk % n_pt) * tile + tx
    n = ((blk // n_pt) % n_nt) * tile + ty
    b = blk // (n_pt * n_nt)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    iC = idx[3, b]
    na = n if a.shape[2] > 1 else 0          # the scalar family shares a[b, t, 0]
    live = n < N and p < P
    part = cuda.shared.array(0, dtype=x.dtype)
    zero = x.dtype.type(0)
    h = zero
    if live and has_h0:
        h = h0[idx[4, b], n, p]
    for t0 in range(0, T, tile):
        for k in range(tile):
            t = t0 + k
            c = zero
            if live and t < T:
                # h_t = a_t h_{t-1} + B_t x_t^T
                h = a[ia, t, na] * h + B[iB, t, n] * x[ix, t, p]
                c = C[iC, t, n] * h
            part[(k * tile + ty) * tile + tx] = c
        cuda.syncthreads()
        t = t0 + ty
        if t < T and p < P:
            # y_t = h_t^T C_t: this block's modes
            acc = zero
            for j in range(tile):
                acc += part[(ty * tile + j) * tile + tx]
            if atomic:
                cuda.atomic.add(y, (b, t, p), acc)
            else:
                y[b, t, p] = acc
        cuda.syncthreads()
    if live:
        h_last[b, n, p] = h


def _scan(family, x, a, B, C, initial_state):
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = prepare(family, *values)
    if L.nb == 0 or L.T == 0:
        return empty_result(values, L)
    tile = get_tile()
    n_pt, n_nt = -(-L.P // tile), -(-L.N // tile)
    atomic = n_nt > 1
    y = zeros((L.nb, L.T, L.P), L.dtype) if atomic else cuda.device_array(
        (L.nb, L.T, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    _scan_kernel[L.nb * n_nt * n_pt, (tile, tile), 0,
                   shared_bytes(shared_scan(tile), L.dtype)](
        L.x, L.a, L.B, L.C, L.h0, L.has_h0, L.idx, tile, atomic, y, h)
    return finish(L, y, h)


def scalar_scan(x, a, B, C, initial_state=None):
    """The scalar recurrence on the GPU, one thread per (sequence, state, channel) lane.

    h_t = a_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P). Kernel: ``_scan_kernel``.
    """
    return _scan("scalar", x, a, B, C, initial_state)


def diagonal_scan(x, a, B, C, initial_state=None):
    """The diagonal recurrence on the GPU, one thread per (sequence, state, channel) lane.

    h_t = diag(a_t) h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P). Kernel: ``_scan_kernel``.
    """
    return _scan("diagonal", x, a, B, C, initial_state)
