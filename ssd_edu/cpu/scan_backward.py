"""The backward of the recurrence as a Numba kernel: scalar_scan_vjp and diagonal_scan_vjp.

With G_t = d loss / d h_t, the reverse-time scan

    G_t = a_{t+1} o G_{t+1} + C_t dy_t^T        (G_{T-1} = C_{T-1} dy_{T-1}^T + dh)
    dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t,  da_t = sum_p G_t o h_{t-1},
    dh_{-1} = a_0 o G_0

with the states recomputed chunk by chunk (CHECKPOINT steps) from the stored state entering each
chunk. Jobs are (sequence, block of w channels); the launcher sums the blocks' dB, dC, da.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ..vjp import empty, finish
from ._jit import FASTMATH, JIT, at, decay, single_threaded_blas, threads_for
from ._launch import channel_width, flatten_vjp
from ._tiles import chunk_of_job
from .chunked import _chunk_state

CHECKPOINT = 64           # steps between stored states


@njit(fastmath=FASTMATH, **JIT)
def _scan_backward_channels(x, a, B, C, dy, h0, g, Q, dx, da, dB, dC, p0, p1, ck_buf, H_buf):
    """One sequence, channels [p0, p1). x, dy (T, P); a (T,) or (T, N), B, C (T, N); h0 (N, P);
    g (N, P): dh in, dh_{-1} out; writes dx (T, P) and this block's part of da, dB, dC (T, N).
    ck_buf, H_buf: the job's flat workspaces (J N w and (Q + 1) N w entries)."""
    T, N = B.shape
    w = p1 - p0
    J = (T + Q - 1) // Q
    dt = x.dtype
    ck = ck_buf[:J * N * w].reshape((J, N, w))   # ck[c] = the state entering chunk c
    gs = np.empty((N, w), dtype=dt)              # a_{t+1} o G_{t+1} (dh at T-1)
    for n in range(N):
        for p in range(w):
            ck[0, n, p] = h0[n, p0 + p]
            gs[n, p] = g[n, p0 + p]
    # the state entering each chunk, as the chunked form: h_{t1-1} = abar_c o h_{t0-1} + S_c
    G, BG, Xc = np.empty((Q, N), dtype=dt), np.empty((N, Q), dtype=dt), np.empty((Q, w), dtype=dt)
    S, abar = np.empty((N, w), dtype=dt), np.empty(N, dtype=dt)
    for c in range(J - 1):
        t0 = c * Q
        Xc[:, :] = x[t0:t0 + Q, p0:p0 + w]
        _chunk_state(a, B, Xc, t0, t0 + Q, G, BG, S, abar)
        for n in range(N):
            for p in range(w):
                ck[c + 1, n, p] = abar[n] * ck[c, n, p] + S[n, p]
    H = H_buf[:(Q + 1) * N * w].reshape((Q + 1, N, w))  # H[i] = h_{t0+i-1}: the chunk's states
    dxt = np.empty(w, dtype=dt)
    for c in range(J - 1, -1, -1):
        t0 = c * Q
        q = min(Q, T - t0)
        # recompute the chunk's states from the stored one; dC_t = h_t dy_t on the way
        H[0] = ck[c]
        for i in range(q):
            t = t0 + i
            xt, dyt, a_t = x[t, p0:p1], dy[t, p0:p1], decay(a, t)
            for n in range(N):
                an, bn = at(a_t, n), B[t, n]
                acc = dt.type(0)
                for p in range(w):
                    # h_t = a_t h_{t-1} + B_t x_t;  dC_t[n] = sum_p h_t[n, p] dy_t[p]
                    u = an * H[i, n, p] + bn * xt[p]
                    H[i + 1, n, p] = u
                    acc += u * dyt[p]
                dC[t, n] = acc
        for i in range(q - 1, -1, -1):
            t = t0 + i
            xt, dyt, a_t = x[t, p0:p1], dy[t, p0:p1], decay(a, t)
            dxt[:] = 0
            for n in range(N):
                an, bn, cn = at(a_t, n), B[t, n], C[t, n]
                dB_n = dt.type(0)
                da_n = dt.type(0)
                for p in range(w):
                    # G_t = a_{t+1} o G_{t+1} + C_t dy_t^T
                    G = gs[n, p] + cn * dyt[p]
                    # dx_t = G_t^T B_t,  dB_t = G_t x_t,  da_t = sum_p G_t o h_{t-1}
                    dxt[p] += G * bn
                    dB_n += G * xt[p]
                    da_n += G * H[i, n, p]
                    gs[n, p] = an * G
                dB[t, n] = dB_n
                da[t, n] = da_n
            dx[t, p0:p1] = dxt
    # dh_{-1} = a_0 o G_0
    for n in range(N):
        for p in range(w):
            g[n, p0 + p] = gs[n, p]


@njit(parallel=True, **JIT)
def _scan_backward_kernel(x, a, B, C, dy, h0, g, Q, width, dx, da, dB, dC, ck_buf, H_buf):
    """prange over (sequence, block of ``width`` channels); da, dB, dC (nb * blocks, T, N)."""
    nb, T, P = x.shape
    blocks = (P + width - 1) // width
    for job in prange(nb * blocks):
        s, _, p0, p1 = chunk_of_job(job, blocks, width, P)
        _scan_backward_channels(x[s], a[s], B[s], C[s], dy[s], h0[s], g[s], Q, dx[s],
                                da[job], dB[job], dC[job], p0, p1, ck_buf[job], H_buf[job])


def _scan_vjp(family, x, a, B, C, dy, dh, initial_state):
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    with threads_for(f.nb * f.T * f.N * f.P):                  # a small call: one thread
        width = channel_width(f.nb, f.P)
        blocks = -(-f.P // width)
        dx = np.empty((f.nb, f.T, f.P), dtype=f.dtype)         # every entry is written
        da, dB, dC = (np.empty((f.nb * blocks, f.T, f.N), dtype=f.dtype) for _ in range(3))
        g = fv.dh.copy()                                       # dh in, dh_{-1} out
        # the jobs' checkpoints and chunk states (allocated here, not paged in per worker)
        ck = np.empty((f.nb * blocks, -(-f.T // CHECKPOINT) * f.N * width), dtype=f.dtype)
        H = np.empty((f.nb * blocks, (CHECKPOINT + 1) * f.N * width), dtype=f.dtype)
        with single_threaded_blas():                           # np.dot inside prange threads
            _scan_backward_kernel(f.x, f.a, f.B, f.C, fv.dy, f.h0, g, CHECKPOINT,
                                  width, dx, da, dB, dC, ck, H)
    if blocks > 1:                                             # the channel blocks' parts
        da, dB, dC = (arr.reshape(f.nb, blocks, f.T, f.N).sum(axis=1) for arr in (da, dB, dC))
    if family == "scalar":
        da = da.sum(axis=-1)                                   # one decay shared by the modes
    return finish(fv, dx, da, dB, dC, g)


@keyword_only
def scalar_scan_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar scan. x, dy (..., T, P), a (..., T), B, C (..., T, N), dh,
    initial_state (..., N, P). Returns Grads."""
    return _scan_vjp("scalar", x, a, B, C, dy, dh, initial_state)


@keyword_only
def diagonal_scan_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the diagonal scan; a (..., T, N), else as scalar_scan_vjp."""
    return _scan_vjp("diagonal", x, a, B, C, dy, dh, initial_state)
