"""Masked attention as a fused, tiled Numba kernel: scalar_attention and diagonal_attention.

    y = M x + (C_t o delta_t)^T h_{-1},   M = 1SS(a) o C B^T  (scalar)
                                          M = sum_n 1SS(a[:, n]) o C[:, n] B[:, n]^T  (diagonal)

The T x T mask and score matrices are never formed. Time is cut into tiles of ``TILE`` steps;
for a query tile I and each earlier key tile K the mask factors through direct products
(``_tiles``: F inside I, mid between the tiles, G inside K), so the block of M is the matmul
(C_I o F o mid)(B_K o G)^T, and the diagonal tile is built from running products. For the
diagonal family the N per-mode masks fold into the rescaled queries and keys in the same way:
a width-N matmul per tile pair, not N separate rank-1 products. A first pass stores the
rescaled keys (B o G)^T once, (nb, N, T), and each tile's decay product, (nb, T / TILE, N).
Extra memory: those O(T N) per sequence (the size of B), plus O(TILE^2 + TILE N) per thread
and the (nb, N, P) state; never O(T^2).

Flops, counted on the lower triangle: T (T + 1) (N + P) (T (T + 1) / 2 pairs (t, s), each a
score C_t . B_s of 2N flops and a term M[t, s] x_s of 2P), plus 4 T N P for the state terms.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._jit import FASTMATH, JIT, at, decay
from ._launch import channel_blocks, flatten, unflatten
from ._tiles import (apply, combine_rows, diagonal_block, prefix_products, scores,
                     suffix_products)

#: Steps per tile of the fused masked matmul.
TILE = 64


@njit(**JIT)
def tile_workspaces(T_tile, N, like):
    """Per-job workspaces of the attention kernel (dtype of ``like``): F, Cq, Cm (T_tile, N),
    W (T_tile, T_tile), Bt (N, T_tile), mid (N,) (the bench counts them from here)."""
    dt = like.dtype
    return (np.empty((T_tile, N), dtype=dt),      # F, prefix products in the query tile
            np.empty((T_tile, N), dtype=dt),      # C o F
            np.empty((T_tile, N), dtype=dt),      # C o F o mid
            np.empty((T_tile, T_tile), dtype=dt),  # a block of the masked scores
            np.empty((N, T_tile), dtype=dt),      # B^T of the diagonal tile
            np.ones(N, dtype=dt))                 # mid, products between the tiles


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _key_tiles_kernel(a, B, T_tile, Bg, tot):
    """Per key tile [s0, s1): Bg[n, s] = B[s, n] G[s, n] with G[s, n] = prod_{s<u<s1} a_u[n]
    (keys rescaled to the tile's end, stored transposed), and tot[k, n] = prod_{u in tile k}
    a_u[n] for key tile k."""
    nb, T, N = B.shape
    tiles = (T + T_tile - 1) // T_tile
    for job in prange(nb * tiles):
        b = job // tiles
        k = job % tiles
        s0 = k * T_tile
        s1 = min(T, s0 + T_tile)
        G = np.empty((T_tile, N), dtype=B.dtype)
        suffix_products(a[b], s0, s1, N, G)
        for j in range(s1 - s0):
            for n in range(N):
                Bg[b, n, s0 + j] = B[b, s0 + j, n] * G[j, n]
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
        a_b, B_b, C_b, x_b, y_b = a[b], B[b], C[b], x[b], y[b]
        F, Cq, Cm, W, Bt, mid = tile_workspaces(T_tile, N, x)
        # the diagonal tile: y_I = (1SS o C B^T)_II x_I
        diagonal_block(a_b, B_b, C_b, t0, t1, W, mid, Bt)
        apply(W, q, q, True, x_b, t0, 0, P, y_b, t0)
        # queries rescaled by F[i, n] = prod_{t0 <= u <= t} a_u[n]
        prefix_products(a_b, t0, t1, N, F)
        for i in range(q):
            for n in range(N):
                Cq[i, n] = C_b[t0 + i, n] * F[i, n]
        mid[:] = 1
        for key in range(tile - 1, -1, -1):
            # mid[n] = prod_{s1 <= u < t0} a_u[n]: the steps between key tile and query tile
            for i in range(q):
                for n in range(N):
                    Cm[i, n] = Cq[i, n] * mid[n]
            # y_I += ((C o F o mid) (B o G)^T) x_K
            scores(Cm, Bg[b], key * T_tile, q, T_tile, W)
            apply(W, q, T_tile, False, x_b, key * T_tile, 0, P, y_b, t0)
            for n in range(N):
                mid[n] *= tot[b, key, n]
        # initial state: y_t += (C_t o delta_t)^T h_{-1},  delta_t[n] = mid[n] F[t, n]
        for i in range(q):
            for n in range(N):
                Cm[i, n] = Cq[i, n] * mid[n]
            combine_rows(y_b[t0 + i], Cm[i], h0[b], 0, 0, N)


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _final_state_kernel(x, a, B, h0, h, width):
    """h_{T-1}[n, p] = sum_s gamma_s[n] B[s, n] x[s, p] + delta_{T-1}[n] h_{-1}[n, p].

    gamma_s[n] = prod_{u > s} a_u[n] is carried backwards by one product per step.
    """
    nb, T, P = x.shape
    N = B.shape[2]
    blocks = (P + width - 1) // width
    for job in prange(nb * blocks):
        b = job // blocks
        p0 = (job % blocks) * width
        p1 = min(P, p0 + width)
        g = np.ones(N, dtype=x.dtype)
        h_b = h[b]
        for s in range(T - 1, -1, -1):
            x_s = x[b, s, p0:p1]
            for n in range(N):
                c = g[n] * B[b, s, n]
                row = h_b[n, p0:p1]
                for p in range(p1 - p0):
                    row[p] += c * x_s[p]
            a_s = decay(a[b], s)
            for n in range(N):
                g[n] *= at(a_s, n)
        for n in range(N):
            for p in range(p0, p1):
                h_b[n, p] += g[n] * h0[b, n, p]


def _attention(family, x, a, B, C, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    if f.T == 0 or f.nb == 0:
        return unflatten(f, y, f.h0)
    tiles = -(-f.T // TILE)
    Bg = np.empty((f.nb, f.N, f.T), dtype=f.dtype)                # O(T N) per sequence
    tot = np.empty((f.nb, tiles, f.N), dtype=f.dtype)
    _key_tiles_kernel(f.a, f.B, TILE, Bg, tot)
    _attention_kernel(f.x, f.a, f.B, f.C, f.h0, Bg, tot, y, TILE)
    h = np.zeros_like(f.h0)
    _final_state_kernel(f.x, f.a, f.B, f.h0, h, channel_blocks(f.nb, f.P))
    return unflatten(f, y, h)


def scalar_attention(x, a, B, C, initial_state=None):
    """Masked attention y = (1SS(a) o C B^T) x (+ the h_{-1} term), fused and tiled.

    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T^2 (N + P)) time; extra memory O(T N) for the rescaled keys plus O(TILE^2 + TILE N)
    per thread (no T x T matrix).
    Returns y (..., T, P) and h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1} (..., N, P).
    """
    return _attention("scalar", x, a, B, C, initial_state)


def diagonal_attention(x, a, B, C, initial_state=None):
    """The sum of N 1-SS masked attentions, one per mode, fused and tiled.

    y = sum_n diag(C[:, n]) 1SS(a[:, n]) diag(B[:, n]) x (+ the h_{-1} term).
    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T^2 (N + P)) time; extra memory O(T N) for the rescaled keys plus O(TILE^2 + TILE N)
    per thread (no (N, T, T) masks).
    Returns y (..., T, P) and the final state (..., N, P).
    """
    return _attention("diagonal", x, a, B, C, initial_state)
