"""The backward of the recurrence as a Numba kernel: scalar_scan_vjp and diagonal_scan_vjp.

The reverse-time scan of ``reference.backward`` (G_t = d loss / d h_t, the gradient flowing
into the state):

    G_t = a_{t+1} o G_{t+1} + C_t dy_t^T        (G_{T-1} = C_{T-1} dy_{T-1}^T + dh)
    dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t,  da_t = sum_p G_t o h_{t-1},
    dh_{-1} = a_0 o G_0

needs h_{t-1} and h_t going backward. Running the recurrence backward would divide by a_t (0
for a zero decay), so the states are *recomputed*: a forward pass stores only the state
entering every chunk of ``CHECKPOINT`` steps (O(J N P), J = ceil(T / CHECKPOINT)); then, chunk
by chunk from the last, the chunk's states are recomputed into a (CHECKPOINT + 1, P, N) buffer
(per thread, independent of T) and the chunk is swept backward, one step at a time over all the
channels, so the rows dB_t, dC_t, da_t are summed over p in registers and cache. Extra memory:
O(J N P) checkpoints, O(CHECKPOINT N P) per thread, plus O(T N) (the scalar family's decays
repeated over n; the partial dB, dC, da of channel blocks). The scalar family runs the diagonal kernel with its decay repeated over the modes,
and its da is the sum over n.

Work is split over (sequence, channel block): the recurrence is independent across channels,
and the channel blocks of one sequence write partial dB, dC, da that the launcher sums.
Each channel's state row (contiguous over n) is the inner loop, as in the forward kernel.
Measured (bench --backward, default workload): see the report of issue 16.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._backward import channel_width, decays_per_mode, empty, finish, flatten_vjp
from ._jit import FASTMATH, JIT
from ._tiles import chunk_of_job

#: Steps between stored states (the chunk whose states are recomputed at a time).
CHECKPOINT = 32


@njit(fastmath=FASTMATH, **JIT)
def _scan_backward_channels(x, a, B, C, dy, h0, g, Q, dx, da, dB, dC, p0, p1):
    """One sequence, channels [p0, p1). x, dy (T, P); a, B, C (T, N); h0 (N, P) read;
    g (N, P): dh in, dh_{-1} out (columns p0..p1); dx (T, P), da, dB, dC (T, N) written (da,
    dB, dC: this block's part of the sum over channels)."""
    T, N = B.shape
    w = p1 - p0
    J = (T + Q - 1) // Q
    dt = x.dtype
    ck = np.empty((J, w, N), dtype=dt)           # the state entering each chunk
    h = np.empty((w, N), dtype=dt)
    for p in range(w):
        for n in range(N):
            h[p, n] = h0[n, p0 + p]
    # forward: h_t = a_t o h_{t-1} + B_t x_t^T, keeping the state entering each chunk
    for t in range(T):
        if t % Q == 0:
            ck[t // Q] = h
        for p in range(w):
            xp = x[t, p0 + p]
            for n in range(N):
                h[p, n] = a[t, n] * h[p, n] + B[t, n] * xp
    H = np.empty((Q + 1, w, N), dtype=dt)        # H[i] = h_{t0+i-1}: the chunk's states
    gs = np.empty((w, N), dtype=dt)              # a_{t+1} o G_{t+1} per channel (dh at T-1)
    for p in range(w):
        for n in range(N):
            gs[p, n] = g[n, p0 + p]
    dBt = np.empty(N, dtype=dt)
    dCt = np.empty(N, dtype=dt)
    dat = np.empty(N, dtype=dt)
    for c in range(J - 1, -1, -1):
        t0 = c * Q
        q = min(Q, T - t0)
        # recompute the chunk's states from the stored one
        H[0] = ck[c]
        for i in range(q):
            for p in range(w):
                xp = x[t0 + i, p0 + p]
                for n in range(N):
                    H[i + 1, p, n] = a[t0 + i, n] * H[i, p, n] + B[t0 + i, n] * xp
        for i in range(q - 1, -1, -1):
            t = t0 + i
            dBt[:] = 0
            dCt[:] = 0
            dat[:] = 0
            for p in range(w):
                dyp = dy[t, p0 + p]
                xp = x[t, p0 + p]
                acc = dt.type(0)
                for n in range(N):
                    # G_t = a_{t+1} o G_{t+1} + C_t dy_t^T
                    G = gs[p, n] + C[t, n] * dyp
                    # dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = G_t o h_{t-1}
                    acc += G * B[t, n]
                    dBt[n] += G * xp
                    dCt[n] += H[i + 1, p, n] * dyp
                    dat[n] += G * H[i, p, n]
                    gs[p, n] = a[t, n] * G
                dx[t, p0 + p] = acc
            dB[t] = dBt
            dC[t] = dCt
            da[t] = dat
    for p in range(w):
        for n in range(N):
            g[n, p0 + p] = gs[p, n]


@njit(parallel=True, **JIT)
def _scan_backward_kernel(x, a, B, C, dy, h0, g, Q, width, dx, da, dB, dC):
    """prange over (sequence, block of ``width`` channels); da, dB, dC (nb * blocks, T, N)."""
    nb, T, P = x.shape
    blocks = (P + width - 1) // width
    for job in prange(nb * blocks):
        s, _, p0, p1 = chunk_of_job(job, blocks, width, P)
        _scan_backward_channels(x[s], a[s], B[s], C[s], dy[s], h0[s], g[s], Q, dx[s],
                                da[job], dB[job], dC[job], p0, p1)


def _scan_vjp(family, x, a, B, C, dy, dh, initial_state):
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    width = channel_width(f.nb, f.P)
    blocks = -(-f.P // width)
    dx = np.empty((f.nb, f.T, f.P), dtype=f.dtype)             # every entry is written
    da, dB, dC = (np.empty((f.nb * blocks, f.T, f.N), dtype=f.dtype) for _ in range(3))
    g = fv.dh.copy()                                           # dh in, dh_{-1} out
    _scan_backward_kernel(f.x, decays_per_mode(f), f.B, f.C, fv.dy, f.h0, g, CHECKPOINT,
                          width, dx, da, dB, dC)
    da, dB, dC = (arr.reshape(f.nb, blocks, f.T, f.N).sum(axis=1) for arr in (da, dB, dC))
    if family == "scalar":
        da = da.sum(axis=-1)                                   # one decay shared by the modes
    return finish(fv, dx, da, dB, dC, g)


def scalar_scan_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar scan, compiled: the reverse-time scan with recomputed chunk states.

    x, dy (..., T, P), a (..., T), B, C (..., T, N), dh, initial_state (..., N, P); float32 or
    float64. Returns Grads. O(T N P) time, O(T N + J N P) extra memory.
    """
    return _scan_vjp("scalar", x, a, B, C, dy, dh, initial_state)


def diagonal_scan_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the diagonal scan, compiled: the reverse-time scan with recomputed chunk states.

    x, dy (..., T, P), a, B, C (..., T, N), dh, initial_state (..., N, P); float32 or float64.
    Returns Grads. O(T N P) time, O(T N + J N P) extra memory.
    """
    return _scan_vjp("diagonal", x, a, B, C, dy, dh, initial_state)
