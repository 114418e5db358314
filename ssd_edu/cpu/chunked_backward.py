"""The chunked VJP as Numba kernels: the four steps of ``cpu.chunked`` run backward (4, 3, 2, 1).

In chunk c = [t0, t1) (local t, s < q): delta_t = a_{t0} ... a_t, gamma_s = a_{s+1} ... a_{t1-1},
abar_c = delta_{q-1}, L_n[t, s] = a_{s+1} ... a_t (mode n), D = dy_c x_c^T, g_c = dloss/dH_c.
  forward recomputed   chunk_states (S_c, abar_c) and state_passing (H_prev[c] = H_{c-1})
  4. chunk_output_vjp  dH_prev_c = (C_c o delta)^T dy_c;  dC_t += delta_t o (H_{c-1} dy_t)
  3. state_passing_vjp g_{c-1} = abar_c o g_c + dH_prev_c, g_{J-1} = dh: the state passing
                       over the chunks reversed;  dS_c = g_c;  dabar_c = sum_p g_c o H_{c-1}
  2. chunk_states_vjp  dx_s += (B_s o gamma_s)^T g_c;  dB_s += gamma_s o (g_c x_s)
  1. intra_chunk_vjp   dx = M^T dy;  dC = (L o D) B;  dB = (L o D)^T C  (M = L o C B^T)
and da from every decay product (delta, abar, gamma, the masks L), each the product of the
other factors: no division. Kernels: ``_states_kernel``, ``_state_passing_kernel`` both ways,
``_chunks_kernel`` (per chunk: the rest of 4, 3, 2, then 1; diagonal in sub-chunks of SUB_BWD).
The attention VJP is this with one chunk of T steps, refused above the quadratic limit.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ..vjp import empty, finish
from ._jit import FASTMATH, JIT, num_threads, single_threaded_blas, threads_for
from ._launch import chunked_work, flatten_vjp
from ._tiles import chunk_of_job, prefix_products, suffix_products
from .chunked import _state_passing_kernel
from ..validation import check_chunk_size, check_chunks, check_quadratic, check_ssm

SUB_BWD = 16              # steps per sub-chunk of the diagonal family's chunk backward


# ---------------------------------------------------------------- derivatives of products

@njit(fastmath=FASTMATH, **JIT)
def _prefix_grad(a, u0, delta, coef, da, z):
    """da[u] += d/da_{u0+u} of sum_t coef[t] delta[t], delta[t] = prod_{u0<=v<=u0+t} a_v (t < m):

        da[u] += delta[u-1] z_u,   z_u = coef[u] + a_{u0+u+1} z_{u+1},   z_{m-1} = coef[m-1]

    (delta[-1] = 1). delta, coef, da (m, w); a (T, w) (w = 1: scalar; N: diagonal); z (w,)."""
    m, w = coef.shape
    for n in range(w):
        z[n] = coef[m - 1, n]
    for k in range(m - 1):
        u = m - 1 - k
        for n in range(w):
            da[u, n] += delta[u - 1, n] * z[n]
        # z_{u-1} = coef[u-1] + a_{u0+u} z_u
        for n in range(w):
            z[n] = coef[u - 1, n] + a[u0 + u, n] * z[n]
    for n in range(w):
        da[0, n] += z[n]


@njit(fastmath=FASTMATH, **JIT)
def _suffix_grad(a, u0, gamma, coef, da, z):
    """da[u] += d/da_{u0+u} of sum_s coef[s] gamma[s], gamma[s] = prod_{s<v<m} a_{u0+v} (s < m):

        da[u] += gamma[u] z_u,   z_u = coef[u-1] + a_{u0+u-1} z_{u-1},   z_0 = 0

    gamma, coef, da (m, w); a (T, w); workspace z (w,)."""
    m, w = coef.shape
    for n in range(w):
        z[n] = 0
    for u in range(1, m):
        for n in range(w):
            z[n] = coef[u - 1, n] + a[u0 + u - 1, n] * z[n]
        for n in range(w):
            da[u, n] += gamma[u, n] * z[n]


@njit(fastmath=FASTMATH, **JIT)
def _mask_grad(a, t0, L, W, da, z):
    """da[u, 0] += d/da_{t0+u} of sum_{s<=t} W[t, s] L[t, s], L[t, s] = prod_{s<v<=t} a_{t0+v}
    (the scalar mask (q, q); a (T,); workspace z (q,)):

        da_u = sum_{s<u} Z[u, s] L[u-1, s],   Z[u, s] = W[u, s] + a_{t0+u+1} Z[u+1, s]"""
    q = W.shape[0]
    for k in range(q - 1):
        u = q - 1 - k
        acc = W.dtype.type(0)
        if k == 0:
            for s in range(u):
                z[s] = W[u, s]
                acc += z[s] * L[u - 1, s]
        else:
            a_next = a[t0 + u + 1]
            for s in range(u):
                z[s] = W[u, s] + a_next * z[s]
                acc += z[s] * L[u - 1, s]
        da[u, 0] += acc


@njit(fastmath=FASTMATH, **JIT)
def _boundary_grads(a, t0, delta, gamma, E, K, Bc, Cc, H, g, dB, dC, da, cw, bw, z):
    """One chunk's steps 4, 3, 2 backward (the state terms). delta, gamma (q, w), a (T, w)
    (w = 1 or N), H = H_{c-1}, g = g_c (N, P), E[t, n] = H[n] . dy_t, K[s, n] = g[n] . x_s:

        4. chunk_output_vjp   dC_t = delta_t o E_t,   da += d/da sum_t (C_t o E_t) . delta_t
        3. state_passing_vjp  dabar = sum_p g o H,    da_u += dabar delta_{u-1} gamma_u
        2. chunk_states_vjp   dB_s = gamma_s o K_s,   da += d/da sum_s (B_s o K_s) . gamma_s

    Writes dC, dB (q, N), da (q, w); workspaces cw, bw (q, w), z (w,)."""
    q, N = E.shape
    w = delta.shape[1]
    zero = E.dtype.type(0)
    for t in range(q):
        for k in range(w):
            da[t, k] = 0
            cw[t, k] = 0
            bw[t, k] = 0
    # 4. chunk_output_vjp: dC_t = delta_t o E_t; weights cw_t = C_t o E_t (summed if w = 1)
    for t in range(q):
        for n in range(N):
            k = n if w > 1 else 0
            dC[t, n] = delta[t, k] * E[t, n]
            cw[t, k] += Cc[t, n] * E[t, n]
    _prefix_grad(a, t0, delta, cw, da, z)
    # 3. state_passing_vjp: dabar = sum_p g o H; abar = delta_{u-1} a_u gamma_u
    for k in range(w):
        z[k] = 0
    for n in range(N):
        acc = zero
        for p in range(H.shape[1]):
            acc += g[n, p] * H[n, p]
        z[n if w > 1 else 0] += acc
    for k in range(w):
        da[0, k] += z[k] * gamma[0, k]
    for u in range(1, q):
        for k in range(w):
            da[u, k] += z[k] * delta[u - 1, k] * gamma[u, k]
    # 2. chunk_states_vjp: dB_s = gamma_s o K_s; weights bw_s = B_s o K_s
    for t in range(q):
        for n in range(N):
            k = n if w > 1 else 0
            dB[t, n] = gamma[t, k] * K[t, n]
            bw[t, k] += Bc[t, n] * K[t, n]
    _suffix_grad(a, t0, gamma, bw, da, z)


# ---------------------------------------------------------------- kernel 1: chunk states

@njit(**JIT)
def _states_workspaces(q, N, like):
    """Workspaces of kernel 1, chunk of q steps: delta, gamma, B_c o gamma, C_c o delta (q, N)."""
    dt = like.dtype
    return (np.empty((q, N), dtype=dt), np.empty((q, N), dtype=dt),
            np.empty((q, N), dtype=dt), np.empty((q, N), dtype=dt))


@njit(fastmath=FASTMATH, **JIT)
def _chunk_state(x, a, B, C, dy, t0, t1, ws, S, dH_prev, abar):
    """One chunk: S = (B_c o gamma)^T x_c, dH_prev = (C_c o delta)^T dy_c, abar = delta_{q-1}."""
    delta, gamma, Bgamma, Cdelta = ws
    N = B.shape[1]
    q = t1 - t0
    prefix_products(a, t0, t1, N, delta)
    suffix_products(a, t0, t1, N, gamma)
    for i in range(q):
        for n in range(N):
            Bgamma[i, n] = B[t0 + i, n] * gamma[i, n]
        for n in range(N):
            Cdelta[i, n] = C[t0 + i, n] * delta[i, n]
    for n in range(N):
        abar[n] = delta[q - 1, n]
    # chunk_states (forward): S_c = (B_c o gamma)^T x_c
    # 4. chunk_output_vjp: dH_prev_c = (C_c o delta)^T dy_c
    np.dot(Bgamma.T, x[t0:t1], S)
    np.dot(Cdelta.T, dy[t0:t1], dH_prev)


@njit(parallel=True, **JIT)
def _states_kernel(x, a, B, C, dy, Q, workers, S, dH_prev, abar):
    """Kernel 1: S[b, c] = S_c, abar[b, c] = abar_c, dH_prev[b, J-1-c] = dH_prev_c (reversed).
    S, dH_prev (nb, J, N, P), abar (nb, J, N)."""
    nb, T, P = x.shape
    N = B.shape[2]
    J = (T + Q - 1) // Q
    for worker in prange(workers):
        size = Q
        ws = _states_workspaces(Q, N, x)
        for job in range(worker, nb * J, workers):
            b, c, t0, t1 = chunk_of_job(job, J, Q, T)
            if t1 - t0 != size:                    # the short last chunk
                size = t1 - t0
                ws = _states_workspaces(size, N, x)
            _chunk_state(x[b], a[b], B[b], C[b], dy[b], t0, t1, ws, S[b, c],
                         dH_prev[b, J - 1 - c], abar[b, c])


# ---------------------------------------------------------------- kernel 3, scalar family

@njit(**JIT)
def _scalar_workspaces(q, N, P, like):
    """Per-thread workspaces of one scalar chunk of q steps (named in ``_scalar_chunk``)."""
    dt = like.dtype

    def z(rows, cols):
        return np.zeros((rows, cols), dtype=dt)
    return (z(q, q), z(q, q), z(q, q), z(q, q), z(q, P), z(q, P), z(q, N), z(q, N), z(q, N),
            z(q, N), z(q, 1), z(q, 1), z(q, 1), z(q, 1), z(q, 1), np.zeros(q, dtype=dt))


@njit(fastmath=FASTMATH, **JIT)
def _scalar_chunk(x, a, B, C, dy, H, g, t0, t1, ws, dx, da, dB, dC):
    """Kernel 3, scalar family (a (T,)): rows [t0, t1) of dx, da, dB, dC; H = H_{c-1}, g = g_c."""
    L, Sc, D, W, dXc, Bg, E, K, dCc, dBc, delta, gamma, cw, bw, dac, z = ws
    q = t1 - t0
    Xc, Yc, Bc, Cc = x[t0:t1], dy[t0:t1], B[t0:t1], C[t0:t1]
    # L[t, s] = prod_{s<u<=t} a_u: L[t, :t] = a_t L[t-1, :t], L[t, t] = 1
    for t in range(q):
        a_t = a[t0 + t]
        for s in range(t):
            L[t, s] = a_t * L[t - 1, s]
        L[t, t] = 1
    # delta_t = a_{t0} L[t, 0],  gamma_s = L[q-1, s]
    for t in range(q):
        delta[t, 0] = a[t0] * L[t, 0]
        gamma[t, 0] = L[q - 1, t]
    np.dot(Cc, Bc.T, Sc)                       # C_t . B_s
    np.dot(Yc, Xc.T, D)                        # D[t, s] = dy_t . x_s
    # W = D o (C B^T) (the mask's weights), then in place: Sc -> M = L o C B^T, D -> L o D
    for t in range(q):
        for s in range(t + 1):
            l = L[t, s]
            W[t, s] = D[t, s] * Sc[t, s]
            Sc[t, s] *= l
            D[t, s] *= l
        for s in range(t + 1, q):
            Sc[t, s] = 0
            D[t, s] = 0
    np.dot(Yc, H.T, E)                         # E_t = H dy_t
    np.dot(Xc, g.T, K)                         # K_s = g x_s
    a1 = a.reshape((a.shape[0], 1))            # one decay per step: width 1
    # 4. chunk_output_vjp, 3. state_passing_vjp, 2. chunk_states_vjp: the state terms
    _boundary_grads(a1, t0, delta, gamma, E, K, Bc, Cc, H, g, dBc, dCc, dac, cw, bw, z)
    # 1. intra_chunk_vjp: da from the mask; dx = M^T dy (+ 2.'s gamma_s B_s g)
    _mask_grad(a, t0, L, W, dac, z)
    np.dot(Sc.T, Yc, dXc)
    np.dot(Bc, g, Bg)
    for t in range(q):
        for p in range(Xc.shape[1]):
            dx[t0 + t, p] = dXc[t, p] + gamma[t, 0] * Bg[t, p]
    # 1. dC = (L o D) B, dB = (L o D)^T C (4.'s delta E and 2.'s gamma K in dCc, dBc)
    np.dot(D, Bc, E)
    np.dot(D.T, Cc, K)
    for t in range(q):
        da[t0 + t] = dac[t, 0]
        for n in range(Bc.shape[1]):
            dC[t0 + t, n] = dCc[t, n] + E[t, n]
            dB[t0 + t, n] = dBc[t, n] + K[t, n]


# ---------------------------------------------------------------- kernel 3, diagonal family

@njit(**JIT)
def _diagonal_workspaces(q, N, P, like):
    """Per-thread workspaces of one diagonal chunk of q steps (named in ``_diagonal_chunk``)."""
    dt = like.dtype
    m = min(q, SUB_BWD)

    def z(rows, cols):
        return np.zeros((rows, cols), dtype=dt)
    return (z(q, q), z(q, q), z(q, P), z(q, P), z(q, N), z(q, N), z(q, N), z(q, N), z(q, N),
            z(q, N), z(q, N), z(q, N), z(q, N), z(q, N), z(m, N), z(q, N), z(q, N), z(m, N),
            z(m, N), z(q, N), z(m, N), np.zeros(q * q, dtype=dt), np.zeros(q * q, dtype=dt),
            np.zeros(N, dtype=dt), np.zeros(N, dtype=dt))


@njit(fastmath=FASTMATH, **JIT)
def _diagonal_block(a, t0, i0, i1, Bc, Cc, D, M, dCc, dBc, dac, lcol, z, zb):
    """The sub-chunk I = [i0, i1)'s own block (t, s in I, s <= t), per mode. Column s carries
    l = L_n[t, s] = a_t[n] L_n[t-1, s] down the rows t (lcol (m, N)), then

        M[t, s] = sum_n C_t[n] l B_s[n],   dC_t[n] += D[t, s] l B_s[n]     (rows down)
        dB_s[n] += sum_t D[t, s] l C_t[n]                                 (rows up)
        da_u[n] += L_n[u-1, s] Z_u[n],   Z_u = W[u, s] + a_{u+1}[n] Z_{u+1}   (rows up, u > s)

    with W[u, s] = D[u, s] C_u[n] B_s[n]. Workspaces z, zb (N,)."""
    N = Bc.shape[1]
    m = i1 - i0
    for j in range(m):
        s = i0 + j
        for n in range(N):
            lcol[j, n] = 1
        for i in range(j, m):
            t = i0 + i
            if i > j:
                for n in range(N):
                    lcol[i, n] = a[t0 + t, n] * lcol[i - 1, n]
            d = D[t, s]
            acc = D.dtype.type(0)
            for n in range(N):
                r = lcol[i, n] * Bc[s, n]
                acc += Cc[t, n] * r
                dCc[t, n] += d * r
            M[t, s] = acc
        # rows up: zb = dB's column sum; z_i = W[i, s] + a_{t+1} z_{i+1} from the last row
        t = i1 - 1
        d = D[t, s]
        for n in range(N):
            zb[n] = 0
            z[n] = d * Cc[t, n] * Bc[s, n]
        for k in range(m - 1 - j):
            i = m - 1 - k
            t = i0 + i
            d = D[t, s]
            for n in range(N):
                zb[n] += d * lcol[i, n] * Cc[t, n]
            for n in range(N):
                dac[t, n] += lcol[i - 1, n] * z[n]
            d = D[t - 1, s]
            for n in range(N):
                z[n] = d * Cc[t - 1, n] * Bc[s, n] + a[t0 + t, n] * z[n]
        d = D[s, s]
        for n in range(N):
            zb[n] += d * Cc[s, n]                  # the row t = s: l = 1
        for n in range(N):
            dBc[s, n] += zb[n]


@njit(fastmath=FASTMATH, **JIT)
def _diagonal_cross(a, t0, i0, i1, Bc, Cc, D, M, dCc, dBc, dac, delta_i, gamma_i, Cdelta_i,
                    Bgamma_i, PI, RI, DI_buf, MI_buf, z):
    """Queries t in I = [i0, i1), keys s < i0: L_n[t, s] = delta_i[t, n] gamma_i[s, n] with
    delta_i[t] = prod_{i0<=u<=t} a_u, gamma_i[s] = prod_{s<u<i0} a_u; gemms with D_I = D[I, :i0]:

        M[I, :i0] = Cdelta_i Bgamma_i^T,   PI = D_I Bgamma_i,   RI = D_I^T Cdelta_i
        dC_t += delta_i[t] o PI_t,   dB_s += gamma_i[s] o RI_s
        da += d/da [sum_t (C_t o PI_t) . delta_i[t] + sum_s (B_s o RI_s) . gamma_i[s]]"""
    N = Bc.shape[1]
    m = i1 - i0
    prefix_products(a, t0 + i0, t0 + i1, N, delta_i)
    suffix_products(a, t0, t0 + i0, N, gamma_i)
    for i in range(m):
        for n in range(N):
            Cdelta_i[i, n] = Cc[i0 + i, n] * delta_i[i, n]
    for j in range(i0):
        for n in range(N):
            Bgamma_i[j, n] = Bc[j, n] * gamma_i[j, n]
    DI = DI_buf[:m * i0].reshape((m, i0))
    MI = MI_buf[:m * i0].reshape((m, i0))
    for i in range(m):
        for j in range(i0):
            DI[i, j] = D[i0 + i, j]
    # M[I, :i0] = (C_I o delta_i) (B o gamma_i)^T
    np.dot(Cdelta_i[:m], Bgamma_i[:i0].T, MI)
    for i in range(m):
        for j in range(i0):
            M[i0 + i, j] = MI[i, j]
    # PI = D_I (B o gamma_i),  RI = D_I^T (C_I o delta_i)
    np.dot(DI, Bgamma_i[:i0], PI[:m])
    np.dot(DI.T, Cdelta_i[:m], RI[:i0])
    for i in range(m):
        for n in range(N):
            dCc[i0 + i, n] += delta_i[i, n] * PI[i, n]
            PI[i, n] *= Cc[i0 + i, n]              # the weights of delta_i in the loss
    for j in range(i0):
        for n in range(N):
            dBc[j, n] += gamma_i[j, n] * RI[j, n]
            RI[j, n] *= Bc[j, n]                   # the weights of gamma_i
    _prefix_grad(a, t0 + i0, delta_i[:m], PI[:m], dac[i0:i1], z)
    _suffix_grad(a, t0, gamma_i[:i0], RI[:i0], dac[:i0], z)


@njit(fastmath=FASTMATH, **JIT)
def _diagonal_chunk(x, a, B, C, dy, H, g, t0, t1, ws, dx, da, dB, dC):
    """Kernel 3, diagonal family (a (T, N)): as ``_scalar_chunk``."""
    (D, M, dXc, Bg, E, K, delta, gamma, dCc, dBc, dac, Bgamma, cw, bw, delta_i, gamma_i,
     Bgamma_i, Cdelta_i, PI, RI, lcol, DI_buf, MI_buf, z, zb) = ws
    q = t1 - t0
    N = B.shape[1]
    Xc, Yc, Bc, Cc = x[t0:t1], dy[t0:t1], B[t0:t1], C[t0:t1]
    np.dot(Yc, Xc.T, D)                        # D[t, s] = dy_t . x_s
    np.dot(Yc, H.T, E)                         # E[t, n] = H_n . dy_t
    np.dot(Xc, g.T, K)                         # K[s, n] = g_n . x_s
    prefix_products(a, t0, t1, N, delta)
    suffix_products(a, t0, t1, N, gamma)
    # 4. chunk_output_vjp, 3. state_passing_vjp, 2. chunk_states_vjp: the state terms
    _boundary_grads(a, t0, delta, gamma, E, K, Bc, Cc, H, g, dBc, dCc, dac, cw, bw, z)
    # 1. intra_chunk_vjp: M, dC += (L o D) B, dB += (L o D)^T C and da, sub-chunk by sub-chunk
    for t in range(q):
        for s in range(t + 1, q):
            M[t, s] = 0
    for i0 in range(0, q, SUB_BWD):
        i1 = min(q, i0 + SUB_BWD)
        _diagonal_block(a, t0, i0, i1, Bc, Cc, D, M, dCc, dBc, dac, lcol, z, zb)
        if i0 > 0:
            _diagonal_cross(a, t0, i0, i1, Bc, Cc, D, M, dCc, dBc, dac, delta_i, gamma_i,
                            Cdelta_i, Bgamma_i, PI, RI, DI_buf, MI_buf, z)
    # dx = M^T dy (1.) + (B o gamma) g (2.)
    for t in range(q):
        for n in range(N):
            Bgamma[t, n] = Bc[t, n] * gamma[t, n]
    np.dot(M.T, Yc, dXc)
    np.dot(Bgamma, g, Bg)
    for t in range(q):
        for p in range(Xc.shape[1]):
            dx[t0 + t, p] = dXc[t, p] + Bg[t, p]
        for n in range(N):
            da[t0 + t, n] = dac[t, n]
            dB[t0 + t, n] = dBc[t, n]
            dC[t0 + t, n] = dCc[t, n]


# ---------------------------------------------------------------- kernel 3, either family

@njit(**JIT)
def chunk_workspaces(q, N, P, like, a):
    """One chunk's workspaces for the family of ``a`` ((nb, T) scalar, (nb, T, N) diagonal)."""
    if a.ndim == 2:
        return _scalar_workspaces(q, N, P, like)
    return _diagonal_workspaces(q, N, P, like)


