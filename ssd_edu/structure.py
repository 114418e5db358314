"""Structure of a lower-triangular (T, T) kernel M (y = M x), in float64: semiseparable rank,
new columns, split blocks, and the constructive 1-SS dual of Theorem 4.1
(docs/theory.md#semiseparable, #new-columns, #prop-4-2 to #prop-5-1). Exact versions: ssd_edu.exact.

    ss_rank(M)        max_t rank M[t:, :t+1]                     (inclusive blocks)
    column t is new   M[t:, t] not in colspan M[t:, :t]          (Def. 4.2)
    nu(M)             #new columns;  ss_rank(M) <= nu(M) <= #nonzero columns
    split point t     t in 1..T-1 with M[t:, :t] == 0            (Lemma 4.1)

The least width of a dual ``1SS(a) o (Q K^T) = M`` is max_k nu(M_k) over the split blocks M_k.
A singular value counts iff it exceeds ``rtol * s_max(M[t:, :t+1])`` (default rtol = eps *
max(shape); docs/theory.md#tolerances); a split point is a crossing block of rank 0 under it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .reference.masks import one_ss_mask
from .validation import as_array, check_kernel, check_positive_int

#: Entries above the diagonal may be this many eps times max|M| before M is refused.
UPPER_RTOL_EPS = 64


#: A constructed dual reproducing M worse than this (relative error) warns.
DUAL_RTOL = 1e-9
#: When the dual is poor, crossing blocks with max|M[t:, :t]| <= NEAR_SPLIT * max|M| are cut
#: too (a zero decay there), which costs at most that error and shortens the blocks.
NEAR_SPLIT = 1e-2 * DUAL_RTOL


class NoDualError(ValueError):
    """Raised by :func:`one_ss_dual` (and ``exact.one_ss_dual``) when M has no 1-SS
    masked-attention dual of width N."""


class PoorDualWarning(UserWarning):
    """A constructed dual reproduces M only to a relative error above :data:`DUAL_RTOL`."""


# Argument checks


def check_lower(M, name: str = "M") -> tuple:
    """Validate a (T, T) lower-triangular matrix; return ``(tril(M), eps)`` in float64 (complex128
    if the imaginary part is not negligible). ValueError names ``name`` for a non-square shape,
    non-finite entries or entries above the diagonal beyond ``UPPER_RTOL_EPS * eps * max|M|``."""
    arr = as_array(name, M, allow_complex=True)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} has shape {tuple(arr.shape)}; expected a square (T, T) matrix")
    eps = float(np.finfo(arr.dtype).eps)
    if np.iscomplexobj(arr):
        arr = arr.astype(np.complex128, copy=False)
        limit = UPPER_RTOL_EPS * eps * float(np.max(np.abs(arr), initial=0.0))
        if float(np.max(np.abs(arr.imag), initial=0.0)) <= limit:
            arr = arr.real  # a real kernel computed in complex arithmetic
    else:
        arr = arr.astype(np.float64, copy=False)
    if arr.size:
        scale = float(np.max(np.abs(arr)))
        upper = np.abs(np.triu(arr, 1))
        worst = float(np.max(upper))
        if worst > UPPER_RTOL_EPS * eps * scale:
            t, s = (int(i) for i in np.unravel_index(np.argmax(upper), upper.shape))
            raise ValueError(f"{name} is not lower triangular: {name}[{t}, {s}] = "
                             f"{arr[t, s]:.3g} above the diagonal (allowed: |entry| <= "
                             f"{UPPER_RTOL_EPS} eps max|{name}| = "
                             f"{UPPER_RTOL_EPS * eps * scale:.3g})")
    return np.tril(arr), eps


def _tol(name: str, value) -> float | None:
    """A tolerance: None, or a finite number >= 0."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


# Ranks of the inclusive / strict blocks


def _singular_values(block: np.ndarray) -> np.ndarray:
    return np.linalg.svd(block, compute_uv=False) if block.size else np.zeros(0)


