"""Masked attention as a fused, tiled Numba kernel: scalar_attention and diagonal_attention.

    y = M x + (C_t o delta_t)^T h_{-1},   M = sum_n 1SS(a[:, n]) o C[:, n] B[:, n]^T

never formed. For a query tile I = [t0, t0 + TILE) every earlier key s factors through t0:
y_I += ((C_I o F) K^T) x_K, F[t] = prod_{t0<=u<=t} a_u, K[s] = B_s o prod_{s<u<t0} a_u, two
gemms per block of KEY_BLOCK key tiles; the diagonal tile is the chunked intra-chunk step.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ._jit import FASTMATH, JIT, at, decay, single_threaded_blas, threads_for
from ._launch import flatten
from ..validation import check_quadratic_work, unflatten
from ._tiles import chunk_of_job, intra_chunk, prefix_products, suffix_products

TILE = 64                 # steps per tile
KEY_BLOCK = 16            # key tiles per block of the off-diagonal gemms


@njit(**JIT)
def tile_workspaces(T_tile, N, P, like):
    """Per-job workspaces of the attention kernel (dtype of ``like``; the bench counts them)."""
    dt = like.dtype
    return (np.zeros((T_tile, T_tile), dtype=dt),           # W, the diagonal tile's scores
            np.zeros((T_tile, N), dtype=dt),                # C (scalar) / rescaled queries
            np.zeros((T_tile, N), dtype=dt),                # rescaled keys (diagonal)
            np.zeros((N, T_tile), dtype=dt),                # B^T (scalar)
            np.zeros((T_tile, P), dtype=dt),                # x of the tile, zero-padded
            np.zeros((T_tile, P), dtype=dt),                # y of the diagonal tile
            np.zeros(N, dtype=dt),                          # a running product
            np.zeros((T_tile, N), dtype=dt),                # Cq = C o F
            np.zeros((KEY_BLOCK * T_tile, N), dtype=dt),    # keys rescaled to t0
            np.ones(N, dtype=dt))                           # mid


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _key_tiles_kernel(a, B, T_tile, Bg, tot):
    """Per key tile k = [s0, s1): Bg[s, n] = B[s, n] prod_{s<u<s1} a_u[n] (keys rescaled to the
    tile's end) and tot[k, n] = prod_{u in tile k} a_u[n]."""
    nb, T, N = B.shape
    tiles = (T + T_tile - 1) // T_tile
    for job in prange(nb * tiles):
        b, k, s0, s1 = chunk_of_job(job, tiles, T_tile, T)
        G = np.empty((T_tile, N), dtype=B.dtype)
        suffix_products(a[b], s0, s1, N, G)
        for j in range(s1 - s0):
            for n in range(N):
                Bg[b, s0 + j, n] = B[b, s0 + j, n] * G[j, n]
        a_first = decay(a[b], s0)
        for n in range(N):
            tot[b, k, n] = G[0, n] * at(a_first, n)


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _attention_kernel(x, a, B, C, h0, Bg, tot, y, T_tile):
    """y (nb, T, P) = masked attention of every sequence, plus the initial-state term."""
    nb, T, P = x.shape
    N = B.shape[2]
    tiles = (T + T_tile - 1) // T_tile
    for job in prange(nb * tiles):
        b = job // tiles
        k = job % tiles
        # zig-zag order: early (cheap) and late (costly) query tiles alternate across threads
        tile = k // 2 if k % 2 == 0 else tiles - 1 - k // 2
        t0 = tile * T_tile
        t1 = min(T, t0 + T_tile)
        q = t1 - t0
        a_b, x_b, y_b = a[b], x[b], y[b]
        W, Cc, Kt, Bt, Xc, Y, r, Cq, K, mid = tile_workspaces(T_tile, N, P, x)
        # the diagonal tile: y_I = (1SS o C B^T)_II x_I
        intra_chunk(a_b, B[b], C[b], x_b, t0, t1, W, r, Cc, Kt, Bt, Xc, Y)
        y_b[t0:t1] = Y[:q]
        # queries rescaled: Cq[i, n] = C[t0+i, n] F[i, n],  F[i, n] = prod_{t0<=u<=t0+i} a_u[n]
        prefix_products(a_b, t0, t1, N, Cq)
        for i in range(q):
            for n in range(N):
                Cq[i, n] *= C[b, t0 + i, n]
        # earlier key tiles in blocks of KEY_BLOCK, nearest first; mid[n] = prod_{s1<=u<t0}
        # a_u[n] carries the steps between the current key tile's end s1 and t0
        mid[:] = 1
        key1 = tile
        while key1 > 0:
            key0 = max(0, key1 - KEY_BLOCK)
            s0 = key0 * T_tile
            for kt in range(key1 - 1, key0 - 1, -1):
                # keys rescaled to t0: K[s, n] = B[s, n] prod_{s<u<t0} a_u[n] = Bg[s, n] mid[n]
                for j in range(kt * T_tile, (kt + 1) * T_tile):
                    for n in range(N):
                        K[j - s0, n] = Bg[b, j, n] * mid[n]
                for n in range(N):
                    mid[n] *= tot[b, kt, n]
            m = key1 * T_tile - s0
            # y_I += ((C o F) K^T) x_K: two gemms
            Wk = np.dot(Cq[:q], K[:m].T)
            Yk = np.dot(Wk, x_b[s0:s0 + m])
            for i in range(q):
                for p in range(P):
                    y_b[t0 + i, p] += Yk[i, p]
            key1 = key0
        # initial state: y_t += (C_t o delta_t)^T h_{-1},  delta_t[n] = mid[n] F[t, n]
        for i in range(q):
            for n in range(N):
                Cq[i, n] *= mid[n]
        Yk = np.dot(Cq[:q], h0[b])
        for i in range(q):
            for p in range(P):
                y_b[t0 + i, p] += Yk[i, p]


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _final_state_kernel(x, a, B, h0, h):
    """h_{T-1} = (B o gamma)^T x + diag(delta_{T-1}) h_{-1}, gamma_s[n] = prod_{u > s} a_u[n]
    carried backwards (at the end it is delta_{T-1})."""
    nb, T, P = x.shape
    N = B.shape[2]
    for b in prange(nb):
        K = np.empty((T, N), dtype=x.dtype)
        g = np.ones(N, dtype=x.dtype)
        for s in range(T - 1, -1, -1):
            for n in range(N):
                K[s, n] = B[b, s, n] * g[n]
            a_s = decay(a[b], s)
            for n in range(N):
                g[n] *= at(a_s, n)
        np.dot(K.T, x[b], h[b])
        for n in range(N):
            for p in range(P):
                h[b, n, p] += g[n] * h0[b, n, p]


def _attention(family, x, a, B, C, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    check_quadratic_work(f"numba {family}_attention", family, f.nb, f.T, f.T, f.N, f.P)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    if f.T == 0 or f.nb == 0:
        return unflatten(f, y, f.h0)
    tiles = -(-f.T // TILE)
    Bg = np.empty((f.nb, f.T, f.N), dtype=f.dtype)                # O(T N) per sequence
    tot = np.empty((f.nb, tiles, f.N), dtype=f.dtype)
    h = np.zeros_like(f.h0)
    # a small call (T^2 (N + P) / 2 per sequence) on one thread
    with single_threaded_blas(), threads_for(f.nb * f.T * f.T * (f.N + f.P) // 2):
        _key_tiles_kernel(f.a, f.B, TILE, Bg, tot)
        _attention_kernel(f.x, f.a, f.B, f.C, f.h0, Bg, tot, y, TILE)
        _final_state_kernel(f.x, f.a, f.B, f.h0, h)
    return unflatten(f, y, h)


@keyword_only
def scalar_attention(x, a, B, C, *, initial_state=None):
    """y = (1SS(a) o C B^T) x + (the h_{-1} term), fused and tiled: O(T^2 (N + P)) time, O(T N)
    extra memory. x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and h_{T-1} (..., N, P). Plain twin: ssd_edu.cpu.plain."""
    return _attention("scalar", x, a, B, C, initial_state)


@keyword_only
def diagonal_attention(x, a, B, C, *, initial_state=None):
    """y = sum_n diag(C[:, n]) 1SS(a[:, n]) diag(B[:, n]) x + (the h_{-1} term), fused and
    tiled; a (..., T, N), else as scalar_attention."""
    return _attention("diagonal", x, a, B, C, initial_state)
