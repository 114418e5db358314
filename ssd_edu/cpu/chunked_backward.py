"""The backward of the block (chunked) algorithm as Numba kernels: scalar_chunked_vjp and
diagonal_chunked_vjp (``reference.backward.chunked_grads``, compiled).

Two kernels:

1. per sequence (in turn), the four steps' chunk-level quantities: for chunk c
   with delta_t = prod_{t0<=u<=t} a_u and gamma_s = prod_{s<u<t1} a_u,
       S_c = (B_c o gamma)^T x_c,   H_c = abar_c o H_{c-1} + S_c       (forward, steps 3 and 4)
       dHp_c = (C_c o delta)^T dy_c                                     (step 2 backward)
       g_{c-1} = abar_c o g_c + dHp_c,   g_{J-1} = dh                   (step 4 backward)
   storing H_{c-1} and g_c: O(J N P) per sequence.
2. per chunk (prange over sequences x chunks), the chunk's attention backward with initial state
   H_{c-1} and final-state gradient g_c, on a (q + 2)-step grid -1, t0, ..., t1-1, t1 whose mask
   entries (t, -1) are delta_t, (t1, s) are gamma_s and (t1, -1) is abar_c:
       dx = M^T dy + gamma_s g^T B_s,   dC = (L o D) B + delta_t H dy_t,
       dB = (L o D)^T C + gamma_s g x_s,  D = dy x^T,
       da_u = sum_{t >= u > s} L[t, u] W[t, s] L[u-1, s]   (W: the weights of the grid mask)
   The chunk products are ``np.dot`` (BLAS gemm; BLAS held to one thread inside the prange
   threads). The scalar family has one mask per chunk; the diagonal family one per mode.

The attention form's VJP is this with a single chunk (``attention_backward``). All products
are direct products of the decays (no division, no log): zero and negative decays are exact.
Extra memory: O(J N P) per sequence, O(Q^2 + Q (N + P)) per thread.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._backward import decays_per_mode, empty, finish, flatten_vjp
from ._jit import FASTMATH, JIT, single_threaded_blas
from ._tiles import chunk_of_job
from ..validation import check_chunk_size


@njit(fastmath=FASTMATH, **JIT)
def _chunk_links(x, a, B, C, dy, h0, dh, Q, Hp, G):
    """Kernel 1 for one sequence: Hp[c] = H_{c-1}, G[c] = g_c (J, N, P); returns dh_{-1}.
    x, dy (T, P); a, B, C (T, N) (decays per mode); h0, dh (N, P)."""
    T, N = B.shape
    P = x.shape[1]
    J = (T + Q - 1) // Q
    dt = x.dtype
    BG = np.zeros((N, Q), dtype=dt)              # (B_c o gamma)^T
    CF = np.zeros((N, Q), dtype=dt)              # (C_c o delta)^T
    Xc = np.zeros((Q, P), dtype=dt)
    Yc = np.zeros((Q, P), dtype=dt)
    S = np.empty((N, P), dtype=dt)
    F = np.empty(N, dtype=dt)
    abar = np.empty((J, N), dtype=dt)
    H = h0.copy()
    for c in range(J):
        t0 = c * Q
        q = min(Q, T - t0)
        if q < Q:
            BG[:, :] = 0
            CF[:, :] = 0
            Xc[:, :] = 0
            Yc[:, :] = 0
        Xc[:q] = x[t0:t0 + q]
        Yc[:q] = dy[t0:t0 + q]
        for n in range(N):
            # delta_t = prod_{t0<=u<=t} a_u;  gamma_s = prod_{s<u<t0+q} a_u
            F[n] = 1
            for i in range(q):
                F[n] *= a[t0 + i, n]
                CF[n, i] = C[t0 + i, n] * F[n]
            r = dt.type(1)
            for i in range(q - 1, -1, -1):
                BG[n, i] = B[t0 + i, n] * r
                r *= a[t0 + i, n]
            abar[c, n] = F[n]
        # S_c = (B_c o gamma)^T x_c;  dHp_c = (C_c o delta)^T dy_c (kept in G[c] for now)
        np.dot(BG, Xc, S)
        np.dot(CF, Yc, G[c])
        # H_c = abar_c o H_{c-1} + S_c
        Hp[c] = H
        for n in range(N):
            for p in range(P):
                H[n, p] = abar[c, n] * H[n, p] + S[n, p]
    # g_{c-1} = abar_c o g_c + dHp_c, g_{J-1} = dh: the state passing, in reverse
    g = dh.copy()
    for c in range(J - 1, -1, -1):
        for n in range(N):
            for p in range(P):
                dHp = G[c, n, p]
                G[c, n, p] = g[n, p]
                g[n, p] = abar[c, n] * g[n, p] + dHp
    return g


@njit(**JIT)
def _links_kernel(x, a, B, C, dy, h0, dh, Q, Hp, G, dh0):
    """Kernel 1 for every sequence, one after the other: O(T N P) gemm work, a small part of
    the backward's time, and a parallel loop here would double the compile time."""
    for s in range(x.shape[0]):
        dh0[s] = _chunk_links(x[s], a[s], B[s], C[s], dy[s], h0[s], dh[s], Q, Hp[s], G[s])