@njit(fastmath=FASTMATH, **JIT)
def chunk_backward(x, a, B, C, dy, H, g, t0, t1, ws, dx, da, dB, dC):
    """One chunk's backward for the family of ``a`` ((T,) scalar, (T, N) diagonal)."""
    if a.ndim == 1:
        _scalar_chunk(x, a, B, C, dy, H, g, t0, t1, ws, dx, da, dB, dC)
    else:
        _diagonal_chunk(x, a, B, C, dy, H, g, t0, t1, ws, dx, da, dB, dC)


@njit(parallel=True, **JIT)
def _chunks_kernel(x, a, B, C, dy, H_prev, g_rev, Q, workers, dx, da, dB, dC):
    """Every chunk's backward, given H_prev[b, c] = H_{c-1} and g_rev[b, J-1-c] = g_c."""
    nb, T, P = x.shape
    N = B.shape[2]
    J = (T + Q - 1) // Q
    for worker in prange(workers):
        size = Q
        ws = chunk_workspaces(Q, N, P, x, a)
        for job in range(worker, nb * J, workers):
            b, c, t0, t1 = chunk_of_job(job, J, Q, T)
            if t1 - t0 != size:                    # the short last chunk
                size = t1 - t0
                ws = chunk_workspaces(size, N, P, x, a)
            chunk_backward(x[b], a[b], B[b], C[b], dy[b], H_prev[b, c], g_rev[b, J - 1 - c],
                           t0, t1, ws, dx[b], da[b], dB[b], dC[b])


