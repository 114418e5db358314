"""Reference solutions of the classroom exercises, written the way a student would: plain loops.

A teacher can run them through the graders (``check_one_ss_mask(one_ss_mask)`` passes) or
paste them into the exercise notebooks. They are deliberately *not* the package's vectorized
forms: each one is the definition, computed entry by entry, so a student can compare.
"""
from __future__ import annotations

import numpy as np


def one_ss_mask(a):
    """L[..., t, s] = a_{s+1} ... a_t for t >= s and 0 above; a: (..., T) -> L: (..., T, T).

    Column by column, a running product: L[t, t] = 1, L[t, s] = L[t-1, s] a_t.
    """
    a = np.asarray(a)
    T = a.shape[-1]
    L = np.zeros(a.shape + (T,), dtype=np.result_type(a, 1.0))
    for s in range(T):
        L[..., s, s] = 1.0
        for t in range(s + 1, T):
            # L[t, s] = L[t-1, s] a_t
            L[..., t, s] = L[..., t - 1, s] * a[..., t]
    return L


def segsum(log_a):
    """S[..., t, s] = sum_{s < u <= t} log_a[u] for t >= s and -inf above; (..., T) -> (..., T, T).

    A running sum down each column: nothing is subtracted, so -inf (a zero decay) only ever
    meets finite numbers or another -inf, and no NaN can appear.
    """
    log_a = np.asarray(log_a, dtype=float)
    T = log_a.shape[-1]
    S = np.full(log_a.shape + (T,), -np.inf)
    for s in range(T):
        S[..., s, s] = 0.0
        for t in range(s + 1, T):
            # S[t, s] = S[t-1, s] + log a_t
            S[..., t, s] = S[..., t - 1, s] + log_a[..., t]
    return S


def diagonal_scan(x, a, B, C, initial_state=None):
    """The diagonal recurrence; x (..., T, P), a B C (..., T, N) -> y (..., T, P), h (..., N, P).

    h_t = diag(a_t) h_{t-1} + B_t x_t^T,  y_t = h_t^T C_t,  h_{-1} = initial_state or 0.
    """
    x, a, B, C = (np.asarray(v) for v in (x, a, B, C))
    T, P, N = x.shape[-2], x.shape[-1], a.shape[-1]
    batch = np.broadcast_shapes(x.shape[:-2], a.shape[:-2], B.shape[:-2], C.shape[:-2])
    h = np.zeros((*batch, N, P))
    if initial_state is not None:
        h = h + initial_state
    y = np.zeros((*batch, T, P))
    for t in range(T):
        # h_t = diag(a_t) h_{t-1} + B_t x_t^T   (row n of h decays by a[t, n])
        h = a[..., t, :, None] * h + B[..., t, :, None] * x[..., t, None, :]
        # y_t = h_t^T C_t
        y[..., t, :] = (h * C[..., t, :, None]).sum(axis=-2)
    return y, h


def sum_of_heads(a, B, C):
    """The diagonal kernel M = sum_n 1SS(a[:, n]) o (C[:, n] B[:, n]^T); (..., T, N) -> (..., T, T)."""
    a, B, C = (np.asarray(v) for v in (a, B, C))
    N = a.shape[-1]
    M = 0.0
    for n in range(N):
        mask = one_ss_mask(a[..., :, n])
        # head n: its own mask times the width-1 score C[:, n] B[:, n]^T
        M = M + mask * (C[..., :, n, None] * B[..., None, :, n])
    return M


def pass_states(abar, S, initial_state):
    """The inter-chunk scan H_c = abar_c H_{c-1} + S_c, H_{-1} = initial_state.

    abar (..., J, N), S (..., J, N, P), initial_state (..., N, P). Returns H_prev (..., J, N, P)
    (H_prev[c] = H_{c-1}, the state entering chunk c) and H_last = H_{J-1} (..., N, P).
    """
    abar, S = np.asarray(abar), np.asarray(S)
    J = S.shape[-3]
    H = np.broadcast_to(np.asarray(initial_state, dtype=float), S.shape[:-3] + S.shape[-2:])
    H_prev = np.zeros(S.shape)
    for c in range(J):
        H_prev[..., c, :, :] = H
        # H_c = abar_c H_{c-1} + S_c
        H = abar[..., c, :, None] * H + S[..., c, :, :]
    return H_prev, H


def count_new_columns(M):
    """nu(M): how many columns t have M[t:, t] outside the span of M[t:, :t]. M: (T, T) -> int.

    Column t is new iff appending it to the block M[t:, :t] raises the rank (both restricted
    to the same rows t..T-1). Both ranks use one threshold, taken from the larger block.
    """
    M = np.asarray(M, dtype=float)
    T = M.shape[-1]
    count = 0
    for t in range(T):
        with_col = M[t:, :t + 1]
        before = M[t:, :t]
        sigma = np.linalg.svd(with_col, compute_uv=False)
        tol = (sigma[0] if sigma.size else 0.0) * max(with_col.shape) * np.finfo(float).eps
        r_with = int(np.sum(sigma > tol))
        r_before = int(np.sum(np.linalg.svd(before, compute_uv=False) > tol)) if t else 0
        count += r_with - r_before
    return count
