"""General time-varying SSM with full state matrices A_t (docs/theory.md#sss).

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t
    M[t, s] = C_t^T A_t A_{t-1} ... A_{s+1} B_s   (t >= s),   the N-SSS representation

Shapes: x (..., T, P), A (..., T, N, N), B and C (..., T, N), h (..., N, P), y (..., T, P).
A diagonal SSM is the case A_t = diag(a_t); the scalar one, A_t = a_t I.
"""
from __future__ import annotations

import numpy as np

from ._common import kernel_form, ssm_form


@ssm_form("general")
def general_scan(x, A, B, C, *, initial_state=None):
    """The recurrence with full A_t, h_{-1} = initial_state (default 0): O(T N^2 P). Returns
    y (..., T, P) and h_{T-1} (..., N, P)."""
    h = initial_state                                    # (..., N, P)
    y = np.empty((*h.shape[:-2], x.shape[-2], x.shape[-1]), dtype=h.dtype)   # (..., T, P)
    for t in range(x.shape[-2]):
        # h_t = A_t h_{t-1} + B_t x_t^T
        h = A[..., t, :, :] @ h + B[..., t, :, None] * x[..., t, None, :]
        # y_t = h_t^T C_t
        y[..., t, :] = np.einsum("...np,...n->...p", h, C[..., t, :])
    return y, h


@kernel_form("general", quadratic=2)
def general_kernel(A, B, C):
    """M[t, s] = C_t^T A_t ... A_{s+1} B_s for t >= s, 0 above: (..., T, T). O(T^2 N^2).
    Column s is the impulse response to B_s: carry V[s] = A_t ... A_{s+1} B_s forward in t."""
    lead = np.broadcast_shapes(A.shape[:-3], B.shape[:-2], C.shape[:-2])
    T, N = B.shape[-2:]
    dtype = np.result_type(A, B, C)
    M = np.zeros((*lead, T, T), dtype=dtype)
    V = np.zeros((*lead, T, N), dtype=dtype)             # V[s] = A_t ... A_{s+1} B_s
    for t in range(T):
        # V[s] <- A_t V[s] for s < t;  V[t] = B_t
        V[..., :t, :] = np.einsum("...mn,...sn->...sm", A[..., t, :, :], V[..., :t, :])
        V[..., t, :] = B[..., t, :]
        # M[t, s] = C_t . V[s]
        M[..., t, : t + 1] = np.einsum("...n,...sn->...s", C[..., t, :], V[..., : t + 1, :])
    return M