@njit(fastmath=FASTMATH, **JIT)
def _grid_mask(a, t0, q, n, L):
    """L[i, j] = prod_{j<v<=i} d_v on the grid with d = (1, a[t0, n], ..., a[t0+q-1, n], 1)."""
    for i in range(q + 2):
        d = a[t0 + i - 1, n] if 1 <= i <= q else a.dtype.type(1)
        for j in range(i):
            L[i, j] = d * L[i - 1, j]
        L[i, i] = 1
        for j in range(i + 1, q + 2):
            L[i, j] = 0


@njit(fastmath=FASTMATH, **JIT)
def _grid_mask_grad(a, t0, q, n, L, W, da):
    """da[i] = d/da[t0+i, n] of sum(W o L) on the grid (W lower triangular, (q+2, q+2)):
    da_u = sum_{s < u} Z[u, s] L[u-1, s] with Z[u] = W[u] + d_{u+1} Z[u+1] (the transposed mask)."""
    z = np.zeros(q + 2, dtype=W.dtype)
    for u in range(q + 1, 0, -1):
        d_next = a[t0 + u, n] if u + 1 <= q else W.dtype.type(1)
        acc = W.dtype.type(0)
        for s in range(u):
            z[s] = W[u, s] + d_next * z[s]
            acc += z[s] * L[u - 1, s]
        if u <= q:
            da[u - 1] = acc


@njit(fastmath=FASTMATH, **JIT)
def _scalar_chunk(x, a, B, C, dy, H, g, t0, q, dx, da, dB, dC):
    """Kernel 2, scalar family: chunk [t0, t0+q) of one sequence; writes its rows of dx (T, P),
    da (T,), dB, dC (T, N). H = H_{c-1}, g = g_c (N, P); a (T, N) (mode 0 is the decay)."""
    dt = x.dtype
    Xc, Yc, Bc, Cc = x[t0:t0 + q], dy[t0:t0 + q], B[t0:t0 + q], C[t0:t0 + q]
    L = np.empty((q + 2, q + 2), dtype=dt)
    _grid_mask(a, t0, q, 0, L)
    scores = np.dot(Cc, Bc.T)                    # C_t . B_s
    D = np.dot(Yc, Xc.T)                         # dy_t . x_s
    Mt = np.zeros((q, q), dtype=dt)              # M^T
    K = np.zeros((q, q), dtype=dt)               # L o D
    W = np.zeros((q + 2, q + 2), dtype=dt)       # weights of the grid mask
    for t in range(q):
        for s in range(t + 1):
            Mt[s, t] = L[t + 1, s + 1] * scores[t, s]
            K[t, s] = L[t + 1, s + 1] * D[t, s]
            W[t + 1, s + 1] = D[t, s] * scores[t, s]
    E = np.dot(Yc, H.T)                          # E[t] = H dy_t
    F = np.dot(Xc, g.T)                          # F[s] = g x_s
    # dx = M^T dy + gamma_s g^T B_s;  dC = (L o D) B + delta_t H dy_t;  dB = (L o D)^T C + gamma_s g x_s
    dXc = np.dot(Mt, Yc) + np.dot(Bc, g) * L[q + 1, 1:q + 1].copy().reshape(q, 1)
    dCc = np.dot(K, Bc)
    dBc = np.dot(K.T, Cc)
    corner = dt.type(0)
    for n in range(H.shape[0]):
        for p in range(H.shape[1]):
            corner += g[n, p] * H[n, p]
    W[q + 1, 0] = corner                         # abar_c = delta_{t1-1}: the grid's corner
    for t in range(q):
        delta, gamma = L[t + 1, 0], L[q + 1, t + 1]
        e = dt.type(0)
        f = dt.type(0)
        for n in range(Bc.shape[1]):
            dC[t0 + t, n] = dCc[t, n] + delta * E[t, n]
            dB[t0 + t, n] = dBc[t, n] + gamma * F[t, n]
            e += Cc[t, n] * E[t, n]
            f += Bc[t, n] * F[t, n]
        W[t + 1, 0] = e                          # the initial state: a key at -1
        W[q + 1, t + 1] = f                      # the final state: a query at t1
        dx[t0 + t] = dXc[t]
    _grid_mask_grad(a, t0, q, 0, L, W, da[t0:t0 + q])