def _threshold(s_incl: np.ndarray, shape: tuple, rtol: float | None, eps: float) -> float:
    """``rtol * s_max(M[t:, :t+1])``, default rtol = eps * max(shape)
    (docs/theory.md#tolerances)."""
    r = eps * max(shape) if rtol is None else rtol
    return r * float(s_incl[0]) if s_incl.size else 0.0


def ss_rank(M, rtol: float | None = None) -> int:
    """Semiseparable rank ``max_t rank M[t:, :t+1]`` of a (T, T) lower-triangular M; blocks are
    visited largest-first, stopping when none left can beat the best."""
    L, eps = check_lower(M)
    rtol = _tol("rtol", rtol)
    T = L.shape[0]
    best = 0
    for t in sorted(range(T), key=lambda t: -min(T - t, t + 1)):
        if min(T - t, t + 1) <= best:
            break
        incl = L[t:, : t + 1]
        s = _singular_values(incl)
        if s[0] > 0:
            best = max(best, int(np.sum(s > _threshold(s, incl.shape, rtol, eps))))
    return best


def new_columns(M, rtol: float | None = None) -> list:
    """Indices t with ``rank M[t:, :t+1] > rank M[t:, :t]`` (Def. 4.2), both ranks under the
    inclusive block's threshold; ``len(new_columns(M))`` is nu(M). O(T^4) worst case."""
    L, eps = check_lower(M)
    return _new_columns(L, eps, _tol("rtol", rtol))


def _new_columns(L: np.ndarray, eps: float, rtol) -> list:
    """new_columns of a validated L, ranked with the caller's eps: both ranks under the one
    threshold of the inclusive block."""
    new = []
    for t in range(L.shape[0]):
        incl = L[t:, : t + 1]
        s = _singular_values(incl)
        if s.size and s[0] != 0:
            thr = _threshold(s, incl.shape, rtol, eps)
            if np.sum(s > thr) > np.sum(_singular_values(L[t:, :t]) > thr):
                new.append(t)
    return new


def nu(M, rtol: float | None = None) -> int:
    """nu(M), the number of new columns: ``len(new_columns(M, rtol))``."""
    return len(new_columns(M, rtol))


def min_completion_rank(M, rtol: float | None = None) -> int:
    """Woerdeman's minimal completion rank (docs/theory.md#woerdeman), equal to nu(M)::

        sum_{t=0}^{T-1} rank M[t:, :t+1]  -  sum_{t=0}^{T-2} rank M[t+1:, :t+1]

    An independent cross-check (``numpy.linalg.matrix_rank``), with the thresholds of nu."""
    L, eps = check_lower(M)
    rtol = _tol("rtol", rtol)
    T = L.shape[0]
    # thresholds of the inclusive blocks, thr[t] = rtol * s_max(M[t:, :t+1])
    thr = [(eps * max(T - t, t + 1) if rtol is None else rtol) * np.linalg.norm(L[t:, : t + 1], 2)
           for t in range(T)]

    def rank(block, t):
        return int(np.linalg.matrix_rank(block, tol=thr[t])) if np.any(block) else 0

    return (sum(rank(L[t:, : t + 1], t) for t in range(T))
            - sum(rank(L[t + 1:, : t + 1], t + 1) for t in range(T - 1)))


# Split points and blocks (Lemma 4.1)


def _crossing_max(A: np.ndarray) -> np.ndarray:
    """``crossing[t - 1] = max|M[t:, :t]|`` for t = 1..T-1 from ``A = |M|``, in O(T^2)."""
    T = A.shape[0]
    # below[t, s] = max_{t' >= t} |M[t', s]|
    below = np.maximum.accumulate(A[::-1], axis=0)[::-1]
    # crossing[t] = max_{s < t} below[t, s] = max|M[t:, :t]|
    return np.maximum.accumulate(below, axis=1)[np.arange(1, T), np.arange(T - 1)]


