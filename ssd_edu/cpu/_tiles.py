"""Tile pieces of the masked matmul, shared by the attention and chunked kernels.

All decay products here are direct products over the steps they span (THEORY.md 2.1): no log,
no division, so zero, negative and tiny decays are exact. For a query tile I = [t0, t1) and an
earlier key tile K = [s0, s1) the 1-SS mask factors through the steps between them,

    a_n(t, s) = prod_{t0<=u<=t} a_u[n] * prod_{s1<=u<t0} a_u[n] * prod_{s<u<s1} a_u[n]
              =        F[t, n]         *        mid[n]          *      G[s, n]

so the masked block is one matmul of rescaled queries and keys: (C o F o mid) (B o G)^T.
Inside the diagonal tile (s, t in the same tile) the products are formed directly, column by
column. ``a`` is one sequence's decays: (T,) for the scalar family, (T, N) for the diagonal.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from ._jit import FASTMATH, JIT, at, decay


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


def diagonal_block(a, B, C, t0, t1, W, r, Bt):
    """W[i, j] = sum_n C[t0+i, n] a_n(t0+i, t0+j) B[t0+j, n] for j <= i, 0 above (q x q).

    Workspaces: r (N,), Bt (N, >= q). Compiled per family (see the two bodies below).
    """
    raise TypeError("diagonal_block runs inside compiled kernels only")


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


def _diagonal_block_modes(a, B, C, t0, t1, W, r, Bt):
    # diagonal family: the per-mode running products of modes_block
    modes_block(a, B, C, t0, t1, W, 0, r)


def _diagonal_block_scalar(a, B, C, t0, t1, W, r, Bt):
    # scalar family: one mask for all modes, W = 1SS(a_c) o (C_c B_c^T): a matmul, then
    # the mask L[i, j] = prod_{t0+j < u <= t0+i} a_u (scalar_mask)
    q = t1 - t0
    N = B.shape[1]
    for j in range(q):
        for n in range(N):
            Bt[n, j] = B[t0 + j, n]
    for i in range(q):
        Wi = W[i, :q]
        Wi[:] = 0
        # W[i, j] = C_i . B_j for j <= i
        combine_rows(W[i, :i + 1], C[t0 + i], Bt, 0, 0, N)
    scalar_mask(a, t0, q, W)


@overload(diagonal_block, jit_options=dict(fastmath=FASTMATH, error_model="numpy"))
def _diagonal_block_ol(a, B, C, t0, t1, W, r, Bt):
    return _diagonal_block_scalar if a.ndim == 1 else _diagonal_block_modes


def chunk_scores(a, B, C, t0, t1, W, r, Cc, Kt, Bt, sub):
    """The chunked kernel's intra-chunk matrix: W[:q, :q] = 1SS(a_c) o C_c B_c^T, zero above
    the diagonal and in the padding (rows and columns >= q), q = t1 - t0, W (Q, Q).

    Scalar family: the scores C_c B_c^T are one gemm of the zero-padded copies Cc (Q, N) and
    Bt (N, Q), then masked in place (``scalar_mask``). Diagonal family: sub-chunks of ``sub``
    steps; for query sub-chunk I = [i0, i1) and keys j < i0 the mask factors through i0,
    W[I, :i0] = (C_I o F_I) (B o G)^T with F_I[i, n] = prod_{i0<=u<=i} a_u[n] (queries, Cc)
    and G[j, n] = prod_{j<u<i0} a_u[n] (keys, Kt (Q, N)), both direct running products, one
    gemm; the sub x sub diagonal blocks by ``modes_block``. Workspace r (N,). Compiled per
    family."""
    raise TypeError("chunk_scores runs inside compiled kernels only")


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


@njit(fastmath=FASTMATH, inline="always", **JIT)
def axpy4(out, c0, c1, c2, c3, v0, v1, v2, v3):
    """out += c0 v0 + c1 v1 + c2 v2 + c3 v3: four rows per pass, so ``out`` is loaded and
    stored once per four multiply-adds (the loops below are otherwise store-bound)."""
    for p in range(out.shape[0]):
        out[p] += c0 * v0[p] + c1 * v1[p] + c2 * v2[p] + c3 * v3[p]


@njit(fastmath=FASTMATH, inline="always", **JIT)
def axpy(out, c, v):
    """out += c v."""
    for p in range(out.shape[0]):
        out[p] += c * v[p]


@njit(fastmath=FASTMATH, **JIT)
def combine_rows(out, coef, rows, r0, c0, k):
    """out += sum_{j < k} coef[j] rows[r0 + j, c0:c0 + m] with m = len(out): (k,) x (k, m).

    ``rows`` is a whole C-contiguous 2-D array (its row slices stay contiguous and vectorize).
    """
    m = out.shape[0]
    c1 = c0 + m
    j = 0
    while j + 3 < k:
        axpy4(out, coef[j], coef[j + 1], coef[j + 2], coef[j + 3], rows[r0 + j, c0:c1],
              rows[r0 + j + 1, c0:c1], rows[r0 + j + 2, c0:c1], rows[r0 + j + 3, c0:c1])
        j += 4
    while j < k:
        axpy(out, coef[j], rows[r0 + j, c0:c1])
        j += 1


@njit(fastmath=FASTMATH, **JIT)
def scores(Cq, Bt, s0, q, k, W):
    """W[i, j] = sum_n Cq[i, n] Bt[n, s0 + j] for i < q, j < k (Cq (q, N), Bt (N, T): keys
    stored transposed, so a row of W is a combination of contiguous rows of Bt)."""
    N = Cq.shape[1]
    for i in range(q):
        Wi = W[i, :k]
        Wi[:] = 0
        combine_rows(Wi, Cq[i], Bt, 0, s0, N)


@njit(fastmath=FASTMATH, **JIT)
def apply(W, q, k, lower, x, s0, p0, p1, y, t0):
    """y[t0+i, p] += sum_j W[i, j] x[s0+j, p] for p in [p0, p1); j <= i only if ``lower``."""
    for i in range(q):
        combine_rows(y[t0 + i, p0:p1], W[i], x, s0, p0, min(i + 1, k) if lower else k)
