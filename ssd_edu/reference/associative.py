"""The associative scan, a fourth form: the recurrence as a prefix product
(docs/theory.md#associative-scan).

Each step is the affine map h -> A_t h + U_t with U_t = B_t x_t^T (N, P). Two maps compose as

    (A2, U2) o (A1, U1) = (A2 A1, A2 U1 + U2)            (A acting on the rows of U)

and the composition is associative, so all prefixes h_t = (A_t, U_t) o ... o (A_0, U_0) (h_{-1})
come out of ceil(log2 T) vectorized passes (Hillis-Steele: pass d combines every step t >= d
with step t - d). That is how a GPU runs the recurrence in parallel over T. Every decay product
is taken directly (no log, no division), so zero and negative decays stay exact.
The initial state enters as the prefix element: U_0 <- A_0 h_{-1} + U_0.

Shapes: x (..., T, P), a (..., T) (scalar family) or (..., T, N) (diagonal family), B, C
(..., T, N), initial_state (..., N, P). Cost: O(T N P log T) time, O(T N P) memory (every
h_t is held at once; the scan form holds one).
"""
from __future__ import annotations

import numpy as np

from ._common import ssm_form


def _compose(A, U, d):
    """One Hillis-Steele pass: (A_t, U_t) <- (A_t, U_t) o (A_{t-d}, U_{t-d}) for every t >= d.

    A (..., T, K, 1), U (..., T, N, P); reads only the previous pass, returns new arrays.
    """
    A_new, U_new = A.copy(), U.copy()
    # (A2, U2) o (A1, U1) = (A2 A1, A2 U1 + U2)
    A_new[..., d:, :, :] = A[..., d:, :, :] * A[..., :-d, :, :]
    U_new[..., d:, :, :] = A[..., d:, :, :] * U[..., :-d, :, :] + U[..., d:, :, :]
    return A_new, U_new


def _prefix_maps(A, U):
    """All prefix compositions of the maps (A_t, U_t) along the time axis -3 of U.

    A (..., T, K, 1) with K = 1 (scalar) or N (diagonal), U (..., T, N, P). Returns the U part
    of (A_t, U_t) o ... o (A_0, U_0) for every t: with U_0 holding h_{-1}, that is h_t.
    ceil(log2 T) passes, d = 1, 2, 4, ...
    """
    d = 1
    while d < U.shape[-3]:
        A, U = _compose(A, U, d)
        d *= 2
    return U


def _associative_scan(decay, x, B, C, initial_state):
    """decay (..., T, K, 1): the shared body of both families."""
    # U_t = B_t x_t^T
    U = B[..., :, :, None] * x[..., :, None, :]                      # (..., T, N, P)
    lead = np.broadcast_shapes(U.shape[:-3], decay.shape[:-3], initial_state.shape[:-2])
    U = np.broadcast_to(U, (*lead, *U.shape[-3:])).copy()
    # the initial state is the prefix element: U_0 <- A_0 h_{-1} + U_0
    U[..., 0, :, :] += decay[..., 0, :, :] * initial_state
    h = _prefix_maps(decay, U)                                        # h_t, (..., T, N, P)
    # y_t = h_t^T C_t
    y = np.einsum("...tnp,...tn->...tp", h, C)
    return y, h[..., -1, :, :]


@ssm_form("scalar")
def scalar_associative_scan(x, a, B, C, *, initial_state=None):
    """The scalar recurrence as ceil(log2 T) passes of an associative scan.

    h_t = a_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t;  (a2, U2) o (a1, U1) = (a2 a1, a2 U1 + U2).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P).
    """
    return _associative_scan(a[..., :, None, None], x, B, C, initial_state)


@ssm_form("diagonal")
def diagonal_associative_scan(x, a, B, C, *, initial_state=None):
    """The diagonal recurrence as ceil(log2 T) passes of an associative scan.

    h_t = diag(a_t) h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t;
    (a2, U2) o (a1, U1) = (a2 a1, diag(a2) U1 + U2), elementwise per mode.
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P).
    """
    return _associative_scan(a[..., :, :, None], x, B, C, initial_state)
