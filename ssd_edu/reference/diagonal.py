"""Diagonal SSM (A_t = diag(a_t)): a sum of N 1-SS masked attentions (docs/theory.md#diagonal-ssd to
#algorithm-1, #chunked).

    h_t = diag(a_t) h_{t-1} + B_t x_t^T          (N, P): row n of h decays by a[t, n]
    y_t = h_t^T C_t
    M   = sum_n 1SS(a[:, n]) o (C[:, n] B[:, n]^T)          one width-1 head per mode n

Shapes: x (..., T, P), a (..., T, N), B and C (..., T, N), h (..., N, P), y (..., T, P).
"""
from __future__ import annotations

import numpy as np

from ..validation import check_kernel
from ._common import kernel_form, ssm_form
from .masks import one_ss_mask, prefix_products, suffix_products
from .scalar import chunked, scalar_scan, scan


@ssm_form("diagonal")
def diagonal_scan(x, a, B, C, *, initial_state=None):
    """The recurrence h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t one step at a time:
    the oracle. O(T N P) time. Returns y (..., T, P) and h_{T-1} (..., N, P)."""
    return scan(x, a, B, C, initial_state)


@ssm_form("diagonal")
def diagonal_algorithm1(x, a, B, C, *, initial_state=None):
    """The paper's Algorithm 1 (docs/theory.md#algorithm-1): N independent scalar scans,
    y = sum_n diag(C[:, n]) 1SS(a[:, n]) diag(B[:, n]) x. O(T N P) time."""
    h0 = initial_state                                   # (..., N, P)
    y = np.zeros((*h0.shape[:-2], *x.shape[-2:]), dtype=h0.dtype)
    h = np.empty_like(h0)
    ones = np.ones((x.shape[-2], 1), dtype=h0.dtype)
    for n in range(h0.shape[-2]):
        # Z = diag(b^n) x
        Z = B[..., :, n, None] * x
        # H_t = a[t, n] H_{t-1} + Z_t: a scalar scan with one state (N = 1, B = C = 1)
        H, h[..., n : n + 1, :] = scalar_scan(Z, a[..., n], ones, ones,
                                              initial_state=h0[..., n : n + 1, :])
        # y += diag(c^n) H
        y += C[..., :, n, None] * H
    return y, h


@kernel_form("diagonal", quadratic=3, per_mode=True)
def diagonal_heads(a, B, C):
    """The N per-mode 1-SS masked attentions, heads[n] = 1SS(a[:, n]) o (C[:, n] B[:, n]^T):
    (..., N, T, T). Their sum over n is the kernel M."""
    L = one_ss_mask(np.swapaxes(a, -1, -2))              # (..., N, T, T)
    # heads[n, t, s] = L_n[t, s] C[t, n] B[s, n]
    return L * np.einsum("...tn,...sn->...nts", C, B)


@kernel_form("diagonal", quadratic=3, per_mode=True)
def diagonal_kernel(a, B, C):
    """The sequence-mixing matrix (..., T, T), ``y = M x`` when h_{-1} = 0: M[t, s] =
    sum_n C[t, n] a[s+1, n] ... a[t, n] B[s, n] for t >= s, 0 above the diagonal."""
    L = one_ss_mask(np.swapaxes(a, -1, -2))              # (..., N, T, T)
    # M[t, s] = sum_n C[t, n] L_n[t, s] B[s, n]
    return np.einsum("...tn,...nts,...sn->...ts", C, L, B)


@ssm_form("diagonal", quadratic=3)
def diagonal_attention(x, a, B, C, *, initial_state=None):
    """The sum of N 1-SS masked attentions, one head per mode: O(N T^2 P) time, O(T^2) memory;
    delta[t, n] = a[0, n] ... a[t, n], gamma[s, n] = a[s+1, n] ... a[T-1, n]."""
    h0 = initial_state
    y = np.zeros((*h0.shape[:-2], *x.shape[-2:]), dtype=h0.dtype)
    for n in range(h0.shape[-2]):
        # head n: y += C[:, n] o (1SS(a[:, n]) (B[:, n] o x))
        L_n = one_ss_mask(a[..., n])                     # (..., T, T)
        y += C[..., :, n, None] * (L_n @ (B[..., :, n, None] * x))
    delta, gamma = prefix_products(a, axis=-2), suffix_products(a, axis=-2)   # (..., T, N)
    # y_t += (C_t o delta_t)^T h_{-1}
    y += np.einsum("...tn,...tn,...np->...tp", C, delta, h0)
    # h_{T-1} = sum_s (gamma_s o B_s) x_s^T + delta_{T-1} o h_{-1}
    h = np.einsum("...sn,...sn,...sp->...np", gamma, B, x) + delta[..., -1, :, None] * h0
    return y, h


@ssm_form("diagonal")
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The block algorithm with per-mode decays: the four steps of ``chunking``, one mask per
    mode. O(T Q N P) time; any chunk_size >= 1 and any T."""
    return chunked(x, a, B, C, chunk_size, initial_state)


def diagonal_single_mask(a, B, C):
    """The single-mask rewrite (docs/theory.md#single-mask): a, B, C (..., T, N) -> (C', B').
    If a[1:] has no zero, with p[t, n] = a[1, n] ... a[t, n] (p[0] = 1):
        C' = C o p,   B' = B / p,   M = tril(C' B'^T)      one causal mask of width N
    A zero a[t >= 1, n] is refused (the mask splits into blocks, Lemma 4.1). Exact algebra, but
    p underflows at long T (then B' = inf and M is NaN): for short spans only.
    """
    v = check_kernel("diagonal", a, B, C, allow_complex=True)
    a, B, C = v.a, v.B, v.C
    zeros = np.argwhere(a[..., 1:, :] == 0)
    if zeros.size:
        where = tuple(int(i) for i in zeros[0])
        where = where[:-2] + (where[-2] + 1, where[-1])
        raise ValueError(f"a has a zero decay at index {where} (t >= 1); the single-mask "
                         f"rewrite needs a[1:] != 0 (a zero splits the mask into blocks, "
                         f"Lemma 4.1)")
    # p[t, n] = prod_{1 <= u <= t} a[u, n]
    a_from_1 = np.concatenate([np.ones_like(a[..., :1, :]), a[..., 1:, :]], axis=-2)
    p = np.cumprod(a_from_1, axis=-2)
    # C' = C o p,  B' = B / p
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return C * p, B / p