# ---------------------------------------------------------------- launchers

def chunked_backward(family, x, a, B, C, dy, dh, initial_state, Q):
    """The launcher shared by the chunked and attention VJPs (Q = chunk length)."""
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    Q = min(Q, f.T)
    J = -(-f.T // Q)
    with threads_for(chunked_work(f, Q)):                        # a small call: one thread
        workers = min(num_threads(), f.nb * J)
        # the (Q, Q) workspaces of every thread (masks, scores and their gradients)
        check_chunks(f"{family}_chunked_vjp", workers, Q, f.dtype, copies=4)
        S = np.empty((f.nb, J, f.N, f.P), dtype=f.dtype)          # S_c, then H_{c-1}
        dH_prev = np.empty((f.nb, J, f.N, f.P), dtype=f.dtype)    # dH_prev_c, then g_c reversed
        abar = np.empty((f.nb, J, f.N), dtype=f.dtype)
        dx = np.empty((f.nb, f.T, f.P), dtype=f.dtype)
        da = np.empty(f.a.shape, dtype=f.dtype)
        dB, dC = (np.empty((f.nb, f.T, f.N), dtype=f.dtype) for _ in range(2))
        h = f.h0                                                   # h_{-1}, then h_{T-1}
        g = np.array(fv.dh)                                        # dh, then dh_{-1}
        with single_threaded_blas():                               # np.dot inside prange
            # chunk_states (forward) and 4. chunk_output_vjp's dH_prev
            _states_kernel(f.x, f.a, f.B, f.C, fv.dy, Q, workers, S, dH_prev, abar)
            # state_passing (forward): H_c = abar_c H_{c-1} + S_c (S <- H_prev)
            _state_passing_kernel(abar, S, h)
            # 3. state_passing_vjp: g_{c-1} = abar_c g_c + dH_prev_c, the chunks reversed
            _state_passing_kernel(np.ascontiguousarray(abar[:, ::-1]), dH_prev, g)
            # the rest of 4., 3., 2., and 1. intra_chunk_vjp, chunk by chunk
            _chunks_kernel(f.x, f.a, f.B, f.C, fv.dy, S, dH_prev, Q, workers, dx, da, dB, dC)
    return finish(fv, dx, da, dB, dC, g)


@keyword_only
def scalar_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """VJP of the scalar chunked form. x, dy (..., T, P), a (..., T), B, C (..., T, N), dh,
    initial_state (..., N, P). Returns Grads. O(T Q (N + P) + T N P) time."""
    return chunked_backward("scalar", x, a, B, C, dy, dh, initial_state,
                            check_chunk_size(chunk_size))


@keyword_only
def diagonal_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """VJP of the diagonal chunked form; a (..., T, N), else as scalar_chunked_vjp."""
    return chunked_backward("diagonal", x, a, B, C, dy, dh, initial_state,
                            check_chunk_size(chunk_size))


def _attention_vjp(family, x, a, B, C, dy, dh, initial_state):
    v = check_ssm(family, x, a, B, C, initial_state)
    check_quadratic(f"{family}_attention_vjp", v.batch, v.T, v.dtype, copies=5, pad=2)
    return chunked_backward(family, x, a, B, C, dy, dh, initial_state, max(v.T, 1))


@keyword_only
def scalar_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar attention form, O(T^2 (N + P)) time; arguments as scalar_chunked_vjp."""
    return _attention_vjp("scalar", x, a, B, C, dy, dh, initial_state)


@keyword_only
def diagonal_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the diagonal attention form; a (..., T, N), else as scalar_attention_vjp."""
    return _attention_vjp("diagonal", x, a, B, C, dy, dh, initial_state)
