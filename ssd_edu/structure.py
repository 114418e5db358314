"""Structure of a lower-triangular kernel: semiseparable rank, new columns, split blocks, and
the constructive 1-SS masked-attention dual of Theorem 4.1 (THEORY.md 2.3, 2.6, 3.6-3.10, 5.6).

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

Always ``ss_rank(M) <= nu(M) <= #nonzero columns``; the minimal width of a 1-SS masked
attention ``1SS(a) o (Q K^T)`` equal to M is ``max_k nu(M_k)`` over the split blocks M_k.

Tolerances (THEORY.md 5.6), all scaled to the matrix:

* **Ranks.** A singular value of a block counts iff it exceeds ``rtol * s_max``, where
  ``s_max`` is the largest singular value of the *inclusive* block ``M[t:, :t+1]`` the rank
  belongs to. The default ``rtol = eps * max(M[t:, :t+1].shape)`` is NumPy's ``matrix_rank``
  default (eps of the input dtype). Both ranks of a pair ``M[t:, :t+1]``, ``M[t:, :t]`` use
  this one threshold; since singular values interlace when a column is appended, each
  new-column indicator is then 0 or 1.
* **Split points.** The crossing block counts as zero iff ``max|M[t:, :t]| <= split_tol *
  max|M|``. The default ``split_tol = 0`` is the exact zero test, right when the zeros come
  from zero decays (an IEEE product with an exact 0 is exactly 0). Pass e.g. ``1e-12`` for
  matrices whose zeros carry rounding noise.
* **Lower triangularity.** Entries above the diagonal must be at most ``64 * eps * max|M|``
  in magnitude; they are then ignored (the functions read ``tril(M)``).

Where float ranks are trustworthy: T <= 256 with decays >= 0.9 (>= 0.99 up to T = 512); beyond
that, tiny mask entries (products of many decays) fall under any tolerance, and only exact
arithmetic (:mod:`ssd_edu.exact`) decides.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from .reference.masks import one_ss_mask
from .validation import as_array

#: Entries above the diagonal may be this many eps times max|M| before M is refused.
UPPER_RTOL_EPS = 64


class NoDualError(ValueError):
    """Raised by :func:`one_ss_dual` when M has no 1-SS masked-attention dual of width N."""


# --------------------------------------------------------------------------------------------
# Argument checks


def check_lower(M, name: str = "M") -> tuple:
    """Validate a (T, T) lower-triangular real matrix; return ``(tril(M) as float64, eps)``.

    Raises TypeError for non-numeric or complex dtypes, ValueError (naming ``name``) for a
    non-square shape, non-finite entries, or entries above the diagonal larger than
    ``UPPER_RTOL_EPS * eps * max|M|``. ``eps`` is the machine epsilon of the input dtype
    (float64 for integer input).
    """
    arr = as_array(name, M)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} has shape {tuple(arr.shape)}; expected a square (T, T) matrix")
    eps = float(np.finfo(arr.dtype).eps)
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
    """A dual width / state size must be an integer >= 1."""
    if isinstance(N, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= 1, got {N!r}")
    try:
        n = operator.index(N)
    except TypeError:
        raise TypeError(f"{name} must be an integer >= 1, got {N!r} "
                        f"({type(N).__name__})") from None
    if n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n}")
    return n


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
    """``rtol * s_max(M[t:, :t+1])``, default rtol = eps * max(shape) (THEORY.md 5.6)."""
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
    """Semiseparable rank ``max_t rank M[t:, :t+1]`` (inclusive blocks, THEORY.md 2.3).

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
    rtol = _check_tol("rtol", rtol, True)
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
    """Woerdeman's minimal completion rank of the lower triangle (THEORY.md 3.9)::

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


def split_points(M, split_tol: float = 0.0) -> list:
    """The t in 1..T-1 where the crossing block vanishes: ``max|M[t:, :t]| <= split_tol max|M|``.

    M: (T, T) lower triangular. Default ``split_tol = 0``: the exact zero test (module
    docstring). Cost O(T^2): a suffix maximum over rows, then a prefix maximum over columns.
    """
    L, _ = check_lower(M)
    split_tol = _check_tol("split_tol", split_tol, False)
    T = L.shape[0]
    if T < 2:
        return []
    A = np.abs(L)
    # below[t, s] = max_{t' >= t} |M[t', s]|
    below = np.maximum.accumulate(A[::-1], axis=0)[::-1]
    # crossing[t] = max_{s < t} below[t, s] = max|M[t:, :t]|
    crossing = np.maximum.accumulate(below, axis=1)[np.arange(1, T), np.arange(T - 1)]
    limit = split_tol * float(np.max(A))
    return [t for t in range(1, T) if crossing[t - 1] <= limit]


def split_blocks(M, split_tol: float = 0.0) -> list:
    """The finest consecutive blocks ``[(start, stop), ...]`` with M = blockdiag(M_k).

    ``M_k = M[start:stop, start:stop]``; the blocks cut [0, T) at :func:`split_points`.
    """
    L, _ = check_lower(M)
    cuts = [0, *split_points(L, split_tol), L.shape[0]]
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


def _dual_check(L, N, rtol, split_tol) -> DualCheck:
    blocks = split_blocks(L, split_tol)
    nus, news = [], []
    for start, stop in blocks:
        cols = new_columns(L[start:stop, start:stop], rtol)
        news.append([start + c for c in cols])
        nus.append(len(cols))
    for (start, stop), k, cols in zip(blocks, nus, news):
        if k > N:
            shown = ", ".join(map(str, cols[:8])) + (", ..." if len(cols) > 8 else "")
            return DualCheck(False, f"block [{start}, {stop}) (rows and columns {start}.."
                             f"{stop - 1}) has {k} new columns ({shown}) > N = {N}; no 1-SS "
                             f"dual narrower than {max(nus)} exists", N, blocks, nus)
    return DualCheck(True, f"M splits into {len(blocks)} block(s) with at most "
                     f"{max(nus, default=0)} new columns each <= N = {N}", N, blocks, nus)


def has_one_ss_dual(M, N, rtol: float | None = None, split_tol: float = 0.0) -> DualCheck:
    """Theorem 4.1: do ``a`` and ``Q, K`` of width N with ``M = 1SS(a) o (Q K^T)`` exist?

    Yes iff (i) M is block diagonal over its finest split blocks (always true of the finest
    split) and (ii) every block M_k has ``nu(M_k) <= N``. Returns a :class:`DualCheck`
    (truthy iff a dual exists) whose ``reason`` names the first block with too many new
    columns. M: (T, T) lower triangular; N: integer >= 1.
    """
    L, _ = check_lower(M)
    N = check_width(N)
    return _dual_check(L, N, _check_tol("rtol", rtol, True), _check_tol("split_tol", split_tol,
                                                                         False))


def min_rank_completion(M, rtol: float | None = None) -> tuple:
    """The completion of Prop. 4.2: R equal to M on and below the diagonal with rank nu(M).

    Column by column, left to right (THEORY.md 3.6): a new column gets ``R[:t, t] = 0``;
    otherwise solve ``M[t:, :t] alpha = M[t:, t]`` (truncated-SVD least squares, same
    threshold as the rank test) and set ``R[:t, t] = R[:t, :t] alpha``, so that column t of R
    is the same combination of earlier columns as in the lower triangle.
    Returns ``(R, new)``: R (T, T) float64 and the list of new columns.

    Numerical limit: the completion is intrinsically ill-conditioned. For a fine width-1
    block it is unique, with ``R[s, t] = q_s k_t / alpha(t, s)``: the upper entries grow like
    inverse decay products (about 1e28 at T = 128 with decays in U(0.3, 0.95)).
    """
    L, eps = check_lower(M)
    rtol = _check_tol("rtol", rtol, True)
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
        alpha = Vt[keep].T @ ((U[:, keep].T @ L[t:, t]) / s[keep])
        # R[:t, t] = R[:t, :t] alpha, so that R[:, t] = R[:, :t] alpha
        R[:t, t] = R[:t, :t] @ alpha
    return R, new


def one_ss_dual(M, N, rtol: float | None = None, split_tol: float = 0.0) -> tuple:
    """The constructive dual of Theorem 4.1: ``(a, Q, K)`` with ``1SS(a) o (Q K^T) == M``.

    M: (T, T) lower triangular; N: the width, integer >= 1. Returns a (T,) with a = 0 at
    the split points and 1 elsewhere, and Q, K (T, N), such that
    ``one_ss_mask(a) * (Q @ K.T)`` equals M on and below the diagonal (and 0 above).

    Steps (THEORY.md 3.8): split M into its finest blocks; complete each block to rank
    ``nu(M_k)`` (:func:`min_rank_completion`); factor the completion by a truncated SVD,
    ``R_k = (U_r S_r^1/2)(V_r S_r^1/2)^T``; pad to N columns and stack. The mask kills the
    products across blocks. Raises :class:`NoDualError` (a ValueError) naming the block when
    some ``nu(M_k) > N``.

    Cost: a rank test and a solve on a (T - t) x t matrix per column, O(T^3) each and about
    O(T^4) in total, against O(T N P) for running the SSM itself.

    Numerical limits: the completion's upper entries grow like inverse decay products, so the
    reconstruction is accurate (error ~1e-12) for mild decays (T = 128, N = 8, decays in
    U(0.92, 0.999)) and useless for strong ones (decays in U(0.3, 0.95): entries ~1e28, error
    ~1e13). It is an existence proof, not an algorithm for long sequences.
    """
    L, _ = check_lower(M)
    N = check_width(N)
    rtol = _check_tol("rtol", rtol, True)
    split_tol = _check_tol("split_tol", split_tol, False)
    verdict = _dual_check(L, N, rtol, split_tol)
    if not verdict.ok:
        raise NoDualError(f"M has no 1-SS masked-attention dual of width N = {N}: "
                          f"{verdict.reason}")
    T = L.shape[0]
    a = np.ones(T)
    Q = np.zeros((T, N))
    K = np.zeros((T, N))
    for (start, stop), r in zip(verdict.blocks, verdict.nu):
        if start > 0:
            a[start] = 0.0  # a split point: 1SS(a)[t:, :t] = 0 (Lemma 4.1)
        if r == 0:
            continue
        R, _ = min_rank_completion(L[start:stop, start:stop], rtol)
        U, s, Vt = np.linalg.svd(R)
        root = np.sqrt(s[:r])
        # R_k ~ (U_r S_r^1/2)(V_r S_r^1/2)^T, rank nu(M_k) <= N
        Q[start:stop, :r] = U[:, :r] * root
        K[start:stop, :r] = Vt[:r].T * root
    return a, Q, K


def dual_error(M, a, Q, K) -> float:
    """``max|1SS(a) o (Q K^T) - M| / max(1, max|M|)``: how well a dual reproduces M."""
    L, _ = check_lower(M)
    R = one_ss_mask(np.asarray(a, dtype=np.float64)) * (np.asarray(Q) @ np.asarray(K).T)
    if L.size == 0:
        return 0.0
    return float(np.max(np.abs(R - L))) / max(1.0, float(np.max(np.abs(L))))


__all__ = ["ss_rank", "new_columns", "nu", "min_completion_rank", "split_points",
           "split_blocks", "has_one_ss_dual", "DualCheck", "min_rank_completion",
           "one_ss_dual", "dual_error", "NoDualError", "check_lower", "check_width"]
