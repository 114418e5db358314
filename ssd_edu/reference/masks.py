"""The 1-semiseparable (1-SS) mask and its log-space cousin, segsum.

    L = 1SS(a),   L[t, s] = a_{s+1} a_{s+2} ... a_t   (t >= s; empty product = 1),   0 for t < s

``a_0`` never appears in L. ``L @ z`` is the scalar scan ``w_t = a_t w_{t-1} + z_t``.
``1SS(ones) = tril(ones)`` (the causal mask) and ``1SS(zeros) = I``.
"""
from __future__ import annotations

import numpy as np

from ..validation import as_array


def one_ss_mask(a) -> np.ndarray:
    """The 1-SS mask from direct products: no log, no division.

    a: (..., T) decays (real or complex; zeros, negatives, tiny and near-one values are exact
    up to the rounding of the products).  Returns L: (..., T, T) with
    ``L[..., t, s] = prod_{s < u <= t} a[..., u]`` for t >= s and 0 above the diagonal.
    """
    a = _decays(a)
    T = a.shape[-1]
    below = np.tri(T, k=-1, dtype=bool)  # below[u, s] = u > s
    # Z[u, s] = a_u if u > s else 1
    Z = np.where(below, a[..., :, None], np.ones((), dtype=a.dtype))
    # L[t, s] = prod_{u <= t} Z[u, s] = prod_{s < u <= t} a_u, then zero the upper triangle
    return np.tril(np.cumprod(Z, axis=-2))


def _log_decays(log_a) -> np.ndarray:
    """log_a as a real (..., T) array: finite or -inf (a zero decay), or an error naming it."""
    log_a = as_array("log_a", log_a, allow_minus_inf=True)
    if log_a.ndim < 1:
        raise ValueError(f"log_a has shape {tuple(log_a.shape)}; expected (..., T)")
    return log_a


def _decays(a) -> np.ndarray:
    """a as a (..., T) array of decays (real or complex, finite), or an error naming it."""
    a = as_array("a", a, allow_complex=True)
    if a.ndim < 1:
        raise ValueError(f"a has shape {tuple(a.shape)}; expected (..., T)")
    return a


def segsum(log_a) -> np.ndarray:
    """Stable segment sum: ``S[..., t, s] = sum_{s < u <= t} log_a[..., u]`` (t >= s), -inf above.

    log_a: (..., T). Returns S: (..., T, T) with ``exp(S) == 1SS(exp(log_a))``.
    Each entry is a sum of the terms it needs and nothing is subtracted, so a zero decay
    (``log_a = -inf``) gives exactly ``exp(S) = 0`` and never NaN. Negative decays have no real
    log: use :func:`one_ss_mask` for them.
    """
    log_a = _log_decays(log_a)
    T = log_a.shape[-1]
    below = np.tri(T, k=-1, dtype=bool)
    # Z[u, s] = log a_u if u > s else 0
    Z = np.where(below, log_a[..., :, None], 0.0)
    # S[t, s] = sum_{s < u <= t} log a_u
    S = np.cumsum(Z, axis=-2)
    return np.where(np.tri(T, dtype=bool), S, -np.inf)


def segsum_naive(log_a) -> np.ndarray:
    """Segment sum as a cumsum difference: ``S[t, s] = cs[t] - cs[s]`` with ``cs = cumsum(log_a)``.

    log_a: (..., T). Returns S: (..., T, T), -inf above the diagonal.

    Where it breaks (docs/theory.md#segsum): a zero decay ``a_u = 0`` puts ``-inf`` into every
    ``cs[t]`` with t >= u, so every entry with ``u <= s <= t`` is ``-inf - (-inf) = NaN`` -
    including all of them when ``a_0 = 0``, a decay that never enters the mask. It also loses
    relative accuracy through cancellation when ``|cs|`` grows with T (about 1e-4 at T = 4096
    in float32). Kept only to show these failures; use :func:`segsum`.
    """
    log_a = _log_decays(log_a)
    T = log_a.shape[-1]
    cs = np.cumsum(log_a, axis=-1)
    with np.errstate(invalid="ignore"):
        # S[t, s] = cs[t] - cs[s]
        S = cs[..., :, None] - cs[..., None, :]
    return np.where(np.tri(T, dtype=bool), S, -np.inf)


def prefix_products(a, axis: int = -1) -> np.ndarray:
    """Inclusive prefix products ``delta_t = a_0 a_1 ... a_t`` along ``axis`` (direct products).

    ``delta_t`` carries the initial state to step t: its term in y_t is
    ``(C_t * delta_t)^T h_{-1}`` (scalar: delta is a number per t; diagonal: one per mode).
    """
    return np.cumprod(_decays(a), axis=axis)


def suffix_products(a, axis: int = -1) -> np.ndarray:
    """Exclusive suffix products ``gamma_s = a_{s+1} ... a_{T-1}`` along ``axis`` (empty = 1).

    ``gamma_s = 1SS(a)[T-1, s]``: how much of step s survives to the last step, so the final
    state is ``h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}``.
    """
    a = np.moveaxis(_decays(a), axis, -1)
    # gamma_s = prod_{u > s} a_u: reverse cumulative product, shifted by one step
    rev = np.cumprod(a[..., :0:-1], axis=-1)[..., ::-1]
    gamma = np.concatenate([rev, np.ones_like(a[..., :1])], axis=-1)
    return np.moveaxis(gamma, -1, axis)
