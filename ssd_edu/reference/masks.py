"""The 1-semiseparable (1-SS) mask and its log-space cousin, segsum (docs/theory.md#one-ss-mask).

    L = 1SS(a),   L[t, s] = a_{s+1} a_{s+2} ... a_t   (t >= s; empty product = 1),   0 for t < s

``a_0`` never appears in L. ``L @ z`` is the scalar scan ``w_t = a_t w_{t-1} + z_t``.
``1SS(ones) = tril(ones)`` (the causal mask) and ``1SS(zeros) = I``.
"""
from __future__ import annotations

import numpy as np

from ..validation import as_array


def _decays(name: str, a, **kw) -> np.ndarray:
    """``a`` as a (..., T) array (``as_array`` options ``kw``), or an error naming it."""
    a = as_array(name, a, **kw)
    if a.ndim < 1:
        raise ValueError(f"{name} has shape {tuple(a.shape)}; expected (..., T)")
    return a


def one_ss_mask(a) -> np.ndarray:
    """L = 1SS(a) (..., T, T) from a (..., T), real or complex, by direct products (no log, no
    division: zero and negative decays exact)."""
    a = _decays("a", a, allow_complex=True)
    T = a.shape[-1]
    below = np.tri(T, k=-1, dtype=bool)  # below[u, s] = u > s
    # Z[u, s] = a_u if u > s else 1
    Z = np.where(below, a[..., :, None], np.ones((), dtype=a.dtype))
    # L[t, s] = prod_{u <= t} Z[u, s] = prod_{s < u <= t} a_u, then zero the upper triangle
    return np.tril(np.cumprod(Z, axis=-2))


def segsum(log_a) -> np.ndarray:
    """Stable segment sum: ``S[..., t, s] = sum_{s < u <= t} log_a[..., u]`` (t >= s), -inf above;
    (..., T) -> (..., T, T), exp(S) = 1SS(exp(log_a)). Nothing is subtracted: log_a = -inf
    (a zero decay) gives exp(S) = 0, never NaN."""
    log_a = _decays("log_a", log_a, allow_minus_inf=True)
    T = log_a.shape[-1]
    below = np.tri(T, k=-1, dtype=bool)
    # Z[u, s] = log a_u if u > s else 0
    Z = np.where(below, log_a[..., :, None], 0.0)
    # S[t, s] = sum_{s < u <= t} log a_u
    S = np.cumsum(Z, axis=-2)
    return np.where(np.tri(T, dtype=bool), S, -np.inf)


def segsum_naive(log_a) -> np.ndarray:
    """Segment sum as a cumsum difference, ``S[t, s] = cs[t] - cs[s]``, cs = cumsum(log_a):
    (..., T) -> (..., T, T), -inf above. Kept to show how it breaks (docs/theory.md#segsum): a
    zero decay gives -inf - (-inf) = NaN, and long T loses accuracy by cancellation.
    """
    log_a = _decays("log_a", log_a, allow_minus_inf=True)
    T = log_a.shape[-1]
    cs = np.cumsum(log_a, axis=-1)
    with np.errstate(invalid="ignore"):
        # S[t, s] = cs[t] - cs[s]
        S = cs[..., :, None] - cs[..., None, :]
    return np.where(np.tri(T, dtype=bool), S, -np.inf)


def prefix_products(a, axis: int = -1) -> np.ndarray:
    """Inclusive prefix products ``delta_t = a_0 a_1 ... a_t`` along ``axis``: what carries the
    initial state to step t."""
    return np.cumprod(_decays("a", a, allow_complex=True), axis=axis)


def suffix_products(a, axis: int = -1) -> np.ndarray:
    """Exclusive suffix products ``gamma_s = a_{s+1} ... a_{T-1}`` along ``axis`` (empty = 1):
    ``gamma_s = 1SS(a)[T-1, s]``, what of step s survives to the last step."""
    a = np.moveaxis(_decays("a", a, allow_complex=True), axis, -1)
    # gamma_s = prod_{u > s} a_u: reverse cumulative product, shifted by one step
    rev = np.cumprod(a[..., :0:-1], axis=-1)[..., ::-1]
    gamma = np.concatenate([rev, np.ones_like(a[..., :1])], axis=-1)
    return np.moveaxis(gamma, -1, axis)
