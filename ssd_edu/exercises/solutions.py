"""Reference solutions of the exercises, written as a student would: the definitions in plain
loops, not the package's vectorized forms (the recurrences share ``_ssm_start``)."""
from __future__ import annotations

import numpy as np

from .backward import scalar_scan_backward  # noqa: F401  (exercise 13's, with its grader)


def _rank(X) -> int:
    return int(np.linalg.matrix_rank(X)) if X.size and np.any(X) else 0


def one_ss_mask(a):
    """L[..., t, s] = a_{s+1} ... a_t for t >= s, 0 above; a (..., T) -> L (..., T, T)."""
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
    """S[..., t, s] = sum_{s < u <= t} log_a[u] for t >= s, -inf above; (..., T) -> (..., T, T);
    a running sum: nothing subtracted, so -inf never meets -inf (no NaN)."""
    log_a = np.asarray(log_a, dtype=float)
    T = log_a.shape[-1]
    S = np.full(log_a.shape + (T,), -np.inf)
    for s in range(T):
        S[..., s, s] = 0.0
        for t in range(s + 1, T):
            # S[t, s] = S[t-1, s] + log a_t
            S[..., t, s] = S[..., t - 1, s] + log_a[..., t]
    return S


def _ssm_start(x, a, B, C, initial_state):
    """Arrays, sizes (T, P, N), the start state h_{-1} (..., N, P) and zero outputs (..., T, P)."""
    x, a, B, C = (np.asarray(v) for v in (x, a, B, C))
    T, P, N = x.shape[-2], x.shape[-1], a.shape[-1]
    batch = np.broadcast_shapes(x.shape[:-2], a.shape[:-2], B.shape[:-2], C.shape[:-2])
    h = np.zeros((*batch, N, P))
    if initial_state is not None:
        h = h + initial_state
    return (x, a, B, C), (T, P, N), h, np.zeros((*batch, T, P))


def diagonal_scan(x, a, B, C, initial_state=None):
    """h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t, h_{-1} = initial_state or 0.

    x (..., T, P), a, B, C (..., T, N) -> y (..., T, P), h (..., N, P)."""
    (x, a, B, C), (T, P, N), h, y = _ssm_start(x, a, B, C, initial_state)
    for t in range(T):
        # h_t = diag(a_t) h_{t-1} + B_t x_t^T   (row n of h decays by a[t, n])
        h = a[..., t, :, None] * h + B[..., t, :, None] * x[..., t, None, :]
        # y_t = h_t^T C_t
        y[..., t, :] = (h * C[..., t, :, None]).sum(axis=-2)
    return y, h


def sum_of_heads(a, B, C):
    """M = sum_n 1SS(a[:, n]) o (C[:, n] B[:, n]^T); (..., T, N) -> (..., T, T)."""
    a, B, C = (np.asarray(v) for v in (a, B, C))
    # head n: its own mask times the width-1 score C[:, n] B[:, n]^T
    return sum(one_ss_mask(a[..., :, n]) * (C[..., :, n, None] * B[..., None, :, n])
               for n in range(a.shape[-1]))


def pass_states(abar, S, initial_state):
    """H_c = abar_c H_{c-1} + S_c from H_{-1} = initial_state (..., N, P); abar (..., J, N),
    S (..., J, N, P) -> H_prev (..., J, N, P) (H_prev[c] = H_{c-1}), H_last = H_{J-1}."""
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
    """nu(M): the number of t with rank M[t:, :t+1] > rank M[t:, :t]."""
    M = np.asarray(M, dtype=float)
    return sum(_rank(M[t:, :t + 1]) - _rank(M[t:, :t]) for t in range(M.shape[-1]))


def algorithm1(x, a, B, C, initial_state=None):
    """Algorithm 1, one scalar scan per mode n: Z = B[:, n] o x, H_t = a[t, n] H_{t-1} + Z_t
    from initial_state[n], y += C[:, n] o H; h[n] = the last H. Shapes as diagonal_scan."""
    (x, a, B, C), (T, P, N), h0, y = _ssm_start(x, a, B, C, initial_state)
    h = np.zeros_like(h0)
    for n in range(N):
        # Z = diag(b^n) x
        Z = B[..., :, n, None] * x
        H = h0[..., n, :]
        for t in range(T):
            # H_t = a[t, n] H_{t-1} + Z_t, then y_t += c^n_t H_t
            H = a[..., t, n, None] * H + Z[..., t, :]
            y[..., t, :] += C[..., t, n, None] * H
        h[..., n, :] = H
    return y, h


