"""Masked attention as a fused, tiled Numba kernel: scalar_attention and diagonal_attention.

    y = M x + (C_t o delta_t)^T h_{-1},   M = 1SS(a) o C B^T  (scalar)
                                          M = sum_n 1SS(a[:, n]) o C[:, n] B[:, n]^T  (diagonal)

The T x T mask and score matrices are never formed. Time is cut into tiles of ``TILE`` steps;
for a query tile I and each earlier key tile J the mask factors through direct products
(``_tiles``: F inside I, mid between the tiles, G inside J), so the block of M is the matmul
(C_I o F o mid)(B_J o G)^T, and the diagonal tile is built from running products. For the
diagonal family the N per-mode masks fold into the rescaled queries and keys in the same way:
a width-N matmul per tile pair, not N separate rank-1 products. A first pass stores the
rescaled keys (B o G)^T once, (S, N, T), and each tile's decay product, (S, T / TILE, N).
Extra memory: those O(T N) per sequence (the size of B), plus O(TILE^2 + TILE N) per thread
and the (S, N, P) state; never O(T^2).

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


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _key_tiles_kernel(a, B, Q, Bg, tot):
    """Per key tile J = [s0, s1): Bg[n, s] = B[s, n] G[s, n] with G[s, n] = prod_{s<u<s1} a_u[n]
    (keys rescaled to the tile's end, stored transposed), and tot[J, n] = prod_{u in J} a_u[n]."""
    S, T, N = B.shape
    J = (T + Q - 1) // Q
    for job in prange(S * J):
        s = job // J
        s0 = (job % J) * Q
        s1 = min(T, s0 + Q)
        G = np.empty((Q, N), dtype=B.dtype)
        suffix_products(a[s], s0, s1, N, G)
        for j in range(s1 - s0):
            for n in range(N):
                Bg[s, n, s0 + j] = B[s, s0 + j, n] * G[j, n]
        a_first = decay(a[s], s0)
        for n in range(N):
            tot[s, job % J, n] = G[0, n] * at(a_first, n)


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _attention_kernel(x, a, B, C, h0, Bg, tot, y, Q):
    """y (S, T, P) = masked attention of every sequence, plus the initial-state term."""
    S, T, P = x.shape
    N = B.shape[2]
    J = (T + Q - 1) // Q
    for job in prange(S * J):
        s = job // J
        k = job % J
        # zig-zag order: early (cheap) and late (costly) query tiles alternate across threads
        tile = k // 2 if k % 2 == 0 else J - 1 - k // 2
        t0 = tile * Q
        t1 = min(T, t0 + Q)
        q = t1 - t0
        a_s, B_s, C_s, x_s, y_s = a[s], B[s], C[s], x[s], y[s]
        F = np.empty((Q, N), dtype=x.dtype)
        Cq = np.empty((Q, N), dtype=x.dtype)
        Cm = np.empty((Q, N), dtype=x.dtype)
        W = np.empty((Q, Q), dtype=x.dtype)
        Bt = np.empty((N, Q), dtype=x.dtype)
        mid = np.ones(N, dtype=x.dtype)
        # the diagonal tile: y_I = (1SS o C B^T)_II x_I
        diagonal_block(a_s, B_s, C_s, t0, t1, W, mid, Bt)
        apply(W, q, q, True, x_s, t0, 0, P, y_s, t0)
        # queries rescaled by F[i, n] = prod_{t0 <= u <= t} a_u[n]
        prefix_products(a_s, t0, t1, N, F)
        for i in range(q):
            for n in range(N):
                Cq[i, n] = C_s[t0 + i, n] * F[i, n]
        mid[:] = 1
        for key in range(tile - 1, -1, -1):
            # mid[n] = prod_{s1 <= u < t0} a_u[n]: the steps between key tile and query tile
            for i in range(q):
                for n in range(N):
                    Cm[i, n] = Cq[i, n] * mid[n]
            # y_I += ((C o F o mid) (B o G)^T) x_J
            scores(Cm, Bg[s], key * Q, q, Q, W)
            apply(W, q, Q, False, x_s, key * Q, 0, P, y_s, t0)
            for n in range(N):
                mid[n] *= tot[s, key, n]
        # initial state: y_t += (C_t o delta_t)^T h_{-1},  delta_t[n] = mid[n] F[t, n]
        for i in range(q):
            for n in range(N):
                Cm[i, n] = Cq[i, n] * mid[n]
            combine_rows(y_s[t0 + i], Cm[i], h0[s], 0, 0, N)


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _final_state_kernel(x, a, B, h0, h, width):
    """h_{T-1}[n, p] = sum_s gamma_s[n] B[s, n] x[s, p] + delta_{T-1}[n] h_{-1}[n, p].

    gamma_s[n] = prod_{u > s} a_u[n] is carried backwards by one product per step.
    """
    S, T, P = x.shape
    N = B.shape[2]
    blocks = (P + width - 1) // width
    for job in prange(S * blocks):
        s = job // blocks
        p0 = (job % blocks) * width
        p1 = min(P, p0 + width)
        g = np.ones(N, dtype=x.dtype)
        hs = h[s]
        for t in range(T - 1, -1, -1):
            x_t = x[s, t, p0:p1]
            for n in range(N):
                c = g[n] * B[s, t, n]
                row = hs[n, p0:p1]
                for p in range(p1 - p0):
                    row[p] += c * x_t[p]
            a_t = decay(a[s], t)
            for n in range(N):
                g[n] *= at(a_t, n)
        for n in range(N):
            for p in range(p0, p1):
                hs[n, p] += g[n] * h0[s, n, p]


def _attention(family, x, a, B, C, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    h0 = np.ascontiguousarray(np.swapaxes(f.hT, 1, 2))          # (S, N, P)
    y = np.zeros((f.S, f.T, f.P), dtype=f.dtype)
    if f.T == 0 or f.S == 0:
        return unflatten(f, y, f.hT)
    J = -(-f.T // TILE)
    Bg = np.empty((f.S, f.N, f.T), dtype=f.dtype)                 # O(T N) per sequence
    tot = np.empty((f.S, J, f.N), dtype=f.dtype)
    _key_tiles_kernel(f.a, f.B, TILE, Bg, tot)
    _attention_kernel(f.x, f.a, f.B, f.C, h0, Bg, tot, y, TILE)
    h = np.zeros_like(h0)
    _final_state_kernel(f.x, f.a, f.B, h0, h, channel_blocks(f.S, f.P))
    return unflatten(f, y, np.swapaxes(h, 1, 2))


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