def _split_points(L: np.ndarray, eps: float, rtol, split_tol) -> list:
    T = L.shape[0]
    if T < 2:
        return []
    A = np.abs(L)
    top = float(np.max(A))
    if top == 0:
        return list(range(1, T))                 # M = 0 splits everywhere
    # every test below is relative: work with M / max|M|, so that squares neither underflow
    # (entries below 1e-162) nor overflow (above 1e154)
    L, A = L / top, A / top
    crossing = _crossing_max(A)
    if split_tol is not None:  # the absolute test against max|M|
        return [t for t in range(1, T) if crossing[t - 1] <= split_tol]
    # frob2[t, c] = sum_{i >= t, j <= c} |M[i, j]|^2, so ||M[t:, :t+1]||_F^2 = frob2[t, t]
    frob2 = np.cumsum(np.cumsum(A * A, axis=1)[::-1], axis=0)[::-1]
    out = []
    for t in range(1, T):
        if crossing[t - 1] == 0:
            out.append(t)  # an exact zero crossing block
            continue
        incl = L[t:, : t + 1]
        r = eps * max(incl.shape) if rtol is None else rtol
        # cheap rejection: s_max(M[t:, :t]) >= max entry, s_max(incl) <= Frobenius norm
        if crossing[t - 1] > r * np.sqrt(frob2[t, t]):
            continue
        # rank M[t:, :t] == 0 under the pair's threshold rtol * s_max(M[t:, :t+1])
        if np.linalg.norm(L[t:, :t], 2) <= r * np.linalg.norm(incl, 2):
            out.append(t)
    return out


def split_points(M, split_tol: float | None = None, rtol: float | None = None) -> list:
    """The t in 1..T-1 where the crossing block ``M[t:, :t]`` vanishes: rank 0 under the
    threshold of :func:`new_columns`, or ``max|M[t:, :t]| <= split_tol * max|M|`` when
    ``split_tol`` is a number (0: the exact zero test). O(T^2) plus norms of near-zero blocks."""
    L, eps = check_lower(M)
    return _split_points(L, eps, _tol("rtol", rtol), _tol("split_tol", split_tol))


def split_blocks(M, split_tol: float | None = None, rtol: float | None = None) -> list:
    """The finest blocks ``[(start, stop), ...]`` with M = blockdiag(M[start:stop, start:stop])."""
    L, eps = check_lower(M)
    return blocks_between(_split_points(L, eps, _tol("rtol", rtol), _tol("split_tol", split_tol)),
                          L.shape[0])


def blocks_between(points: list, T: int) -> list:
    """The blocks ``[(start, stop), ...]`` of 0..T cut at the split ``points``."""
    cuts = [0, *points, T]
    return [(s, e) for s, e in zip(cuts, cuts[1:]) if e > s]


# Theorem 4.1: the condition and the constructive dual


@dataclass
class DualCheck:
    """Theorem 4.1's verdict (truthy iff a width-N dual exists): ``reason`` names the offending
    block; ``blocks`` the finest split blocks, ``nu`` their new-column counts."""

    ok: bool
    reason: str
    N: int
    blocks: list = field(default_factory=list)
    nu: list = field(default_factory=list)

    @property
    def min_width(self) -> int:
        return max(self.nu, default=0)

    def __bool__(self) -> bool:
        return self.ok


def dual_verdict(N: int, blocks: list, block_new) -> DualCheck:
    """Theorem 4.1's verdict from the finest blocks; ``block_new(start, stop)``: the new columns
    of block M[start:stop, start:stop], counted from its start (shared with exact)."""
    news = [[start + c for c in block_new(start, stop)] for start, stop in blocks]
    nus = [len(cols) for cols in news]
    for (start, stop), k, cols in zip(blocks, nus, news):
        if k > N:
            shown = ", ".join(map(str, cols[:8])) + (", ..." if len(cols) > 8 else "")
            return DualCheck(False, f"block [{start}, {stop}) (rows and columns {start}.."
                             f"{stop - 1}) has {k} new columns ({shown}) > N = {N}; no 1-SS "
                             f"dual narrower than {max(nus)} exists", N, blocks, nus)
    return DualCheck(True, f"M splits into {len(blocks)} block(s) with at most "
                     f"{max(nus, default=0)} new columns each <= N = {N}", N, blocks, nus)


