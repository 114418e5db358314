"""The block (chunked) algorithm as a Numba kernel: scalar_chunked and diagonal_chunked.

Built from the two primitives: the masked matmul inside each chunk (the diagonal tile of
``_tiles``) and the recurrence across chunks, run over chunk states. For chunk c = [t0, t1)
with F[i, n] = prod_{t0<=u<=t0+i} a_u[n] and G[j, n] = prod_{t0+j<u<t1} a_u[n]:

    1. intra-chunk   y_c  = (1SS(a_c) o C_c B_c^T) x_c                 (direct products)
    2. state output  y_c += (C_c o F) H_{c-1}                           (H_{-1} = h_{-1})
    3. chunk state   S_c  = (B_c o G)^T x_c
    4. state passing H_c  = diag(F[q-1]) H_{c-1} + S_c                  (the scan over chunks)

Every product of two chunk-sized matrices is a dense ``np.dot`` into a preallocated
C-contiguous workspace (Numba calls BLAS gemm for it): W x_c, (C_c o F) H, (B_c o G)^T x_c,
and for the scalar family C_c B_c^T itself. The workspaces have the full chunk size Q; a short
last chunk (q < Q) is zero-padded, so the padded rows and columns contribute nothing. The
masks are still direct products (zeros and negative decays exact); only the matmuls moved.

Any T and any chunk size (the last chunk may be short; Q = 1 is the scan, Q >= T the
attention form). Parallel over (sequence, channel block of width w): each job runs its chunks
in order. Extra memory per thread: O(Q^2 + Q (N + w) + N w).

Cost per chunk of q steps: q (q + 1) (N + P) (intra, lower triangle) + 4 q N P (steps 2, 3)
+ 2 N P (step 4) flops. (The dense gemm also multiplies the zero upper triangle of W: the
bench counts only the flops the algorithm needs.)
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, JIT, single_threaded_blas
from ._launch import channel_blocks, chunk, flatten, unflatten
from ._tiles import chunk_scores, prefix_products, suffix_products


@njit(fastmath=FASTMATH, **JIT)
def _chunked_sequence(x, a, B, C, H, y, Q, p0, p1):
    """One sequence, channels [p0, p1): its chunks in order. x (T, P), a (T,) or (T, N),
    B, C (T, N), H (N, P) (h_{-1} in, h_{T-1} out), y (T, P) outputs out."""
    T = x.shape[0]
    N = B.shape[1]
    w = p1 - p0
    dt = x.dtype
    F = np.empty((Q, N), dtype=dt)           # prefix products of the chunk's decays
    G = np.empty((Q, N), dtype=dt)           # suffix products
    r = np.empty(N, dtype=dt)
    W = np.zeros((Q, Q), dtype=dt)           # 1SS(a_c) o C_c B_c^T
    Cc = np.zeros((Q, N), dtype=dt)          # C_c (scalar family's scores)
    Bt = np.zeros((N, Q), dtype=dt)          # B_c^T
    Xc = np.zeros((Q, w), dtype=dt)          # x_c, channels [p0, p1)
    CF = np.zeros((Q, N), dtype=dt)          # C_c o F
    BG = np.zeros((N, Q), dtype=dt)          # (B_c o G)^T
    Y1 = np.empty((Q, w), dtype=dt)
    Y2 = np.empty((Q, w), dtype=dt)
    Sc = np.empty((N, w), dtype=dt)          # chunk state S_c
    Hc = np.ascontiguousarray(H[:, p0:p1])   # H_{c-1}, (N, w)
    for t0 in range(0, T, Q):
        t1 = min(T, t0 + Q)
        q = t1 - t0
        if q < Q:                            # the short last chunk: zero padding
            W[:, :] = 0
            Cc[:, :] = 0
            Bt[:, :] = 0
            Xc[:, :] = 0
            CF[:, :] = 0
            BG[:, :] = 0
        Xc[:q, :] = x[t0:t1, p0:p1]
        prefix_products(a, t0, t1, N, F)
        suffix_products(a, t0, t1, N, G)
        for i in range(q):
            for n in range(N):
                CF[i, n] = C[t0 + i, n] * F[i, n]
                BG[n, i] = B[t0 + i, n] * G[i, n]
        # 1. intra-chunk: y_c = (1SS(a_c) o C_c B_c^T) x_c
        chunk_scores(a, B, C, t0, t1, W, r, Cc, Bt)
        np.dot(W, Xc, Y1)
        # 2. state output: y_c += (C_c o F) H_{c-1}
        np.dot(CF, Hc, Y2)
        for i in range(q):
            for p in range(w):
                y[t0 + i, p0 + p] = Y1[i, p] + Y2[i, p]
        # 3. chunk state: S_c = (B_c o G)^T x_c
        np.dot(BG, Xc, Sc)
        # 4. state passing: H_c = diag(F[q-1]) H_{c-1} + S_c
        for n in range(N):
            abar = F[q - 1, n]
            for p in range(w):
                Hc[n, p] = abar * Hc[n, p] + Sc[n, p]
    H[:, p0:p1] = Hc


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
    y = np.empty((f.S, f.T, f.P), dtype=f.dtype)              # every entry is written
    if f.T > 0 and f.S > 0:
        with single_threaded_blas():                             # np.dot inside prange threads
            _chunked_kernel(f.x, f.a, f.B, f.C, H, y, min(Q, f.T), channel_blocks(f.S, f.P))
    return unflatten(f, y, np.swapaxes(H, 1, 2))


def scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The scalar-family block algorithm: masked matmul in chunks of Q, recurrence across them.

    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T Q (N + P) + T N P) time, O(Q^2 + Q (N + P) + N P) extra memory per thread;
    any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P).
    """
    return _chunked("scalar", x, a, B, C, chunk_size, initial_state)


def diagonal_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The diagonal-family block algorithm (one mask per mode inside each chunk).

    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T Q (N + P) + T N P) time, O(Q^2 + Q (N + P) + N P) extra memory per thread;
    any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P).
    """
    return _chunked("diagonal", x, a, B, C, chunk_size, initial_state)
