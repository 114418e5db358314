"""The recurrence as a Numba kernel: scalar_scan and diagonal_scan (same signature as reference).

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t        A_t = a_t I  or  diag(a_t)

``prange`` over (sequence, channel block). A job keeps its channels' state as rows ``hp[p, :]``
and advances each row two steps per pass (the state entry stays in a register).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ._jit import FASTMATH, JIT, at, decay, threads_for
from ._launch import channel_width, flatten
from ..validation import unflatten


@njit(fastmath=FASTMATH, inline="always", **JIT)
def _two_steps(hp, a0, a1, B0, C0, B1, C1, x0, x1):
    """Advance the state row hp of one channel by steps t and t+1; return y_t, y_{t+1}."""
    y0 = hp.dtype.type(0)
    y1 = hp.dtype.type(0)
    for n in range(hp.shape[0]):
        # h_t[n] = a_t[n] h_{t-1}[n] + B_t[n] x_t;  y_t += C_t[n] h_t[n]
        u = at(a0, n) * hp[n] + B0[n] * x0
        y0 += C0[n] * u
        # the same for step t+1, with h_t still in a register
        u = at(a1, n) * u + B1[n] * x1
        y1 += C1[n] * u
        hp[n] = u
    return y0, y1


@njit(fastmath=FASTMATH, inline="always", **JIT)
def _one_step(hp, a0, B0, C0, xp0):
    """Advance one state row by one step; return y_t for that channel."""
    acc = hp.dtype.type(0)
    for n in range(hp.shape[0]):
        # h_t[n] = a_t[n] h_{t-1}[n] + B_t[n] x_t;  y_t += C_t[n] h_t[n]
        u = at(a0, n) * hp[n] + B0[n] * xp0
        hp[n] = u
        acc += C0[n] * u
    return acc


@njit(**JIT)
def state_rows(w, N, like):
    """A job's working copy of its w state columns, as rows (w, N) (dtype of ``like``)."""
    return np.empty((w, N), dtype=like.dtype)


@njit(fastmath=FASTMATH, **JIT)
def _scan_channels(x, a, B, C, h, y, p0, p1):
    """One sequence, channels [p0, p1): y[t, p] = sum_n C[t, n] h_t[n, p]. x, y (T, P), a (T,)
    or (T, N), B, C (T, N), h (N, P) updated in place (through rows hp (p1 - p0, N))."""
    T = x.shape[0]
    N = B.shape[1]
    hp = state_rows(p1 - p0, N, h)
    for n in range(N):
        for p in range(p0, p1):
            hp[p - p0, n] = h[n, p]
    t = 0
    while t + 1 < T:                       # steps t, t+1 in one pass over each state row
        a0, a1 = decay(a, t), decay(a, t + 1)
        B0, C0, B1, C1 = B[t], C[t], B[t + 1], C[t + 1]
        for p in range(p0, p1):
            y[t, p], y[t + 1, p] = _two_steps(hp[p - p0], a0, a1, B0, C0, B1, C1,
                                              x[t, p], x[t + 1, p])
        t += 2
    if t < T:                              # an odd step left over
        for p in range(p0, p1):
            y[t, p] = _one_step(hp[p - p0], decay(a, t), B[t], C[t], x[t, p])
    for n in range(N):
        for p in range(p0, p1):
            h[n, p] = hp[p - p0, n]


@njit(parallel=True, **JIT)
def _scan_kernel(x, a, B, C, h, y, width):
    """All nb sequences: prange over sequences b, or over (b, block of ``width`` channels)."""
    nb, T, P = x.shape
    blocks = (P + width - 1) // width
    if blocks == 1:
        # whole sequences (a separate loop: with the channel range fixed it runs faster)
        for b in prange(nb):
            _scan_channels(x[b], a[b], B[b], C[b], h[b], y[b], 0, P)
    else:
        for job in prange(nb * blocks):
            b = job // blocks
            p0 = (job % blocks) * width
            _scan_channels(x[b], a[b], B[b], C[b], h[b], y[b], p0, min(P, p0 + width))


def _scan(family, x, a, B, C, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    y = np.empty((f.nb, f.T, f.P), dtype=f.dtype)            # every entry is written
    if f.T > 0 and f.nb > 0:
        with threads_for(f.nb * f.T * f.N * f.P):               # a small call: one thread
            _scan_kernel(f.x, f.a, f.B, f.C, f.h0, y, channel_width(f.nb, f.P, 2, 2))
    return unflatten(f, y, f.h0)


@keyword_only
def scalar_scan(x, a, B, C, *, initial_state=None):
    """h_t = a_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t, h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    Returns y (..., T, P) and h_{T-1} (..., N, P). O(T N P) time. Plain twin: cpu.plain."""
    return _scan("scalar", x, a, B, C, initial_state)


@keyword_only
def diagonal_scan(x, a, B, C, *, initial_state=None):
    """h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t; a (..., T, N), else as scalar_scan."""
    return _scan("diagonal", x, a, B, C, initial_state)
