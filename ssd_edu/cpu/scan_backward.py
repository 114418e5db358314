"""The backward of the recurrence as a Numba kernel: scalar_scan_vjp and diagonal_scan_vjp.

The reverse-time scan of ``reference.backward`` (G_t = d loss / d h_t, the gradient flowing
into the state):

    G_t = a_{t+1} o G_{t+1} + C_t dy_t^T        (G_{T-1} = C_{T-1} dy_{T-1}^T + dh)
    dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t,  da_t = sum_p G_t o h_{t-1},
    dh_{-1} = a_0 o G_0

needs h_{t-1} and h_t going backward. Running the recurrence backward would divide by a_t (0
for a zero decay), so the states are *recomputed*: a forward pass stores only the state
entering every chunk of ``CHECKPOINT`` steps (O(J N P), J = ceil(T / CHECKPOINT)); then, chunk
by chunk from the last, each channel's states of that chunk are recomputed into a
(CHECKPOINT + 1, N) buffer and the chunk is swept backward. Extra memory: O(J N P) checkpoints
plus O(T N) (the scalar family's decays repeated over n; the partial dB, dC, da of channel
blocks). The scalar family runs the diagonal kernel with its decay repeated over the modes,
and its da is the sum over n.

Work is split over (sequence, channel block): the recurrence is independent across channels,
and the channel blocks of one sequence write partial dB, dC, da that the launcher sums.
Each channel's state row (contiguous over n) is the inner loop, as in the forward kernel.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._backward import channel_width, decays_per_mode, empty, finish, flatten_vjp
from ._jit import FASTMATH, JIT

#: Steps between stored states (the chunk whose states are recomputed at a time).
CHECKPOINT = 64


@njit(fastmath=FASTMATH, **JIT)
def _scan_backward_channels(x, a, B, C, dy, h0, g, Q, dx, da, dB, dC, p0, p1):
    """One sequence, channels [p0, p1). x, dy (T, P); a, B, C (T, N); h0 (N, P) read;
    g (N, P): dh in, dh_{-1} out (columns p0..p1); dx (T, P) written; da, dB, dC (T, N) added to."""
    T, N = B.shape
    w = p1 - p0
    J = (T + Q - 1) // Q
    ck = np.empty((J, w, N), dtype=x.dtype)      # state entering each chunk, per channel
    h = np.empty((w, N), dtype=x.dtype)
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
    hc = np.empty((Q + 1, N), dtype=x.dtype)     # hc[i] = h_{t0+i-1} within the chunk
    gp = np.empty(N, dtype=x.dtype)
    for c in range(J - 1, -1, -1):
        t0 = c * Q
        q = min(Q, T - t0)
        for p in range(w):
            xs = x[t0:t0 + q, p0 + p]
            # recompute the chunk's states of channel p
            hc[0] = ck[c, p]
            for i in range(q):
                for n in range(N):
                    hc[i + 1, n] = a[t0 + i, n] * hc[i, n] + B[t0 + i, n] * xs[i]
            for n in range(N):
                gp[n] = g[n, p0 + p]             # a_{t+1} o G_{t+1} (dh at t = T-1)
            for i in range(q - 1, -1, -1):
                t = t0 + i
                dyp = dy[t, p0 + p]
                acc = x.dtype.type(0)
                for n in range(N):
                    # G_t = a_{t+1} o G_{t+1} + C_t dy_t^T
                    G = gp[n] + C[t, n] * dyp
                    # dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = G_t o h_{t-1}
                    acc += G * B[t, n]
                    dB[t, n] += G * xs[i]
                    dC[t, n] += hc[i + 1, n] * dyp
                    da[t, n] += G * hc[i, n]
                    gp[n] = a[t, n] * G
                dx[t, p0 + p] = acc
            for n in range(N):
                g[n, p0 + p] = gp[n]


@njit(parallel=True, **JIT)
def _scan_backward_kernel(x, a, B, C, dy, h0, g, Q, width, dx, da, dB, dC):
    """prange over (sequence, block of ``width`` channels); da, dB, dC (nb * blocks, T, N)."""
    nb, T, P = x.shape
    blocks = (P + width - 1) // width
    for job in prange(nb * blocks):
        s = job // blocks
        p0 = (job % blocks) * width
        _scan_backward_channels(x[s], a[s], B[s], C[s], dy[s], h0[s], g[s], Q, dx[s],
                                da[job], dB[job], dC[job], p0, min(P, p0 + width))


def _scan_vjp(family, x, a, B, C, dy, dh, initial_state):
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    width = channel_width(f.nb, f.P)
    blocks = -(-f.P // width)
    dx = np.empty((f.nb, f.T, f.P), dtype=f.dtype)             # every entry is written
    da, dB, dC = (np.zeros((f.nb * blocks, f.T, f.N), dtype=f.dtype) for _ in range(3))
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
