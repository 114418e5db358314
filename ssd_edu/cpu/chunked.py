"""The block (chunked) algorithm as a Numba kernel: scalar_chunked and diagonal_chunked.

Built from the two primitives: the masked matmul inside each chunk (the diagonal tile of
``_tiles``) and the recurrence across chunks, run over chunk states. For chunk c = [t0, t1)
with F[i, n] = prod_{t0<=u<=t0+i} a_u[n] and G[j, n] = prod_{t0+j<u<t1} a_u[n]:

    1. intra-chunk   y_c  = (1SS(a_c) o C_c B_c^T) x_c                 (direct products)
    2. state output  y_c += (C_c o F) H_{c-1}                           (H_{-1} = h_{-1})
    3. chunk state   S_c  = (B_c o G)^T x_c
    4. state passing H_c  = diag(F[q-1]) H_{c-1} + S_c                  (the scan over chunks)

Any T and any chunk size (the last chunk may be short; Q = 1 is the scan, Q >= T the
attention form). Parallel over (sequence, channel block): each job runs its chunks in order.
Extra memory per thread: O(Q^2 + Q N); the state H is the output array.

Cost per chunk of q steps: q (q + 1) (N + P) (intra, lower triangle) + 4 q N P (steps 2, 3)
+ 2 N P (step 4) flops.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, JIT
from ._launch import channel_blocks, chunk, flatten, unflatten
from ._tiles import apply, combine_rows, diagonal_block, prefix_products, suffix_products


@njit(fastmath=FASTMATH, **JIT)
def _chunked_sequence(x, a, B, C, H, y, Q, p0, p1):
    """One sequence, channels [p0, p1): its chunks in order. x (T, P), a (T,) or (T, N),
    B, C (T, N), H (N, P) (h_{-1} in, h_{T-1} out), y (T, P) zeros in, outputs out."""
    T = x.shape[0]
    N = B.shape[1]
    F = np.empty((Q, N), dtype=x.dtype)
    G = np.empty((Q, N), dtype=x.dtype)
    W = np.empty((Q, Q), dtype=x.dtype)
    Bt = np.empty((N, Q), dtype=x.dtype)
    r = np.empty(N, dtype=x.dtype)
    g = np.empty(Q, dtype=x.dtype)
    for t0 in range(0, T, Q):
        t1 = min(T, t0 + Q)
        q = t1 - t0
        # 1. intra-chunk: y_c = (1SS(a_c) o C_c B_c^T) x_c
        diagonal_block(a, B, C, t0, t1, W, r, Bt)
        apply(W, q, q, True, x, t0, p0, p1, y, t0)
        # 2. state output: y_t += (C_t o F_t)^T H_{c-1}
        prefix_products(a, t0, t1, N, F)
        for i in range(q):
            for n in range(N):
                r[n] = C[t0 + i, n] * F[i, n]
            combine_rows(y[t0 + i, p0:p1], r, H, 0, p0, N)
        # 3-4. H_c = diag(F[q-1]) H_{c-1} + (B_c o G)^T x_c
        suffix_products(a, t0, t1, N, G)
        for n in range(N):
            Hn = H[n, p0:p1]
            abar = F[q - 1, n]
            for p in range(p1 - p0):
                Hn[p] *= abar
            for j in range(q):
                g[j] = B[t0 + j, n] * G[j, n]
            combine_rows(Hn, g, x, t0, p0, q)


@njit(parallel=True, **JIT)
def _chunked_kernel(x, a, B, C, H, y, Q, width):
    """y (S, T, P) and H (S, N, P), which enters as h_{-1} and leaves as h_{T-1}."""
    S, T, P = x.shape
    blocks = (P + width - 1) // width
    if blocks == 1:
        for s in prange(S):
            _chunked_sequence(x[s], a[s], B[s], C[s], H[s], y[s], Q, 0, P)
    else:
        for job in prange(S * blocks):
            s = job // blocks
            p0 = (job % blocks) * width
            _chunked_sequence(x[s], a[s], B[s], C[s], H[s], y[s], Q, p0, min(P, p0 + width))


def _chunked(family, x, a, B, C, chunk_size, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    Q = chunk(chunk_size)
    H = np.ascontiguousarray(np.swapaxes(f.hT, 1, 2))           # (S, N, P), h_{-1}
    y = np.zeros((f.S, f.T, f.P), dtype=f.dtype)
    if f.T > 0 and f.S > 0:
        _chunked_kernel(f.x, f.a, f.B, f.C, H, y, min(Q, f.T), channel_blocks(f.S, f.P))
    return unflatten(f, y, np.swapaxes(H, 1, 2))


def scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The scalar-family block algorithm: masked matmul in chunks of Q, recurrence across them.

    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T Q (N + P) + T N P) time, O(Q^2 + Q N) extra memory per thread; any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P).
    """
    return _chunked("scalar", x, a, B, C, chunk_size, initial_state)


def diagonal_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The diagonal-family block algorithm (one mask per mode inside each chunk).

    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T Q (N + P) + T N P) time, O(Q^2 + Q N) extra memory per thread; any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P).
    """
    return _chunked("diagonal", x, a, B, C, chunk_size, initial_state)