def chunked_scan(x, a, B, C, chunk_size, initial_state=None):
    """The four-step chunked algorithm (docs/theory.md#chunked), for each chunk b..e entered
    with state H: 1-2. y_c, S_c from a zero state; 3. H_c = diag(abar_c) H + S_c;
    4. y_c[t] += (C_t o delta_t)^T H, delta_t = prod_{b <= u <= t} a_u."""
    (x, a, B, C), (T, P, N), H, y = _ssm_start(x, a, B, C, initial_state)
    for b in range(0, T, chunk_size):
        e = min(b + chunk_size, T)
        y_c, S_c = diagonal_scan(x[..., b:e, :], a[..., b:e, :], B[..., b:e, :], C[..., b:e, :])
        delta = np.cumprod(a[..., b:e, :], axis=-2)          # (..., Q, N)
        # 4. y_c[t] += (C_t o delta_t)^T H
        y[..., b:e, :] = y_c + np.einsum("...tn,...tn,...np->...tp", C[..., b:e, :], delta, H)
        # 3. H_c = diag(abar_c) H_{c-1} + S_c
        H = delta[..., -1, :, None] * H + S_c
    return y, H


def ss_rank(M):
    """The semiseparable rank max_t rank M[t:, :t+1] (inclusive blocks). M: (T, T) -> int."""
    M = np.asarray(M, dtype=float)
    return max((_rank(M[t:, :t + 1]) for t in range(M.shape[0])), default=0)


def split_points(M):
    """The t in 1..T-1 where the crossing block M[t:, :t] is exactly zero. M: (T, T) -> list."""
    M = np.asarray(M)
    return [t for t in range(1, M.shape[0]) if not np.any(M[t:, :t])]


def _complete(M):
    """A rank-nu(M) completion of M's lower triangle (docs/theory.md#prop-4-2)."""
    R = np.tril(M).astype(float)
    for t in range(1, M.shape[0]):
        block, new = M[t:, :t], _rank(M[t:, :t + 1]) > _rank(M[t:, :t])
        # M[t:, :t] alpha = M[t:, t], then R[:t, t] = R[:t, :t] alpha (0 for a new column)
        R[:t, t] = 0.0 if new else R[:t, :t] @ np.linalg.lstsq(block, M[t:, t], rcond=None)[0]
    return R


def one_ss_dual(M, N):
    """(a, Q, K) with 1SS(a) o (Q K^T) == M, width N (Theorem 4.1): a = 0 at the split points,
    each block completed to rank nu(M_k), factored by SVD; ValueError if nu(M_k) > N."""
    M = np.asarray(M, dtype=float)
    T = M.shape[0]
    cuts = [0, *split_points(M), T]
    a, Q, K = np.ones(T), np.zeros((T, N)), np.zeros((T, N))
    a[cuts[1:-1]] = 0.0                                      # a = 0 at the split points
    for b, e in zip(cuts[:-1], cuts[1:]):
        block = M[b:e, b:e]
        r = count_new_columns(block)
        if r > N:
            raise ValueError(f"block [{b}, {e}) has {r} new columns > N = {N}: no width-N dual")
        if r == 0:
            continue
        U, s, Vt = np.linalg.svd(_complete(block))
        # R_k = (U_r S_r^1/2)(V_r S_r^1/2)^T
        Q[b:e, :r] = U[:, :r] * np.sqrt(s[:r])
        K[b:e, :r] = Vt[:r].T * np.sqrt(s[:r])
    return a, Q, K


def power_kernel(T, base=2):
    """E[i][j] = base^((i+1)(j+1)) for j <= i, 0 above: T rows of exact Python ints."""
    return [[base ** ((i + 1) * (j + 1)) if j <= i else 0 for j in range(T)] for i in range(T)]
