"""The backward of the attention form on the GPU: scalar_attention_vjp, diagonal_attention_vjp.

The masked matmul with the mask transposed: unrolled, the state's cotangent and the state are

    G_u = sum_{t >= u} L[t, u] C_t dy_t^T + gamma_u dh         (L = 1SS(a))
    h_u = sum_{s <= u} L[u, s] B_s x_s^T + delta_u h_{-1}

then dx_u = G_u^T B_u, dB_u = G_u x_u, dC_u = h_u dy_u, da_u = <G_u, h_{u-1}>,
dh_{-1} = a_0 G_0. One thread per (b, u, n, p) entry forms its G_u and h_{u-1} as these masked
sums (mask entries as running products), work O(T^2 N P), no T x T buffer; the sums over n and
p are atomics. Host inputs only.
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ..vjp import empty
from ._backward import finish_modes, flatten_device_vjp, zero_gradients
from ._cuda import cuda
from ._device import specialized, split_lane
from ._launch import get_tile


def _build_attention_backward(TILE, DIAG, DT):
    """The kernel of one (tile, family, dtype). Per entry (b, u, n, p), na = n or 0::

        G = sum_{t >= u} L[t, u] C[b, t, n] dy[b, t, p] + L[T-1, u] dh[b, n, p]
        hp = sum_{s < u} L[u-1, s] B[b, s, n] x[b, s, p] + L[u-1, -1] h0[b, n, p]
        h = a[b, u, na] hp + B[b, u, n] x[b, u, p]
        dx[b, u, p] += G B[b, u, n];  dB[b, u, n] += G x[b, u, p]
        dC[b, u, n] += h dy[b, u, p];  da[b, u, na] += G hp;  dh0[b, n, p] = a[b, 0, na] G (u = 0)

    Mapping: a 1-D grid over nb T N P entries (p fastest). Shared, local: none.
    """
    def body(x, a, B, C, dy, h0, dh, dx, da, dB, dC, dh0):
        nb, T, P = x.shape
        N = B.shape[2]
        bu, n, na, p = split_lane(N, P, DIAG)       # bu = b T + u
        if bu >= nb * T:
            return
        u = bu % T
        b = bu // T
        # G_u = sum_{t >= u} L[t, u] C_t dy_t^T + gamma_u dh   (L[t, u] = a_{u+1} ... a_t)
        mask = DT(1)
        G = DT(0)
        for t in range(u, T):
            if t > u:
                mask *= a[b, t, na]
            G += mask * C[b, t, n] * dy[b, t, p]
        G += mask * dh[b, n, p]
        # h_{u-1} = sum_{s < u} L[u-1, s] B_s x_s^T + delta_{u-1} h_{-1}
        mask = DT(1)
        hp = DT(0)
        for s in range(u - 1, -1, -1):
            hp += mask * B[b, s, n] * x[b, s, p]
            mask *= a[b, s, na]
        hp += mask * h0[b, n, p]
        # h_u = a_u h_{u-1} + B_u x_u^T
        h = a[b, u, na] * hp + B[b, u, n] * x[b, u, p]
        # dx_u = G_u^T B_u, dB_u = G_u x_u, dC_u = h_u dy_u, da_u = <G_u, h_{u-1}>
        cuda.atomic.add(dx, (b, u, p), G * B[b, u, n])
        cuda.atomic.add(dB, (b, u, n), G * x[b, u, p])
        cuda.atomic.add(dC, (b, u, n), h * dy[b, u, p])
        cuda.atomic.add(da, (b, u, na), G * hp)
        if u == 0:
            dh0[b, n, p] = a[b, 0, na] * G           # dh_{-1} = a_0 G_0

    return body


attention_backward_kernel = specialized(_build_attention_backward)


def _attention_vjp(family, x, a, B, C, dy, dh, initial_state):
    fv, a3 = flatten_device_vjp(family, x, a, B, C, dy, dh, initial_state)   # a3 (nb, T, 1 | N)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    dev = [cuda.to_device(np.ascontiguousarray(arr)) for arr in (
        f.x, a3, f.B, f.C, fv.dy, f.h0, fv.dh)]
    outs = zero_gradients(f.nb, f.T, fv, a3.shape[2])
    dh0 = cuda.device_array((f.nb, f.N, f.P), dtype=f.dtype)
    tile = get_tile()
    lanes = f.nb * f.T * f.N * f.P
    attention_backward_kernel(tile, family, f.dtype)[-(-lanes // tile**2), tile**2](
        *dev, *outs, dh0)
    return finish_modes(fv, family, *(o.copy_to_host() for o in outs), dh0.copy_to_host())


@keyword_only
def scalar_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar attention form on the GPU (host arrays): the transposed-mask sums.

    x, dy (..., T, P), a (..., T), B, C (..., T, N), dh, initial_state (..., N, P) -> Grads.
    """
    return _attention_vjp("scalar", x, a, B, C, dy, dh, initial_state)


@keyword_only
def diagonal_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """As :func:`scalar_attention_vjp` with a (..., T, N)."""
    return _attention_vjp("diagonal", x, a, B, C, dy, dh, initial_state)