@njit(fastmath=FASTMATH, **JIT)
def _diagonal_chunk(x, a, B, C, dy, H, g, t0, q, dx, da, dB, dC):
    """Kernel 2, diagonal family: chunk [t0, t0+q); one grid mask per mode n. da (T, N)."""
    dt = x.dtype
    N = B.shape[1]
    Xc, Yc, Bc, Cc = x[t0:t0 + q], dy[t0:t0 + q], B[t0:t0 + q], C[t0:t0 + q]
    L = np.empty((q + 2, q + 2), dtype=dt)
    W = np.zeros((q + 2, q + 2), dtype=dt)
    D = np.dot(Yc, Xc.T)                         # dy_t . x_s
    E = np.dot(Yc, H.T)                          # E[t, n] = H[n] . dy_t
    F = np.dot(Xc, g.T)                          # F[s, n] = g[n] . x_s
    M = np.zeros((q, q), dtype=dt)               # M = sum_n L_n o C[:, n] B[:, n]^T
    BG = np.empty((q, N), dtype=dt)              # B o gamma
    bn = np.empty(q, dtype=dt)
    dBn = np.empty(q, dtype=dt)
    dan = np.empty(q, dtype=dt)
    for n in range(N):
        _grid_mask(a, t0, q, n, L)
        for s in range(q):
            bn[s] = Bc[s, n]
            dBn[s] = 0
        for t in range(q):
            ct = Cc[t, n]
            acc = dt.type(0)
            for s in range(t + 1):
                l = L[t + 1, s + 1]
                k = l * D[t, s]                  # (L_n o D)[t, s]
                acc += k * bn[s]
                dBn[s] += k * ct
                M[t, s] += l * ct * bn[s]
                W[t + 1, s + 1] = D[t, s] * ct * bn[s]
            # dC[t, n] = sum_s (L_n o D)[t, s] B[s, n] + delta[t, n] (H[n] . dy_t)
            dC[t0 + t, n] = acc + L[t + 1, 0] * E[t, n]
            W[t + 1, 0] = ct * E[t, n]
        for s in range(q):
            # dB[s, n] = sum_t (L_n o D)[t, s] C[t, n] + gamma[s, n] (g[n] . x_s)
            gamma = L[q + 1, s + 1]
            dB[t0 + s, n] = dBn[s] + gamma * F[s, n]
            BG[s, n] = bn[s] * gamma
            W[q + 1, s + 1] = bn[s] * F[s, n]
        corner = dt.type(0)
        for p in range(H.shape[1]):
            corner += g[n, p] * H[n, p]
        W[q + 1, 0] = corner
        _grid_mask_grad(a, t0, q, n, L, W, dan)
        for t in range(q):
            da[t0 + t, n] = dan[t]
    # dx = M^T dy + (B o gamma) g
    dx[t0:t0 + q] = np.dot(M.T, Yc) + np.dot(BG, g)


@njit(parallel=True, **JIT)
def _chunks_kernel(x, a, B, C, dy, Hp, G, Q, diagonal, dx, da, dB, dC):
    """prange over (sequence, chunk): every chunk's backward is independent given Hp and G."""
    nb, T, P = x.shape
    J = (T + Q - 1) // Q
    for job in prange(nb * J):
        s, c, t0, t1 = chunk_of_job(job, J, Q, T)
        q = t1 - t0
        if diagonal:
            _diagonal_chunk(x[s], a[s], B[s], C[s], dy[s], Hp[s, c], G[s, c], t0, q, dx[s],
                            da[s], dB[s], dC[s])
        else:
            _scalar_chunk(x[s], a[s], B[s], C[s], dy[s], Hp[s, c], G[s, c], t0, q, dx[s],
                          da[s, :, 0], dB[s], dC[s])


def chunked_backward(family, x, a, B, C, dy, dh, initial_state, Q):
    """The launcher shared by the chunked and attention VJPs (Q = chunk length)."""
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    Q = min(Q, f.T)
    J = -(-f.T // Q)
    a_modes = decays_per_mode(f)
    Hp = np.empty((f.nb, J, f.N, f.P), dtype=f.dtype)
    G = np.empty((f.nb, J, f.N, f.P), dtype=f.dtype)
    dh0 = np.empty((f.nb, f.N, f.P), dtype=f.dtype)
    dx = np.empty((f.nb, f.T, f.P), dtype=f.dtype)
    da = np.empty((f.nb, f.T, f.N if family == "diagonal" else 1), dtype=f.dtype)
    dB, dC = (np.empty((f.nb, f.T, f.N), dtype=f.dtype) for _ in range(2))
    with single_threaded_blas():                     # np.dot inside prange threads
        _links_kernel(f.x, a_modes, f.B, f.C, fv.dy, f.h0, fv.dh, Q, Hp, G, dh0)
        _chunks_kernel(f.x, a_modes, f.B, f.C, fv.dy, Hp, G, Q, family == "diagonal",
                       dx, da, dB, dC)
    if family == "scalar":
        da = da[..., 0]
    return finish(fv, dx, da, dB, dC, dh0)


def scalar_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """VJP of the scalar chunked form, compiled. x, dy (..., T, P), a (..., T), B, C (..., T, N),
    dh, initial_state (..., N, P); float32/float64. Returns Grads.
    O(T Q (N + P) + T N P) time; O(J N P) extra memory per sequence, O(Q^2) per thread."""
    return chunked_backward("scalar", x, a, B, C, dy, dh, initial_state,
                            check_chunk_size(chunk_size))


def diagonal_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """VJP of the diagonal chunked form, compiled (one mask per mode in each chunk).
    O(T Q (N + P) + T Q N) time; O(J N P) extra memory per sequence, O(Q^2) per thread."""
    return chunked_backward("diagonal", x, a, B, C, dy, dh, initial_state,
                            check_chunk_size(chunk_size))
