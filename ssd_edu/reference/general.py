"""General time-varying SSM with full state matrices A_t (THEORY.md 2.4).

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t
    M[t, s] = C_t^T A_t A_{t-1} ... A_{s+1} B_s   (t >= s),   the N-SSS representation

Shapes: x (..., T, P), A (..., T, N, N), B and C (..., T, N), h (..., N, P), y (..., T, P).
A diagonal SSM is the case A_t = diag(a_t); the scalar one, A_t = a_t I.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_kernel, check_quadratic, check_ssm
from ._common import start_state


def general_scan(x, A, B, C, initial_state=None):
    """The recurrence with full A_t: O(T N^2 P). Returns y (..., T, P) and h_{T-1} (..., N, P).

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    """
    v = check_ssm("general", x, A, B, C, initial_state, allow_complex=True)
    h = start_state(v)                                   # (..., N, P)
    y = np.empty((*v.batch, v.T, v.P), dtype=v.dtype)
    for t in range(v.T):
        # h_t = A_t h_{t-1} + B_t x_t^T
        h = v.a[..., t, :, :] @ h + v.B[..., t, :, None] * v.x[..., t, None, :]
        # y_t = h_t^T C_t
        y[..., t, :] = np.einsum("...np,...n->...p", h, v.C[..., t, :])
    return y, h


def general_kernel(A, B, C):
    """M[t, s] = C_t^T A_t ... A_{s+1} B_s for t >= s, 0 above: (..., T, T). O(T^2 N^2).

    Column s is the impulse response to B_s: carry V[s] = A_t ... A_{s+1} B_s forward in t.
    """
    v = check_kernel("general", A, B, C, allow_complex=True)
    check_quadratic("general_kernel", v.batch, v.T, v.dtype, copies=2)
    M = np.zeros((*v.batch, v.T, v.T), dtype=v.dtype)
    V = np.zeros((*v.batch, v.T, v.N), dtype=v.dtype)    # V[s] = A_t ... A_{s+1} B_s
    for t in range(v.T):
        # V[s] <- A_t V[s] for s < t;  V[t] = B_t
        V[..., :t, :] = np.einsum("...mn,...sn->...sm", v.a[..., t, :, :], V[..., :t, :])
        V[..., t, :] = v.B[..., t, :]
        # M[t, s] = C_t . V[s]
        M[..., t, : t + 1] = np.einsum("...n,...sn->...s", v.C[..., t, :], V[..., : t + 1, :])
    return M
