"""The backward of the recurrence on the GPU: scalar_scan_vjp and diagonal_scan_vjp.

The reverse-time scan (G_t = d loss / d h_t):

    G_t = a_{t+1} o G_{t+1} + C_t dy_t^T     (G_{T-1} = C_{T-1} dy_{T-1}^T + dh)
    dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t,  da_t = sum_p G_t o h_{t-1},
    dh_{-1} = a_0 o G_0

One thread per (sequence b, state n, channel p) lane: a forward pass keeps the state entering
every chunk of ``CHECKPOINT`` steps, then chunk by chunk from the last the lane recomputes its
states into a local array and sweeps them backward. The sums over lanes are ``cuda.atomic.add``
(the order of the additions varies: last-bit differences between runs). Host inputs only.
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ..vjp import empty
from ._backward import finish_modes, flatten_device_vjp, zero_gradients
from ._cuda import cuda
from ._device import specialized, split_lane
from ._launch import get_tile

#: Steps between stored states; also the size of each lane's local array of states.
CHECKPOINT = 16


def _build_scan_backward(TILE, DIAG, DT):
    """The kernel of one (tile, family, dtype). Per lane (b, n, p), na = n (diagonal) or 0::

        h = h0[b, n, p]; ck[b, c, n, p] = h entering chunk c    # forward, t = 0 .. T-1
        g = dh[b, n, p]
        for t = T-1 .. 0:                                        # h_t, h_{t-1} recomputed
            G = g + C[b, t, n] dy[b, t, p]                       # G_t
            dx[b, t, p] += G B[b, t, n];   dB[b, t, n] += G x[b, t, p]
            dC[b, t, n] += h_t dy[b, t, p]; da[b, t, na] += G h_{t-1}
            g = a[b, t, na] G
        dh0[b, n, p] = g

    Mapping: a 1-D grid over nb N P lanes (p fastest). Local: CHECKPOINT + 1 states.
    """
    Q = CHECKPOINT
    STATES = CHECKPOINT + 1                      # a closure constant: the local array's size

    def body(x, a, B, C, dy, h0, g, ck, dx, da, dB, dC):
        nb, T, P = x.shape
        N = B.shape[2]
        b, n, na, p = split_lane(N, P, DIAG)
        if b >= nb:
            return
        J = (T + Q - 1) // Q
        # forward: h_t = a_t h_{t-1} + B_t x_t, keeping the state entering each chunk
        h = h0[b, n, p]
        for t in range(T):
            if t % Q == 0:
                ck[b, t // Q, n, p] = h
            h = a[b, t, na] * h + B[b, t, n] * x[b, t, p]
        hc = cuda.local.array(STATES, DT)         # hc[i] = h_{t0+i-1}
        gv = g[b, n, p]                          # a_{t+1} G_{t+1}; dh at t = T-1
        for c in range(J - 1, -1, -1):
            t0 = c * Q
            q = min(Q, T - t0)
            hc[0] = ck[b, c, n, p]
            for i in range(q):
                hc[i + 1] = a[b, t0 + i, na] * hc[i] + B[b, t0 + i, n] * x[b, t0 + i, p]
            for i in range(q - 1, -1, -1):
                t = t0 + i
                # G_t = a_{t+1} G_{t+1} + C_t dy_t^T
                G = gv + C[b, t, n] * dy[b, t, p]
                # dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = G_t o h_{t-1}
                cuda.atomic.add(dx, (b, t, p), G * B[b, t, n])
                cuda.atomic.add(dB, (b, t, n), G * x[b, t, p])
                cuda.atomic.add(dC, (b, t, n), hc[i + 1] * dy[b, t, p])
                cuda.atomic.add(da, (b, t, na), G * hc[i])
                gv = a[b, t, na] * G
        g[b, n, p] = gv                          # dh_{-1} = a_0 G_0

    return body


scan_backward_kernel = specialized(_build_scan_backward)


def _scan_vjp(family, x, a, B, C, dy, dh, initial_state):
    fv, a3 = flatten_device_vjp(family, x, a, B, C, dy, dh, initial_state)   # a3 (nb, T, 1 | N)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    J = -(-f.T // CHECKPOINT)
    dev = [cuda.to_device(np.ascontiguousarray(arr)) for arr in (f.x, a3, f.B, f.C, fv.dy,
                                                                   f.h0)]
    g = cuda.to_device(np.array(fv.dh))
    ck = cuda.device_array((f.nb, J, f.N, f.P), dtype=f.dtype)
    outs = zero_gradients(f.nb, f.T, fv, a3.shape[2])
    tile = get_tile()
    lanes = f.nb * f.N * f.P
    scan_backward_kernel(tile, family, f.dtype)[-(-lanes // tile**2), tile**2](*dev, g, ck,
                                                                            *outs)
    return finish_modes(fv, family, *(o.copy_to_host() for o in outs), g.copy_to_host())


@keyword_only
def scalar_scan_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar scan on the GPU (host arrays): the reverse-time scan per lane.

    x, dy (..., T, P), a (..., T), B, C (..., T, N), dh, initial_state (..., N, P) -> Grads.
    """
    return _scan_vjp("scalar", x, a, B, C, dy, dh, initial_state)


@keyword_only
def diagonal_scan_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """As :func:`scalar_scan_vjp` with a (..., T, N)."""
    return _scan_vjp("diagonal", x, a, B, C, dy, dh, initial_state)
