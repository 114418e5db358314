"""Structure of a lower-triangular kernel: semiseparable rank, new columns, split blocks, and
the constructive 1-SS masked-attention dual of Theorem 4.1 (docs/theory.md#semiseparable,
#new-columns, #prop-4-2 to #prop-5-1, #tolerances).

Every function takes one lower-triangular matrix ``M`` of shape (T, T), e.g. an SSM kernel
(``y = M x``), and works in float64 (float32 input is promoted, but its own machine epsilon
sets the tolerances). The exact counterparts, with no tolerance at all, are in
:mod:`ssd_edu.exact`.

Definitions (0-based; ``M[t:, :t+1]`` is rows t..T-1, columns 0..t)::

    inclusive block   M[t:, :t+1]     the maximal submatrices on or below the diagonal
    ss_rank(M)        max_t rank M[t:, :t+1]                          (semiseparable rank)
    column t is new   M[t:, t] not in colspan M[t:, :t]       (same rows t..T-1, Def. 4.2)
    nu(M)             #new columns = sum_t rank M[t:, :t+1] - rank M[t:, :t]
    split point t     t in 1..T-1 with M[t:, :t] == 0         (the crossing block vanishes)

In exact arithmetic ``ss_rank(M) <= nu(M) <= #nonzero columns`` always (the float versions
agree unless a singular value sits at the rank threshold: a mode scaled by ~1e-14 can count in
one block and not in the next); the minimal width of a 1-SS masked attention
``1SS(a) o (Q K^T)`` equal to M is ``max_k nu(M_k)`` over the split blocks M_k.

Tolerances (docs/theory.md#tolerances), all scaled to the matrix:

* **Ranks.** A singular value of a block counts iff it exceeds ``rtol * s_max``, where
  ``s_max`` is the largest singular value of the *inclusive* block ``M[t:, :t+1]`` the rank
  belongs to. The default ``rtol = eps * max(M[t:, :t+1].shape)`` is NumPy's ``matrix_rank``
  default (eps of the input dtype). Both ranks of a pair ``M[t:, :t+1]``, ``M[t:, :t]`` use
  this one threshold; since singular values interlace when a column is appended, each
  new-column indicator is then 0 or 1. The input's eps is kept through every helper a
  function calls (the blocks of a float32 matrix are ranked with float32's eps). Split points
  are computed on ``M / max|M|``, so no verdict depends on the overall scale of M.
* **Split points** use the same threshold: t is a split point iff the crossing block
  ``M[t:, :t]`` has rank 0 under the threshold of the pair it belongs to, i.e.
  ``s_max(M[t:, :t]) <= rtol * s_max(M[t:, :t+1])``. Exact zeros (from zero decays: an IEEE
  product with an exact 0 is exactly 0) always split. So a crossing block that the rank test
  treats as zero is a split point, and split points and new columns never contradict each
  other: ``[[1, 0], [1e-20, 1]]`` splits at t = 1 (an exact zero test sees no split there;
  both find a width-1 dual, since nu = 1 either way). The float verdict can also say yes
  where the exact one says no: ``I_3`` with ``M[2, 0] = 1e-20`` has exact nu 2, no split and
  no width-1 dual, while in floating point the 1e-20 is rank-zero, t = 1 and 2 split, and a
  width-1 dual reproduces M to 1e-20. Pass
  ``split_tol`` (a number) for the other test, ``max|M[t:, :t]| <= split_tol * max|M|``;
  ``split_tol = 0`` is the exact zero test of Lemma 4.1.
* **Lower triangularity.** Entries above the diagonal must be at most ``64 * eps * max|M|``
  in magnitude; they are then ignored (the functions read ``tril(M)``).
* **Complex kernels** are accepted (ranks over C equal ranks over R for a real matrix). An
  imaginary part within ``64 * eps * max|M|`` (the residue of conjugate-pair modes computed in
  complex arithmetic) is dropped, so such a kernel is treated as the real matrix it is.

Where float ranks are trustworthy: T <= 256 with decays >= 0.9 (>= 0.99 up to T = 512); beyond
that, tiny mask entries (products of many decays) fall under any tolerance, and only exact
arithmetic (:mod:`ssd_edu.exact`) decides.
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


# --------------------------------------------------------------------------------------------
# Argument checks


def check_lower(M, name: str = "M") -> tuple:
    """Validate a (T, T) lower-triangular matrix; return ``(tril(M), eps)``.

    The result is float64, or complex128 for a complex M whose imaginary part exceeds
    ``UPPER_RTOL_EPS * eps * max|M|`` (a smaller one is dropped: module docstring).
    Raises TypeError for non-numeric dtypes, ValueError (naming ``name``) for a non-square
    shape, non-finite entries, or entries above the diagonal larger than
    ``UPPER_RTOL_EPS * eps * max|M|``. ``eps`` is the machine epsilon of the input dtype
    (float64 for integer input).
    """
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


def check_width(N, name: str = "N") -> int:
    """A dual width / state size must be an integer >= 1 (``validation.check_positive_int``)."""
    return check_positive_int(name, N)


def _check_tol(name: str, value, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


# --------------------------------------------------------------------------------------------
# Ranks of the inclusive / strict blocks


def _singular_values(block: np.ndarray) -> np.ndarray:
    if block.size == 0:
        return np.zeros(0)
    return np.linalg.svd(block, compute_uv=False)


def _threshold(s_incl: np.ndarray, shape: tuple, rtol: float | None, eps: float) -> float:
    """``rtol * s_max(M[t:, :t+1])``, default rtol = eps * max(shape)
    (docs/theory.md#tolerances)."""
    if s_incl.size == 0:
        return 0.0
    r = eps * max(shape) if rtol is None else rtol
    return r * float(s_incl[0])


def _pair_ranks(L: np.ndarray, t: int, rtol, eps) -> tuple:
    """(rank M[t:, :t+1], rank M[t:, :t]) under the one threshold of the inclusive block."""
    incl = L[t:, : t + 1]
    s_incl = _singular_values(incl)
    thr = _threshold(s_incl, incl.shape, rtol, eps)
    if s_incl.size == 0 or s_incl[0] == 0:
        return 0, 0
    s_strict = _singular_values(L[t:, :t])
    return int(np.sum(s_incl > thr)), int(np.sum(s_strict > thr))


def ss_rank(M, rtol: float | None = None) -> int:
    """Semiseparable rank ``max_t rank M[t:, :t+1]`` (inclusive blocks,
    docs/theory.md#semiseparable).

    M: (T, T) lower triangular. rtol: relative rank tolerance per block (module docstring).
    A state-N SSM kernel has ss_rank <= N; for generic data ``min(N, ceil(T / 2))``.
    Blocks are visited largest-first, stopping once ``min(T - t, t + 1)`` cannot beat the best.
    """
    L, eps = check_lower(M)
    rtol = _check_tol("rtol", rtol, True)
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
    """Indices of the new columns (paper Def. 4.2): t with ``M[t:, t] not in colspan M[t:, :t]``.

    M: (T, T) lower triangular. Column t is new iff ``rank M[t:, :t+1] > rank M[t:, :t]``,
    both ranks under the one threshold of the inclusive block (module docstring). Column 0
    is new iff it is nonzero; a zero column is never new. ``len(new_columns(M))`` is nu(M).
    Cost: T pairs of SVDs, O(T^4) in the worst case.
    """
    L, eps = check_lower(M)
    return _new_columns(L, eps, _check_tol("rtol", rtol, True))


def _new_columns(L: np.ndarray, eps: float, rtol) -> list:
    """:func:`new_columns` of a validated L, with the machine epsilon of the caller's input
    (the helpers below pass it on, so a float32 matrix keeps its tolerance throughout)."""
    new = []
    for t in range(L.shape[0]):
        r_incl, r_strict = _pair_ranks(L, t, rtol, eps)
        if r_incl > r_strict:
            new.append(t)
    return new


def nu(M, rtol: float | None = None) -> int:
    """nu(M), the number of new columns: ``len(new_columns(M, rtol))``."""
    return len(new_columns(M, rtol))


def min_completion_rank(M, rtol: float | None = None) -> int:
    """Woerdeman's minimal completion rank of the lower triangle (docs/theory.md#woerdeman)::

        sum_{t=0}^{T-1} rank M[t:, :t+1]  -  sum_{t=0}^{T-2} rank M[t+1:, :t+1]

    the least rank of any matrix R equal to M on and below the diagonal. It equals nu(M); this
    is an independent code path (its own loops and ``numpy.linalg.matrix_rank``) used as a
    cross-check. The block ``M[t+1:, :t+1]`` is ranked with the threshold of the inclusive
    block ``M[t+1:, :t+2]`` that contains it, so both paths share one tolerance.
    """
    L, eps = check_lower(M)
    rtol = _check_tol("rtol", rtol, True)
    T = L.shape[0]
    # thresholds of the inclusive blocks, thr[t] = rtol * s_max(M[t:, :t+1])
    thr = []
    for t in range(T):
        incl = L[t:, : t + 1]
        s_max = float(np.linalg.norm(incl, 2))
        thr.append((eps * max(incl.shape) if rtol is None else rtol) * s_max)

    def rank(block, tol):
        if block.size == 0 or not np.any(block):
            return 0
        return int(np.linalg.matrix_rank(block, tol=tol))

    total = 0
    for t in range(T):
        total += rank(L[t:, : t + 1], thr[t])
    for t in range(T - 1):
        total -= rank(L[t + 1:, : t + 1], thr[t + 1])
    return total


# --------------------------------------------------------------------------------------------
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
    """The t in 1..T-1 where the crossing block ``M[t:, :t]`` vanishes.

    M: (T, T) lower triangular. Default (``split_tol=None``): the crossing block has rank 0
    under the rank threshold of its pair, ``s_max(M[t:, :t]) <= rtol * s_max(M[t:, :t+1])``
    with the rank tolerance ``rtol`` of :func:`new_columns` (module docstring), so splits and
    new columns never contradict each other. With a number ``split_tol``:
    ``max|M[t:, :t]| <= split_tol * max|M|`` (``split_tol = 0``: the exact zero test).
    Cost O(T^2), plus two matrix norms for each t whose crossing block is nearly zero.
    """
    L, eps = check_lower(M)
    split_tol = _check_tol("split_tol", split_tol, True)
    rtol = _check_tol("rtol", rtol, True)
    return _split_points(L, eps, rtol, split_tol)


def split_blocks(M, split_tol: float | None = None, rtol: float | None = None) -> list:
    """The finest consecutive blocks ``[(start, stop), ...]`` with M = blockdiag(M_k).

    ``M_k = M[start:stop, start:stop]``; the blocks cut [0, T) at :func:`split_points`.
    """
    L, eps = check_lower(M)
    return _split_blocks(L, eps, _check_tol("rtol", rtol, True),
                         _check_tol("split_tol", split_tol, True))


def _split_blocks(L: np.ndarray, eps: float, rtol, split_tol) -> list:
    cuts = [0, *_split_points(L, eps, rtol, split_tol), L.shape[0]]
    return [(cuts[k], cuts[k + 1]) for k in range(len(cuts) - 1) if cuts[k + 1] > cuts[k]]


# --------------------------------------------------------------------------------------------
# Theorem 4.1: the condition and the constructive dual


@dataclass
class DualCheck:
    """Result of :func:`has_one_ss_dual`; true iff a width-N 1-SS masked-attention dual exists.

    ok: the verdict. reason: one sentence, naming the offending block when ``ok`` is false.
    blocks: the finest split blocks ``(start, stop)``. nu: new columns per block.
    min_width: ``max(nu)``, the least width of any 1-SS dual (0 for M = 0).
    """

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


def dual_verdict(N: int, blocks: list, news: list) -> DualCheck:
    """Theorem 4.1's verdict from the finest blocks and the new columns of each (absolute
    indices); shared by this module and :mod:`ssd_edu.exact`, so both say it the same way."""
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
    blocks = _split_blocks(L, eps, rtol, split_tol)
    news = [[start + c for c in _new_columns(L[start:stop, start:stop], eps, rtol)]
            for start, stop in blocks]
    return dual_verdict(N, blocks, news)


def has_one_ss_dual(M, N, rtol: float | None = None,
                    split_tol: float | None = None) -> DualCheck:
    """Theorem 4.1: do ``a`` and ``Q, K`` of width N with ``M = 1SS(a) o (Q K^T)`` exist?

    Yes iff (i) M is block diagonal over its finest split blocks (always true of the finest
    split) and (ii) every block M_k has ``nu(M_k) <= N``. Returns a :class:`DualCheck`
    (truthy iff a dual exists) whose ``reason`` names the first block with too many new
    columns. M: (T, T) lower triangular; N: integer >= 1.
    """
    L, eps = check_lower(M)
    N = check_width(N)
    return _dual_check(L, eps, N, _check_tol("rtol", rtol, True),
                       _check_tol("split_tol", split_tol, True))


def min_rank_completion(M, rtol: float | None = None) -> tuple:
    """The completion of Prop. 4.2: R equal to M on and below the diagonal with rank nu(M).

    Column by column, left to right (docs/theory.md#prop-4-2): a new column gets ``R[:t, t] = 0``;
    otherwise solve ``M[t:, :t] alpha = M[t:, t]`` (truncated-SVD least squares, same
    threshold as the rank test) and set ``R[:t, t] = R[:t, :t] alpha``, so that column t of R
    is the same combination of earlier columns as in the lower triangle.
    Returns ``(R, new)``: R (T, T) float64 and the list of new columns.

    Numerical limit: the completion is intrinsically ill-conditioned. For a fine width-1
    block it is unique, with ``R[s, t] = q_s k_t / alpha(t, s)``: the upper entries grow like
    inverse decay products (about 1e28 at T = 128 with decays in U(0.3, 0.95)).
    """
    L, eps = check_lower(M)
    return _min_rank_completion(L, eps, _check_tol("rtol", rtol, True))


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
    """A 1-SS masked-attention dual of M: ``1SS(a) o (Q K^T)`` reproduces M.

    a: (T,) decays, 0 at the split points and 1 elsewhere; Q, K: (T, N); error: the relative
    reconstruction error ``max|1SS(a) o (Q K^T) - M| / max|M|`` (0 for M = 0, exactly 0 from
    :func:`ssd_edu.exact.one_ss_dual`); N: the width. Unpacks as ``a, Q, K = dual``.
    """

    a: object
    Q: object
    K: object
    error: float
    N: int

    def __iter__(self):
        return iter((self.a, self.Q, self.K))


def _warn_if_poor(error: float, what: str, why: str) -> None:
    if error > DUAL_RTOL:
        warnings.warn(f"{what} reproduces M only to relative error {error:.2g} (> {DUAL_RTOL:g}): "
                      f"{why}", PoorDualWarning, stacklevel=3)


def one_ss_dual(M, N, rtol: float | None = None, split_tol: float | None = None) -> Dual:
    """The constructive dual of Theorem 4.1: a :class:`Dual` ``(a, Q, K)`` with
    ``1SS(a) o (Q K^T) == M``, and its relative reconstruction error.

    M: (T, T) lower triangular; N: the width, integer >= 1. Returns a (T,) with a = 0 at
    the split points and 1 elsewhere, and Q, K (T, N), such that
    ``one_ss_mask(a) * (Q @ K.T)`` equals M on and below the diagonal (and 0 above), up to
    ``dual.error``. When that error exceeds :data:`DUAL_RTOL` and M has crossing blocks below
    ``NEAR_SPLIT * max|M|``, a dual cut there too is tried and kept if better (a decay
    of 1e-12 is not a zero, but cutting it costs less than completing across it); a
    :class:`PoorDualWarning` says why when the error is still above :data:`DUAL_RTOL`.

    Steps (docs/theory.md#theorem-4-1): split M into its finest blocks; complete each block to rank
    ``nu(M_k)`` (:func:`min_rank_completion`); factor the completion by a truncated SVD,
    ``R_k = (U_r S_r^1/2)(V_r S_r^1/2)^T``; pad to N columns and stack. The mask kills the
    products across blocks. Raises :class:`NoDualError` (a ValueError) naming the block when
    some ``nu(M_k) > N``.

    Cost: a rank test and a solve on a (T - t) x t matrix per column, O(T^3) each and about
    O(T^4) in total, against O(T N P) for running the SSM itself (Remark 4.4).

    Numerical limits: the completion's upper entries grow like inverse decay products, so the
    reconstruction is accurate (error ~1e-12) for mild decays (T = 128, N = 8, decays in
    U(0.92, 0.999)) and useless for strong ones (decays in U(0.3, 0.95): entries ~1e28, error
    ~1e13). It is an existence proof, not an algorithm for long sequences.
    """
    L, eps = check_lower(M)
    N = check_width(N)
    rtol = _check_tol("rtol", rtol, True)
    split_tol = _check_tol("split_tol", split_tol, True)
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
    _warn_if_poor(dual.error, f"the width-{N} dual", f"the completion's entries reach "
                  f"{biggest:.2g} against max|M| = {float(np.max(np.abs(L), initial=0.0)):.2g}; "
                  f"they grow like inverse decay products inside a block "
                  f"(docs/theory.md#theorem-4-1), so "
                  f"rounding is amplified. Exact arithmetic (ssd_edu.exact.one_ss_dual) or "
                  f"shorter blocks avoid it")
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


# --------------------------------------------------------------------------------------------
# Beyond diagonal A_t: the corollary of Theorem 4.1 for invertible A_t
# (one causal mask of width N, so a width-N 1-SS dual exists) and the realization of every
# N-semiseparable M as the kernel of a time-varying state-N SSM (N-SS => SSS), dual or not.


def general_single_mask(A, B, C) -> tuple:
    """The corollary of Theorem 4.1 for invertible ``A_t``: ``(C', B')`` with
    ``general_kernel(A, B, C) == tril(C' B'^T)``, one causal mask of width N.

    A: (..., T, N, N); B, C: (..., T, N). With ``Phi_t = A_t A_{t-1} ... A_1`` (``Phi_0 = I``)::

        M[t, s] = C_t^T A_t ... A_{s+1} B_s = C_t^T Phi_t Phi_s^{-1} B_s
        C'_t = Phi_t^T C_t,   B'_s = Phi_s^{-1} B_s

    so ``nu(M) <= N`` and a width-N 1-SS dual exists: invertibility, not diagonality, is what
    a dual needs. A_0 never enters M. Raises ValueError naming the step when some A_t
    (t >= 1) is singular. Like :func:`ssd_edu.reference.diagonal_single_mask` it divides by
    decay products, so it is a proof device, usable only at short T.
    """
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
    """A state-N time-varying SSM whose kernel is M (N-SS => SSS; Dao & Gu Prop. 3.4).

    M: (T, T) lower triangular with ``ss_rank(M) <= N``; N: integer >= 1. Returns
    ``(A, B, C)``, A (T, N, N), B and C (T, N), with ``general_kernel(A, B, C) == M`` up to
    rounding (docs/theory.md#realization). For each t, factor the inclusive block
    ``K_t = M[t:, :t+1] = O_t R_t`` (truncated SVD, the rank tolerance of :func:`ss_rank`,
    O_t with r_t <= N orthonormal columns) and take the state ``h_t = R_t x[:t+1]``::

        C_t = O_t[0, :]              (y_t = K_t[0] x[:t+1])
        B_t = R_t[:, t]
        A_t = O_t^H O_{t-1}[1:, :]   (R_t[:, :t] = O_t^H K_{t-1}[1:] = A_t R_{t-1})

    padded with zeros to N x N (A_0 = 0: it never enters M). Raises ValueError naming the
    inclusive block whose rank exceeds N. Cost: one SVD per t, O(T^4) in all.
    """
    L, eps = check_lower(M)
    N = check_width(N)
    rtol = _check_tol("rtol", rtol, True)
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
           "general_single_mask", "realize", "check_lower", "check_width"]
