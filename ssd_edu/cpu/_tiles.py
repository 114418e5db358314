"""Tile pieces of the masked matmul, shared by the attention and chunked kernels.

Decay products are direct products (docs/theory.md#one-ss-mask): no log, no division, so zero,
negative and tiny decays are exact. For queries t >= i0 and keys s < i0 the mask factors,

    a_n(t, s) = prod_{i0<=u<=t} a_u[n] * prod_{s<u<i0} a_u[n] = F[t, n] * G[s, n]

so that block is one matmul (C o F) (B o G)^T; a diagonal block forms its products directly.
``a`` is one sequence's decays: (T,) for the scalar family, (T, N) for the diagonal.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._jit import FASTMATH, JIT, at, decay

SUB = 16                  # steps per sub-chunk of the diagonal family's chunk_scores


@njit(**JIT)
def chunk_of_job(job, J, Q, T):
    """Job -> sequence b = job // J, chunk c = job % J, steps [t0, t1) = [c Q, min(T, c Q + Q))
    (also for key tiles and channel blocks: Q the tile or block width, T the length)."""
    b = job // J
    c = job % J
    t0 = c * Q
    return b, c, t0, min(T, t0 + Q)


@njit(fastmath=FASTMATH, **JIT)
def prefix_products(a, t0, t1, N, F):
    """F[i, n] = prod_{t0 <= u <= t0 + i} a_u[n] (inclusive), for i < t1 - t0."""
    for i in range(t1 - t0):
        a_u = decay(a, t0 + i)
        for n in range(N):
            prev = F[i - 1, n] if i > 0 else F.dtype.type(1)
            F[i, n] = prev * at(a_u, n)


@njit(fastmath=FASTMATH, **JIT)
def suffix_products(a, s0, s1, N, G):
    """G[j, n] = prod_{s0 + j < u < s1} a_u[n] (exclusive; the last row is 1)."""
    q = s1 - s0
    for n in range(N):
        G[q - 1, n] = 1
    for j in range(q - 2, -1, -1):
        a_u = decay(a, s0 + j + 1)
        for n in range(N):
            G[j, n] = G[j + 1, n] * at(a_u, n)


@njit(fastmath=FASTMATH, **JIT)
def modes_block(a, B, C, t0, t1, W, w0, r):
    """W[w0+i, w0+j] = sum_n C[t0+i, n] prod_{t0+j<u<=t0+i} a_u[n] B[t0+j, n] for j <= i < q,
    0 for i < j (q = t1 - t0; a (T, N)). Column j carries r[n] (N,) down the rows."""
    q = t1 - t0
    N = B.shape[1]
    zero = W.dtype.type(0)
    for j in range(q):
        Bj = B[t0 + j]
        for n in range(N):
            r[n] = Bj[n]
        for i in range(j):
            W[w0 + i, w0 + j] = zero
        for i in range(j, q):
            Ci = C[t0 + i]
            if i > j:
                a_u = a[t0 + i]
                for n in range(N):
                    # r[n] <- a_t[n] r[n]: the mask grows by one factor per row
                    r[n] *= a_u[n]
            acc = zero
            for n in range(N):
                acc += Ci[n] * r[n]
            W[w0 + i, w0 + j] = acc


@njit(fastmath=FASTMATH, **JIT)
def _chunk_scores_scalar(a, B, C, t0, t1, W, r, Cc, Kt, Bt, sub):
    q = t1 - t0
    Q = W.shape[0]
    if q < Q:
        Cc[q:, :] = 0
        Bt[:, q:] = 0
    Cc[:q, :] = C[t0:t1]
    Bt[:, :q] = B[t0:t1].T
    # W = C_c B_c^T (padded rows and columns are 0)
    np.dot(Cc, Bt, W)
    # zero above the diagonal, then W[i, j] *= L[i, j] = prod_{t0+j < u <= t0+i} a_u below it
    for i in range(Q):
        for j in range(i + 1, Q):
            W[i, j] = 0
    for j in range(q):
        mask = W.dtype.type(1)
        for i in range(j + 1, q):
            mask *= a[t0 + i]
            W[i, j] *= mask


@njit(fastmath=FASTMATH, **JIT)
def _chunk_scores_modes(a, B, C, t0, t1, W, r, Cc, Kt, Bt, sub):
    q = t1 - t0
    Q = W.shape[0]
    N = B.shape[1]
    if q < Q:
        W[q:, :] = 0
    for i0 in range(0, q, sub):
        i1 = min(q, i0 + sub)
        m = i1 - i0
        for i in range(i0, i1):
            W[i, i1:] = 0
        # the diagonal block W[I, I]: per-mode running products
        modes_block(a, B, C, t0 + i0, t0 + i1, W, i0, r)
        if i0 == 0:
            continue
        # queries: Cc[i, n] = C[t0+i0+i, n] prod_{t0+i0 <= u <= t0+i0+i} a_u[n]
        r[:] = 1
        for i in range(m):
            a_u = a[t0 + i0 + i]
            for n in range(N):
                r[n] *= a_u[n]
                Cc[i, n] = C[t0 + i0 + i, n] * r[n]
        # keys: Kt[j, n] = B[t0+j, n] prod_{t0+j < u < t0+i0} a_u[n] for j < i0
        r[:] = 1
        for j in range(i0 - 1, -1, -1):
            for n in range(N):
                Kt[j, n] = B[t0 + j, n] * r[n]
            a_u = a[t0 + j]
            for n in range(N):
                r[n] *= a_u[n]
        # W[I, :i0] = (C_I o F_I) (B o G)^T
        W[i0:i1, :i0] = np.dot(Cc[:m], Kt[:i0].T)


@njit(fastmath=FASTMATH, **JIT)
def intra_chunk(a, B, C, x, t0, t1, W, r, Cc, Kt, Bt, Xc, Y):
    """Y[:q] = (1SS(a_c) o C_c B_c^T) x_c for the steps [t0, t1), q = t1 - t0: the scores W (Q,
    Q), zero above the diagonal and in the padding, then one gemm with Xc (Q, P), x_c
    zero-padded. Scalar: one gemm of the padded Cc (Q, N), Bt (N, Q), then the mask. Diagonal:
    sub-chunks I of SUB steps, W[I, :i0] = (C_I o F_I) (B o G)^T (Cc, Kt (Q, N)) and the
    diagonal blocks by ``modes_block``. Numba compiles only the branch of ``a.ndim``."""
    q = t1 - t0
    if q < Xc.shape[0]:                     # a short chunk: zero padding
        Xc[q:, :] = 0
    Xc[:q, :] = x[t0:t1]
    if a.ndim == 1:
        _chunk_scores_scalar(a, B, C, t0, t1, W, r, Cc, Kt, Bt, SUB)
    else:
        _chunk_scores_modes(a, B, C, t0, t1, W, r, Cc, Kt, Bt, SUB)
    np.dot(W, Xc, Y)