def _dual_check(L, eps, N, rtol, split_tol) -> DualCheck:
    blocks = blocks_between(_split_points(L, eps, rtol, split_tol), L.shape[0])
    return dual_verdict(N, blocks, lambda s, e: _new_columns(L[s:e, s:e], eps, rtol))


def has_one_ss_dual(M, N, rtol: float | None = None,
                    split_tol: float | None = None) -> DualCheck:
    """Theorem 4.1: ``M = 1SS(a) o (Q K^T)`` with Q, K of width N exists iff every finest split
    block has ``nu(M_k) <= N``. Returns a :class:`DualCheck`."""
    L, eps = check_lower(M)
    N = check_positive_int("N", N)
    return _dual_check(L, eps, N, _tol("rtol", rtol), _tol("split_tol", split_tol))


def min_rank_completion(M, rtol: float | None = None) -> tuple:
    """Prop. 4.2 (docs/theory.md#prop-4-2): ``(R, new)``, R (T, T) equal to M on and below the
    diagonal with rank nu(M). A new column gets ``R[:t, t] = 0``; otherwise solve
    ``M[t:, :t] alpha = M[t:, t]`` (truncated SVD) and set ``R[:t, t] = R[:t, :t] alpha``.
    Ill-conditioned: upper entries grow like inverse decay products."""
    L, eps = check_lower(M)
    return _min_rank_completion(L, eps, _tol("rtol", rtol))


def _min_rank_completion(L: np.ndarray, eps: float, rtol) -> tuple:
    T = L.shape[0]
    R = L.copy()
    new = []
    for t in range(T):
        incl = L[t:, : t + 1]
        s_incl = _singular_values(incl)
        if s_incl.size == 0 or s_incl[0] == 0:
            continue  # a zero column is never new, and R[:t, t] = 0 is a valid completion
        thr = _threshold(s_incl, incl.shape, rtol, eps)
        r_incl = int(np.sum(s_incl > thr))
        if t == 0:
            new.append(0)
            continue
        U, s, Vt = np.linalg.svd(L[t:, :t], full_matrices=False)
        keep = s > thr
        if r_incl > int(np.sum(keep)):
            new.append(t)  # R[:t, t] = 0
            continue
        # alpha = pinv_thr(M[t:, :t]) M[t:, t]: M[t:, :t] alpha = M[t:, t] up to the tolerance
        alpha = Vt[keep].conj().T @ ((U[:, keep].conj().T @ L[t:, t]) / s[keep])
        # R[:t, t] = R[:t, :t] alpha, so that R[:, t] = R[:, :t] alpha
        R[:t, t] = R[:t, :t] @ alpha
    return R, new


@dataclass(frozen=True)
class Dual:
    """A dual ``1SS(a) o (Q K^T)`` of M: a (T,), Q, K (T, N); ``error`` the relative
    reconstruction error. Unpacks as ``a, Q, K = dual``."""

    a: object
    Q: object
    K: object
    error: float
    N: int

    def __iter__(self):
        return iter((self.a, self.Q, self.K))


