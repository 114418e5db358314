"""Tile pieces of the masked matmul, shared by the attention and chunked kernels.

All decay products here are direct products over the steps they span (docs/theory.md#one-ss-mask):
no log, no division, so zero, negative and tiny decays are exact. For queries t >= i0 and keys s <
i0 the 1-SS mask factors through the step i0 between them,

    a_n(t, s) = prod_{s<u<=t} a_u[n] = prod_{i0<=u<=t} a_u[n] * prod_{s<u<i0} a_u[n]
              =            F[t, n]               *          G[s, n]

so that block is one matmul of rescaled queries and keys, (C o F) (B o G)^T. Inside a
diagonal block (s, t on the same side) the products are formed directly: for the scalar
family one mask after a gemm (``scalar_mask``), for the diagonal family per mode, column by
column (``modes_block``). ``intra_chunk`` is the masked matmul of one chunk (or tile):
``chunk_scores`` builds W = 1SS(a_c) o C_c B_c^T, one gemm applies it to x_c. ``a`` is one
sequence's decays: (T,) for the scalar family, (T, N) for the diagonal.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from ._jit import FASTMATH, JIT, at, decay

#: Steps per sub-chunk of the diagonal family's intra-chunk matmuls (``chunk_scores``).
SUB = 16


@njit(**JIT)
def chunk_of_job(job, J, Q, T):
    """Job ``job`` of a kernel parallel over chunks: sequence b = job // J, chunk c = job % J,
    its steps [t0, t1) with t0 = c Q, t1 = min(T, t0 + Q). (Key tiles and channel blocks
    are split the same way: Q the tile length or block width, T the steps or channels.)"""
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


@njit(fastmath=FASTMATH, inline="always", **JIT)
def scalar_mask(a, t0, q, W):
    """W[i, j] *= L[i, j] = prod_{t0+j < u <= t0+i} a_u for j < i < q (scalar family): one
    product per step down column j; the diagonal (L = 1) and the entries above stay as they are."""
    for j in range(q):
        mask = W.dtype.type(1)
        for i in range(j + 1, q):
            mask *= a[t0 + i]
            W[i, j] *= mask


@njit(fastmath=FASTMATH, **JIT)
def modes_block(a, B, C, t0, t1, W, w0, r):
    """W[w0+i, w0+j] = sum_n C[t0+i, n] prod_{t0+j<u<=t0+i} a_u[n] B[t0+j, n] for j <= i < q,
    0 for i < j (q = t1 - t0; diagonal family, a (T, N); workspace r (N,)).

    Column j carries r[n] = B[t0+j, n] prod_{t0+j < u <= t0+i} a_u[n] down the rows, one
    product per step: O(q^2 N), no division."""
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


def chunk_scores(a, B, C, t0, t1, W, r, Cc, Kt, Bt, sub):
    """The chunked kernel's intra-chunk matrix: W[:q, :q] = 1SS(a_c) o C_c B_c^T, zero above
    the diagonal and in the padding (rows and columns >= q), q = t1 - t0, W (Q, Q).

    Scalar family: the scores C_c B_c^T are one gemm of the zero-padded copies Cc (Q, N) and
    Bt (N, Q), then masked in place (``scalar_mask``). Diagonal family: sub-chunks of ``sub``
    steps; for query sub-chunk I = [i0, i1) and keys j < i0 the mask factors through i0,
    W[I, :i0] = (C_I o F_I) (B o G)^T with F_I[i, n] = prod_{i0<=u<=i} a_u[n] (queries, Cc)
    and G[j, n] = prod_{j<u<i0} a_u[n] (keys, Kt (Q, N)), both direct running products, one
    gemm; the sub x sub diagonal blocks by ``modes_block``. Workspace r (N,). Compiled per
    family (the overload below); this body runs the same code interpreted
    (NUMBA_DISABLE_JIT=1)."""
    chunk = _chunk_scores_scalar if np.ndim(a) == 1 else _chunk_scores_modes
    chunk(a, B, C, t0, t1, W, r, Cc, Kt, Bt, sub)


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
    # zero above the diagonal, then W[i, j] *= L[i, j] on and below it
    for i in range(Q):
        for j in range(i + 1, Q):
            W[i, j] = 0
    scalar_mask(a, t0, q, W)


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


@overload(chunk_scores, jit_options=dict(fastmath=FASTMATH, error_model="numpy"))
def _chunk_scores_ol(a, B, C, t0, t1, W, r, Cc, Kt, Bt, sub):
    return _chunk_scores_scalar if a.ndim == 1 else _chunk_scores_modes


@njit(fastmath=FASTMATH, **JIT)
def intra_chunk(a, B, C, x, t0, t1, W, r, Cc, Kt, Bt, Xc, Y):
    """Y[:q] = (1SS(a_c) o C_c B_c^T) x_c for the steps [t0, t1) (q = t1 - t0 <= Q): the
    scores of ``chunk_scores`` (sub-chunks of SUB), then one gemm with the zero-padded copy
    Xc (Q, P) of x_c. Workspaces W (Q, Q), r (N,), Cc, Kt (Q, N), Bt (N, Q), Y (Q, P)."""
    q = t1 - t0
    if q < Xc.shape[0]:                     # a short chunk: zero padding
        Xc[q:, :] = 0
    Xc[:q, :] = x[t0:t1]
    chunk_scores(a, B, C, t0, t1, W, r, Cc, Kt, Bt, SUB)
    np.dot(W, Xc, Y)
