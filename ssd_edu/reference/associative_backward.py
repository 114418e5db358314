"""VJPs of the associative-scan form: the reverse-time scan, as an associative scan too.

The backward recurrence ``G_t = a_{t+1} o G_{t+1} + C_t dy_t^T`` (G_{T-1} = C_{T-1} dy_{T-1}^T +
dh) is the same kind of affine map as the forward, run from the end: with time reversed it is
``G <- A' G + U'`` with A'_t = a_{t+1} (a_T = 1) and U'_t = C_t dy_t^T, and dh enters as the
prefix element. So ceil(log2 T) passes of ``associative._prefix_maps`` give every G_t, as they
give every h_t; then dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = <G_t, h_{t-1}>
(summed over n as well in the scalar family), dh_{-1} = a_0 o G_0. O(T N P log T) time, O(T N P)
memory (every state and gradient at once: the form's nature).
"""
from __future__ import annotations

import numpy as np

from .associative import _prefix_maps
from .backward import vjp_form


def _associative_grads(family, x, a, B, C, dy, h0, dh):
    decay = a[..., :, None, None] if family == "scalar" else a[..., :, :, None]  # (..., T, K, 1)
    lead = np.broadcast_shapes(x.shape[:-2], decay.shape[:-3], B.shape[:-2], C.shape[:-2],
                               dy.shape[:-2], h0.shape[:-2])
    T, N, P = x.shape[-2], B.shape[-1], x.shape[-1]
    # forward: U_t = B_t x_t^T with h_{-1} as the prefix element -> every h_t
    U = np.broadcast_to(B[..., :, :, None] * x[..., :, None, :], (*lead, T, N, P)).copy()
    U[..., 0, :, :] += decay[..., 0, :, :] * h0
    h = _prefix_maps(decay, U)                                        # (..., T, N, P)
    h_prev = np.concatenate([np.broadcast_to(h0[..., None, :, :], (*lead, 1, N, P)),
                             h[..., :-1, :, :]], axis=-3)             # h_{t-1}
    # backward: G_t = a_{t+1} o G_{t+1} + C_t dy_t^T, time reversed, dh the prefix element
    a_next = np.concatenate([decay[..., 1:, :, :], np.ones_like(decay[..., :1, :, :])], axis=-3)
    V = np.broadcast_to(C[..., :, :, None] * dy[..., :, None, :], (*lead, T, N, P)).copy()
    V[..., -1, :, :] += dh
    G = np.flip(_prefix_maps(np.flip(a_next, -3), np.flip(V, -3).copy()), -3)
    # dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = sum_p G_t o h_{t-1}
    dx = np.einsum("...tnp,...tn->...tp", G, B)
    dB = np.einsum("...tnp,...tp->...tn", G, x)
    dC = np.einsum("...tnp,...tp->...tn", h, dy)
    da = np.sum(G * h_prev, axis=-1)
    if family == "scalar":
        da = da.sum(axis=-1)
    # dh_{-1} = a_0 o G_0
    return dx, da, dB, dC, decay[..., 0, :, :] * G[..., 0, :, :]


@vjp_form("scalar")
def scalar_associative_scan_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the scalar associative scan: both scans as ceil(log2 T) associative passes.

    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None)``; shapes as the scan's. Returns Grads.
    """
    return _associative_grads("scalar", x, a, B, C, dy, h0, dh)


@vjp_form("diagonal")
def diagonal_associative_scan_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the diagonal associative scan: both scans as ceil(log2 T) associative passes.

    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None)``; shapes as the scan's. Returns Grads.
    """
    return _associative_grads("diagonal", x, a, B, C, dy, h0, dh)