def one_ss_dual(M, N, rtol: float | None = None, split_tol: float | None = None) -> Dual:
    """Theorem 4.1's constructive dual (docs/theory.md#theorem-4-1): a :class:`Dual` with
    ``one_ss_mask(a) * (Q @ K.T) == M`` up to ``dual.error``; a = 0 at the split points, else 1.
    Complete each finest block to rank nu(M_k), factor ``R_k = (U_r S_r^1/2)(V_r S_r^1/2)^T``,
    pad to N columns. :class:`NoDualError` when some nu(M_k) > N; above :data:`DUAL_RTOL` error,
    also cut below ``NEAR_SPLIT * max|M|``, then :class:`PoorDualWarning`. O(T^4)."""
    L, eps = check_lower(M)
    N = check_positive_int("N", N)
    rtol = _tol("rtol", rtol)
    split_tol = _tol("split_tol", split_tol)
    verdict = _dual_check(L, eps, N, rtol, split_tol)
    if not verdict.ok:
        raise NoDualError(f"M has no 1-SS masked-attention dual of width N = {N}: "
                          f"{verdict.reason}")
    dual, biggest = _build_dual(L, eps, N, rtol, verdict)
    if dual.error > DUAL_RTOL and split_tol is None:
        # a crossing block of relative size below NEAR_SPLIT costs at most that much error
        # when cut, and cutting shortens the blocks whose completion blew up
        near = _dual_check(L, eps, N, rtol, NEAR_SPLIT)
        if near.ok and len(near.blocks) > len(verdict.blocks):
            other, other_big = _build_dual(L, eps, N, rtol, near)
            if other.error < dual.error:
                dual, biggest = other, other_big
    if dual.error > DUAL_RTOL:
        warnings.warn(f"the width-{N} dual reproduces M only to relative error {dual.error:.2g} "
                      f"(> {DUAL_RTOL:g}): the completion's entries reach {biggest:.2g} against "
                      f"max|M| = {float(np.max(np.abs(L), initial=0.0)):.2g}; they grow like "
                      f"inverse decay products inside a block (docs/theory.md#theorem-4-1), so "
                      f"rounding is amplified. Exact arithmetic (ssd_edu.exact.one_ss_dual) or "
                      f"shorter blocks avoid it", PoorDualWarning, stacklevel=2)
    return dual


def _build_dual(L, eps, N, rtol, verdict) -> tuple:
    """Complete and factor every block of ``verdict``: ``(Dual, max |completion entry|)``."""
    T = L.shape[0]
    a = np.ones(T)
    Q = np.zeros((T, N), dtype=L.dtype)
    K = np.zeros((T, N), dtype=L.dtype)
    biggest = 0.0
    for (start, stop), r in zip(verdict.blocks, verdict.nu):
        if start > 0:
            a[start] = 0.0  # a split point: 1SS(a)[t:, :t] = 0 (Lemma 4.1)
        if r == 0:
            continue
        R, _ = _min_rank_completion(L[start:stop, start:stop], eps, rtol)
        biggest = max(biggest, float(np.max(np.abs(R))))
        U, s, Vt = np.linalg.svd(R)
        root = np.sqrt(s[:r])
        # R_k ~ (U_r S_r^1/2)(V_r S_r^1/2)^T, rank nu(M_k) <= N
        Q[start:stop, :r] = U[:, :r] * root
        K[start:stop, :r] = Vt[:r].T * root
    return Dual(a, Q, K, dual_error(L, a, Q, K), N), biggest


def dual_error(M, a, Q, K) -> float:
    """``max|1SS(a) o (Q K^T) - M| / max|M|`` (0 when M = 0): how well a dual reproduces M."""
    L, _ = check_lower(M)
    R = one_ss_mask(np.asarray(a, dtype=np.float64)) * (np.asarray(Q) @ np.asarray(K).T)
    if L.size == 0:
        return 0.0
    diff = float(np.max(np.abs(R - L)))
    scale = float(np.max(np.abs(L)))
    return diff / scale if scale > 0 else diff


# Beyond diagonal A_t: invertible A_t (Theorem 4.1's corollary) and N-SS => SSS


