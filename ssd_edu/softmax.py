"""Causal softmax attention and its rank growth: why SSD stops at softmax (docs/theory.md#softmax,
#experiments).

    logits   G = scale * Q K^T                        Q, K: (..., T, d), G: (..., T, T)
    kernel   E = tril(exp(G))                         unnormalized
    softmax  S = D^{-1} E,   D = diag(row sums of E)  normalized; y = S V

A state-N SSM bounds the semiseparable rank ``max_t rank M[t:, :t+1] <= N``; the ordinary rank
is T for every causal kernel with a nonzero diagonal (softmax, and tril(ones), whose ss_rank is
1). Exactly: with ``Q_i = i``, ``K_j = j log 2`` the kernel ``E[i, j] = 2^(i j)`` has ss_rank
ceil(T / 2) (:func:`power_kernel`). Numerically, Gaussian Q, K give ss_rank ~ T/2 for head dims
d >= 4 and saturate for d = 1 (:func:`ssrank_curve`).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from . import exact
from .structure import ss_rank
from .validation import as_array, broadcast_batch, check_quadratic, check_scale


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_qk(Q, K, scale):
    Q = as_array("Q", Q)
    K = as_array("K", K)
    if Q.ndim < 2:
        raise ValueError(f"Q has shape {tuple(Q.shape)}; expected (..., T, d)")
    if K.shape[-2:] != Q.shape[-2:] or K.ndim < 2:
        raise ValueError(f"K has shape {tuple(K.shape)}; expected (..., T, d) = "
                         f"(..., {Q.shape[-2]}, {Q.shape[-1]}) as in Q")
    if Q.shape[-1] < 1:
        raise ValueError(f"Q has shape {tuple(Q.shape)}; the head dim d (last axis) must be >= 1")
    batch = broadcast_batch(Q=Q.shape[:-2], K=K.shape[:-2])
    scale = 1.0 / math.sqrt(Q.shape[-1]) if scale is None else check_scale(scale)
    dtype = np.result_type(Q, K)
    return Q.astype(dtype, copy=False), K.astype(dtype, copy=False), scale, batch


def causal_softmax(Q, K, scale=None, normalize: bool = True) -> np.ndarray:
    """S = D^{-1} tril(exp(scale Q K^T)) (or, without ``normalize``, E = tril(exp(...))).
    Q, K (..., T, d); scale defaults to 1 / sqrt(d); returns (..., T, T), zero above the
    diagonal. Masked with -inf before exp; the normalized kernel subtracts each row's maximum.
    ValueError if the logits, or the unnormalized exp, overflow."""
    Q, K, scale, batch = _check_qk(Q, K, scale)
    return _kernel(Q, K, scale, batch, normalize)


def _kernel(Q, K, scale, batch, normalize):
    """causal_softmax on checked arguments (Q, K (..., T, d) of one dtype; scale a float)."""
    T = Q.shape[-2]
    check_quadratic("causal_softmax", batch, T, Q.dtype, copies=2)
    causal = np.tri(T, dtype=bool)
    # G = scale Q K^T, with -inf above the diagonal (mask before exp)
    with np.errstate(over="ignore", invalid="ignore"):
        G = np.where(causal, scale * np.einsum("...td,...sd->...ts", Q, K), -np.inf)
    if not np.all(np.isfinite(G[..., causal])):
        raise ValueError("the logits scale Q K^T overflow (inf or NaN on or below the "
                         "diagonal); scale Q and K (or scale) down")
    if normalize:
        if T == 0:
            return np.exp(G)                     # an empty (..., 0, 0) kernel
        # S = exp(G - max_row) / sum_row exp(G - max_row)
        E = np.exp(G - np.max(G, axis=-1, keepdims=True))
        return E / np.sum(E, axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        # E = tril(exp(G))
        E = np.exp(G)
    if not np.all(np.isfinite(E)):
        raise ValueError(f"exp(scale Q K^T) overflows (max logit {float(np.max(G)):.4g}); use "
                         f"normalize=True, smaller logits, or exact arithmetic (power_kernel)")
    return E


def causal_softmax_attention(Q, K, V, scale=None, normalize: bool = True) -> np.ndarray:
    """``Y = S V`` (S: :func:`causal_softmax`); Q, K (..., T, d), V (..., T, P) -> (..., T, P)."""
    Q, K, scale, batch = _check_qk(Q, K, scale)
    V = as_array("V", V)
    T = Q.shape[-2]
    if V.ndim < 2 or V.shape[-2] != T:
        raise ValueError(f"V has shape {tuple(V.shape)}; expected (..., T, P) with "
                         f"T = {T} as in Q, K")
    broadcast_batch(**{"Q, K": batch, "V": V.shape[:-2]})
    S = _kernel(Q, K, scale, batch, normalize)
    # y_t = sum_{s <= t} S[t, s] v_s
    return S @ V


def power_kernel(T: int, base: int = 2, normalize: bool = False) -> list:
    """``E[i][j] = base^(i j)`` for j <= i (1-based), exact ints (Fractions with ``normalize``):
    tril(exp(Q K^T)) with ``Q_i = i``, ``K_j = j log(base)``; ss_rank ceil(T / 2), rank T."""
    T, base = _int_at_least("T", T, 1), _int_at_least("base", base, 2)
    # E[i][j] = base^(i j), 1-based i, j, zero above the diagonal
    E = [[base ** ((i + 1) * (j + 1)) if j <= i else 0 for j in range(T)] for i in range(T)]
    if not normalize:
        return E
    # S[i][j] = E[i][j] / sum_j E[i][j]
    return [[Fraction(x, total) for x in row] for row, total in ((r, sum(r)) for r in E)]


def power_kernel_ranks(T: int, normalize: bool = False) -> tuple:
    """``(ss_rank, rank)`` of :func:`power_kernel` in exact arithmetic: ``(ceil(T/2), T)``."""
    E = power_kernel(T, normalize=normalize)
    return exact.ss_rank(E), exact.rank(E)


def uniform_average(T: int) -> np.ndarray:
    """``S[t, s] = 1 / (t + 1)`` (s <= t), the softmax of zero logits: rank T but ss_rank 1."""
    T = _int_at_least("T", T, 1)
    return np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def random_softmax(T: int, d: int, scale: float = 1.0, seed: int = 0,
                   normalize: bool = True) -> np.ndarray:
    """Causal softmax of Gaussian Q, K (T, d) with logits ``scale * Q K^T / sqrt(d)``: (T, T)."""
    _int_at_least("d (the query/key width)", d, 1)
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((T, d))
    K = rng.standard_normal((T, d))
    return causal_softmax(Q, K, scale / math.sqrt(d), normalize)


def ssrank_curve(Ts, d: int, scale: float = 1.0, seed: int = 0, rtol=None,
                 normalize: bool = True) -> list:
    """Numerical ss_rank (tolerance ``rtol`` of ``structure.ss_rank``) of :func:`random_softmax`
    for each T in ``Ts``."""
    return [ss_rank(random_softmax(T, d, scale, seed + T, normalize), rtol) for T in Ts]


__all__ = ["causal_softmax", "causal_softmax_attention", "power_kernel", "power_kernel_ranks",
           "uniform_average", "random_softmax", "ssrank_curve"]
