"""The associative scan, a fourth form, and its VJP (docs/theory.md#associative-scan).

Each step is the affine map h -> A_t h + U_t with U_t = B_t x_t^T (N, P). Two maps compose as

    (A2, U2) o (A1, U1) = (A2 A1, A2 U1 + U2)            (A acting on the rows of U)

an associative product: all prefixes h_t in ceil(log2 T) passes (Hillis-Steele: pass d combines
step t with t - d), h_{-1} entering as U_0 <- A_0 h_{-1} + U_0. The backward
G_t = a_{t+1} o G_{t+1} + C_t dy_t^T is the same scan run from the end, dh its prefix element.
O(T N P log T) time, O(T N P) memory.
"""
from __future__ import annotations

import numpy as np

from ._common import ssm_form
from .backward import vjp_form


def _compose(A, U, d):
    """One Hillis-Steele pass: (A_t, U_t) <- (A_t, U_t) o (A_{t-d}, U_{t-d}) for every t >= d;
    A (..., T, K, 1), U (..., T, N, P); returns new arrays."""
    A_new, U_new = A.copy(), U.copy()
    # (A2, U2) o (A1, U1) = (A2 A1, A2 U1 + U2)
    A_new[..., d:, :, :] = A[..., d:, :, :] * A[..., :-d, :, :]
    U_new[..., d:, :, :] = A[..., d:, :, :] * U[..., :-d, :, :] + U[..., d:, :, :]
    return A_new, U_new


def _prefix_maps(A, U, first):
    """The U part of (A_t, U_t) o ... o (A_0, U_0) along the time axis -3, for every t, with
    ``first`` (..., N, P) entering as A_0 first + U_0. A (..., T, K, 1) with K = 1 or N."""
    lead = np.broadcast_shapes(U.shape[:-3], A.shape[:-3], first.shape[:-2])
    U = np.broadcast_to(U, (*lead, *U.shape[-3:])).copy()
    U[..., 0, :, :] += A[..., 0, :, :] * first
    d = 1
    while d < U.shape[-3]:
        A, U = _compose(A, U, d)
        d *= 2
    return U


def _states(family, x, a, B, h0):
    """decay (..., T, K, 1) and every state h_t (..., T, N, P) by one prefix scan."""
    decay = a[..., :, None, None] if family == "scalar" else a[..., :, :, None]
    # U_t = B_t x_t^T
    return decay, _prefix_maps(decay, B[..., :, :, None] * x[..., :, None, :], h0)


@ssm_form("scalar")
def scalar_associative_scan(x, a, B, C, *, initial_state=None):
    """The scalar recurrence h_t = a_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t as ceil(log2 T)
    passes of an associative scan. Returns y (..., T, P) and h_{T-1} (..., N, P)."""
    h = _states("scalar", x, a, B, initial_state)[1]
    # y_t = h_t^T C_t
    return np.einsum("...tnp,...tn->...tp", h, C), h[..., -1, :, :]


@ssm_form("diagonal")
def diagonal_associative_scan(x, a, B, C, *, initial_state=None):
    """The diagonal recurrence h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t as
    ceil(log2 T) passes of an associative scan. Returns y (..., T, P) and h_{T-1} (..., N, P)."""
    h = _states("diagonal", x, a, B, initial_state)[1]
    # y_t = h_t^T C_t
    return np.einsum("...tnp,...tn->...tp", h, C), h[..., -1, :, :]


def _associative_grads(family, x, a, B, C, dy, h0, dh):
    decay, h = _states(family, x, a, B, h0)                           # h_t, (..., T, N, P)
    h_first = np.broadcast_to(h0[..., None, :, :], h[..., :1, :, :].shape)
    h_prev = np.concatenate([h_first, h[..., :-1, :, :]], axis=-3)   # h_{t-1}
    # G_t = a_{t+1} o G_{t+1} + C_t dy_t^T: time reversed, dh the prefix element (a_T = 1)
    a_next = np.concatenate([decay[..., 1:, :, :], np.ones_like(decay[..., :1, :, :])], axis=-3)
    V = C[..., :, :, None] * dy[..., :, None, :]
    G = np.flip(_prefix_maps(np.flip(a_next, -3), np.flip(V, -3), dh), -3)
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
    """VJP of the scalar associative scan: both scans as ceil(log2 T) associative passes."""
    return _associative_grads("scalar", x, a, B, C, dy, h0, dh)


@vjp_form("diagonal")
def diagonal_associative_scan_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the diagonal associative scan: both scans as ceil(log2 T) associative passes."""
    return _associative_grads("diagonal", x, a, B, C, dy, h0, dh)
