"""Scalar-identity SSM (A_t = a_t I_N): one model, three algorithms (docs/theory.md#scalar-ssd,
#chunked).

    h_t = a_t h_{t-1} + B_t x_t^T        (N, P)
    y_t = h_t^T C_t                      (P,)
    M   = 1SS(a) o (C B^T),   y = M x  + (C_t a_0 ... a_t)^T h_{-1}

Shapes: x (..., T, P), a (..., T), B and C (..., T, N), h (..., N, P), y (..., T, P). Every
form returns ``(y, final_state)``. Einsum letters: t, s time; n state; p channel; c chunk.
"""
from __future__ import annotations

import numpy as np

from ._common import kernel_form, ssm_form
from .chunking import chunk_output, chunk_states, intra_chunk, state_passing
from .masks import one_ss_mask, prefix_products, suffix_products


def scan(x, a, B, C, h):
    """The recurrence of both families, a (..., T, m) with m = 1 or N; h = h_{-1} (..., N, P)."""
    y = np.empty((*h.shape[:-2], x.shape[-2], x.shape[-1]), dtype=h.dtype)   # (..., T, P)
    for t in range(x.shape[-2]):
        # h_t = diag(a_t) h_{t-1} + B_t x_t^T
        h = a[..., t, :, None] * h + B[..., t, :, None] * x[..., t, None, :]
        # y_t = h_t^T C_t
        y[..., t, :] = np.einsum("...np,...n->...p", h, C[..., t, :])
    return y, h


def chunked(x, a, B, C, chunk_size, h0):
    """The four steps of ``chunking``, a (..., T, m): y = y_diag + y_off, h = H_{J-1}."""
    y_diag = intra_chunk(x, a, B, C, chunk_size=chunk_size)
    S, abar = chunk_states(x, a, B, chunk_size=chunk_size)
    H_prev, h = state_passing(abar, S, initial_state=h0)
    y_off = chunk_output(a, C, H_prev, chunk_size=chunk_size)
    return y_diag + y_off, h


@ssm_form("scalar")
def scalar_scan(x, a, B, C, *, initial_state=None):
    """The recurrence h_t = a_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t one step at a time: the
    oracle. O(T N P) time. Returns y (..., T, P) and h_{T-1} (..., N, P)."""
    return scan(x, a[..., None], B, C, initial_state)


@kernel_form("scalar", quadratic=3)
def scalar_kernel(a, B, C):
    """The sequence-mixing matrix M = 1SS(a) o (C B^T): (..., T, T), ``y = M x`` when h_{-1} = 0;
    M[t, s] = a_{s+1} ... a_t (C_t . B_s) for t >= s, 0 above the diagonal."""
    # M = 1SS(a) o (C B^T)
    return one_ss_mask(a) * np.einsum("...tn,...sn->...ts", C, B)


@ssm_form("scalar", quadratic=3)
def scalar_attention(x, a, B, C, *, initial_state=None):
    """Masked attention, the dual of the scan: ``y = (1SS(a) o C B^T) x`` with Q = C, K = B,
    V = x, delta_t = a_0 ... a_t, gamma_s = a_{s+1} ... a_{T-1}. O(T^2 (N + P)) time."""
    h0 = initial_state
    M = scalar_kernel.__wrapped__(a, B, C)               # (..., T, T)
    delta, gamma = prefix_products(a), suffix_products(a)   # (..., T)
    # y = M x + (delta_t C_t)^T h_{-1}
    y = M @ x + np.einsum("...t,...tn,...np->...tp", delta, C, h0)
    # h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}
    h = np.einsum("...s,...sn,...sp->...np", gamma, B, x) + delta[..., -1, None, None] * h0
    return y, h


@ssm_form("scalar")
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The block algorithm: attention inside chunks of Q steps, the recurrence across them
    (the four steps with a[..., None]). O(T Q (N + P) + T N P) time; any chunk_size >= 1."""
    return chunked(x, a[..., None], B, C, chunk_size, initial_state)