def general_single_mask(A, B, C) -> tuple:
    """Corollary of Theorem 4.1 for invertible ``A_t``: ``(C', B')`` with
    ``general_kernel(A, B, C) == tril(C' B'^T)``. A (..., T, N, N); B, C (..., T, N)::

        Phi_t = A_t ... A_1,   C'_t = Phi_t^T C_t,   B'_s = Phi_s^{-1} B_s

    ValueError names the step when some A_t (t >= 1) is singular. Short T only."""
    v = check_kernel("general", A, B, C, allow_complex=True)
    A_, B_, C_ = v.a, v.B, v.C
    N = A_.shape[-1]
    for t in range(1, v.T):
        ranks = np.asarray(np.linalg.matrix_rank(A_[..., t, :, :]))
        if np.any(ranks < N):
            where = np.unravel_index(int(np.argmin(ranks)), ranks.shape)
            index = ", ".join(map(str, (*where, t)))
            raise ValueError(f"A[{index}, :, :] is singular (rank {int(np.min(ranks))} < N = "
                             f"{N}); the rewrite needs every A_t, t >= 1, invertible")
    Phi = np.broadcast_to(np.eye(N, dtype=v.dtype), (*v.batch, N, N)).copy()
    Cp = np.empty((*v.batch, v.T, N), dtype=v.dtype)
    Bp = np.empty((*v.batch, v.T, N), dtype=v.dtype)
    for t in range(v.T):
        if t > 0:
            Phi = A_[..., t, :, :] @ Phi  # Phi_t = A_t Phi_{t-1}
        # C'_t = Phi_t^T C_t;  B'_t = Phi_t^{-1} B_t
        Cp[..., t, :] = np.einsum("...nm,...n->...m", Phi, C_[..., t, :])
        try:
            Bp[..., t, :] = np.linalg.solve(Phi, B_[..., t, :, None])[..., 0]
        except np.linalg.LinAlgError:
            raise ValueError(f"Phi_{t} = A_{t} ... A_1 is numerically singular (its products "
                             f"under- or overflow) although every A_t is invertible; the "
                             f"rewrite divides by Phi_t, so it works only at short T") from None
    return Cp, Bp


def realize(M, N, rtol: float | None = None) -> tuple:
    """A state-N SSM ``(A, B, C)`` (A (T, N, N); B, C (T, N)) whose kernel is M, when
    ``ss_rank(M) <= N`` (docs/theory.md#realization). Factor ``M[t:, :t+1] = O_t R_t``::

        C_t = O_t[0, :],   B_t = R_t[:, t],   A_t = O_t^H O_{t-1}[1:, :]

    padded to N x N. ValueError names the inclusive block whose rank exceeds N."""
    L, eps = check_lower(M)
    N = check_positive_int("N", N)
    rtol = _tol("rtol", rtol)
    T = L.shape[0]
    A = np.zeros((T, N, N), dtype=L.dtype)
    B = np.zeros((T, N), dtype=L.dtype)
    C = np.zeros((T, N), dtype=L.dtype)
    O_prev = np.zeros((T + 1, 0), dtype=L.dtype)
    for t in range(T):
        K_t = L[t:, : t + 1]
        U, s, Vh = np.linalg.svd(K_t, full_matrices=False)
        r = int(np.sum(s > _threshold(s, K_t.shape, rtol, eps))) if s[0] > 0 else 0
        if r > N:
            raise ValueError(f"M is not {N}-semiseparable: its inclusive block M[{t}:, :{t + 1}] "
                             f"has rank {r} > N = {N}, so no state-{N} SSM has kernel M (use "
                             f"N >= ss_rank(M))")
        O, R = U[:, :r], s[:r, None] * Vh[:r]            # K_t = O_t R_t
        C[t, :r] = O[0]
        B[t, :r] = R[:, t]
        A[t, :r, : O_prev.shape[1]] = O.conj().T @ O_prev[1:]
        O_prev = O
    return A, B, C


__all__ = ["ss_rank", "new_columns", "nu", "min_completion_rank", "split_points",
           "split_blocks", "has_one_ss_dual", "DualCheck", "min_rank_completion",
           "one_ss_dual", "Dual", "dual_error", "NoDualError", "PoorDualWarning", "DUAL_RTOL",
           "general_single_mask", "realize", "check_lower"]
