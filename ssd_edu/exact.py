"""The structure theorems of :mod:`ssd_edu.structure` in exact rational arithmetic, with no
tolerance (docs/theory.md#example-n2, #prop-4-2 to #softmax, #exact-data). Matrices: lists of
rows (or 2-D arrays) of ints, Fractions or floats (at their exact binary value); results: rows of
Fractions. Ranks scale each row to integers by the lcm of its denominators, then eliminate
fraction-free with gcd reduction. For T <= 10 or so.
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .structure import Dual, DualCheck, NoDualError, blocks_between, dual_verdict
from .validation import check_positive_int


# Conversion and checks


def _to_fraction(value, name: str, where: tuple) -> Fraction:
    if type(value) is Fraction:
        return value
    if isinstance(value, (int, np.bool_, np.integer)):
        return Fraction(int(value))
    if isinstance(value, numbers.Rational):
        return Fraction(value)
    at = f"{name}[{', '.join(map(str, where))}] = {value!r}"
    if not isinstance(value, (float, np.floating)):
        raise TypeError(f"{at} ({type(value).__name__}) is not an int, Fraction or float")
    if not math.isfinite(float(value)):
        raise ValueError(f"{at} is not finite")
    return Fraction(float(value))


def as_fractions_rect(X, name: str) -> list:
    """A 2-D array (or list of rows) of numbers as a list of rows of Fractions (any shape)."""
    if isinstance(X, (list, tuple)) and all(isinstance(r, (list, tuple)) for r in X):
        if any(len(r) != len(X[0]) for r in X):      # the fast path for lists of rows
            raise ValueError(f"{name} has rows of lengths {[len(r) for r in X]}")
    else:
        X = np.asarray(X, dtype=object)
        if X.ndim != 2:
            raise ValueError(f"{name} has shape {tuple(X.shape)}; expected a 2-D (T, N) array")
    return [[_to_fraction(x, name, (i, j)) for j, x in enumerate(row)] for i, row in enumerate(X)]


def as_fractions(M, name: str = "M", lower: bool = True) -> list:
    """M as T rows of T Fractions (with ``lower``: exactly lower triangular), or an error
    naming ``name``."""
    rows = as_fractions_rect(M, name)
    T = len(rows)
    if T and len(rows[0]) != T:
        raise ValueError(f"{name} has shape ({T}, {len(rows[0])}); expected a square (T, T) "
                         f"matrix")
    if lower:
        for i in range(T):
            for j in range(i + 1, T):
                if rows[i][j] != 0:
                    raise ValueError(f"{name} is not lower triangular: {name}[{i}, {j}] = "
                                     f"{float(rows[i][j]):.6g} above the diagonal")
    return rows


def _integer_rows(rows: list) -> list:
    """Scale each row by the lcm of its denominators: same rank for every submatrix."""
    out = []
    for row in rows:
        m = math.lcm(*(x.denominator for x in row)) if row else 1
        # x * m = numerator * (m / denominator), an integer
        out.append([x.numerator * (m // x.denominator) for x in row])
    return out


def _rank_int(rows: list) -> int:
    """Rank of an integer matrix (list of rows); small ones are memoized (enumerations)."""
    if len(rows) * (len(rows[0]) if rows else 0) <= 36:
        return _rank_memo(tuple(map(tuple, rows)))
    return _rank_elim(rows)


def _rank_elim(rows) -> int:
    """Rank of an integer matrix (sequence of rows) by fraction-free elimination."""
    A = [list(r) for r in rows if any(r)]
    if not A:
        return 0
    rank = 0
    for c in range(len(A[0])):
        pivot = next((i for i in range(rank, len(A)) if A[i][c]), None)
        if pivot is None:
            continue
        A[rank], A[pivot] = A[pivot], A[rank]
        p = A[rank]
        for i in range(rank + 1, len(A)):
            f = A[i][c]
            if f:
                # row_i <- p_c row_i - f p  (eliminates column c), then divide by the gcd
                row = [p[c] * x - f * y for x, y in zip(A[i], p)]
                g = math.gcd(*row)
                A[i] = [x // g for x in row] if g > 1 else row
        rank += 1
        if rank == len(A):
            break
    return rank


_rank_memo = lru_cache(maxsize=1 << 16)(_rank_elim)


def _corner(Z: list, t: int, c: int) -> list:
    """The block ``Z[t:, :c]``."""
    return [row[:c] for row in Z[t:]]


def _is_new(Z: list, t: int) -> bool:
    """Column t is new: ``rank Z[t:, :t+1] > rank Z[t:, :t]``."""
    return _rank_int(_corner(Z, t, t + 1)) > _rank_int(_corner(Z, t, t))


def rank(M) -> int:
    """The exact rank of any (possibly rectangular) matrix of ints, Fractions or floats."""
    return _rank_int(_integer_rows(as_fractions_rect(M, "M")))


# Semiseparable rank, new columns, Woerdeman, splits


def ss_rank(M) -> int:
    """Exact semiseparable rank ``max_t rank M[t:, :t+1]`` of a lower-triangular M."""
    return _ss_rank(_integer_rows(as_fractions(M)))


def _ss_rank(Z: list) -> int:
    return max((_rank_int(_corner(Z, t, t + 1)) for t in range(len(Z))), default=0)


def _new_columns_int(Z: list) -> list:
    return [t for t in range(len(Z)) if _is_new(Z, t)]


def new_columns(M) -> list:
    """Exact new columns (Def. 4.2): t with ``rank M[t:, :t+1] > rank M[t:, :t]``."""
    return _new_columns_int(_integer_rows(as_fractions(M)))


def nu(M) -> int:
    """Exact number of new columns."""
    return len(new_columns(M))


def min_completion_rank(M) -> int:
    """Woerdeman's count ``sum_t rank M[t:, :t+1] - sum_{t<T-1} rank M[t+1:, :t+1]``, exactly."""
    return _woerdeman(_integer_rows(as_fractions(M)))


def _woerdeman(Z: list) -> int:
    # sum_{t=0}^{T-1} rank M[t:, :t+1]  -  sum_{t=0}^{T-2} rank M[t+1:, :t+1]
    return (sum(_rank_int(_corner(Z, t, t + 1)) for t in range(len(Z)))
            - sum(_rank_int(_corner(Z, t + 1, t + 1)) for t in range(len(Z) - 1)))


def _split_points(F: list) -> list:
    T = len(F)
    return [t for t in range(1, T) if all(F[i][j] == 0 for i in range(t, T) for j in range(t))]


def split_points(M) -> list:
    """The t in 1..T-1 with ``M[t:, :t] == 0`` exactly (Lemma 4.1)."""
    return _split_points(as_fractions(M))


def split_blocks(M) -> list:
    """The finest blocks ``[(start, stop), ...]`` cut at the exact split points."""
    return _blocks(as_fractions(M))


# Completion and dual


def solve(A: list, b: list):
    """One solution of ``A alpha = b`` over the rationals (free variables 0), or None.
    A: m rows of n numbers; b: m numbers. Gauss-Jordan elimination."""
    A = as_fractions_rect(A, "A") if len(A) else []
    m = len(A)
    n = len(A[0]) if m else 0
    if len(b) != m:
        raise ValueError(f"b has {len(b)} entries; expected m = {m} (the rows of A)")
    aug = [A[i] + [_to_fraction(b[i], "b", (i,))] for i in range(m)]
    pivots = []
    r = 0
    for c in range(n):
        p = next((i for i in range(r, m) if aug[i][c] != 0), None)
        if p is None:
            continue
        aug[r], aug[p] = aug[p], aug[r]
        inv = Fraction(1) / aug[r][c]
        aug[r] = [x * inv for x in aug[r]]
        for i in range(m):
            if i != r and aug[i][c] != 0:
                f = aug[i][c]
                aug[i] = [x - f * y for x, y in zip(aug[i], aug[r])]
        pivots.append(c)
        r += 1
        if r == m:
            break
    if any(aug[i][n] != 0 for i in range(r, m)):
        return None
    alpha = [Fraction(0)] * n
    for i, c in enumerate(pivots):
        alpha[c] = aug[i][n]
    return alpha


def completion(M) -> tuple:
    """Prop. 4.2 exactly: ``(R, new, coeff)``, R equal to M on and below the diagonal with rank
    nu(M); coeff[t] is None for a new column t (``R[:t, t] = 0``), else the alpha with
    ``R[:, t] = R[:, :t] alpha``."""
    return _completion(as_fractions(M))


def _completion(F: list) -> tuple:
    T = len(F)
    Z = _integer_rows(F)
    R = [row[:] for row in F]
    new, coeff = [], []
    for t in range(T):
        if _is_new(Z, t):
            new.append(t)
            coeff.append(None)  # R[:t, t] = 0
            continue
        # M[t:, :t] alpha = M[t:, t]
        alpha = solve([F[i][:t] for i in range(t, T)], [F[i][t] for i in range(t, T)])
        # R[:t, t] = R[:t, :t] alpha
        used = [j for j in range(t) if alpha[j]]
        for i in range(t):
            R[i][t] = sum((R[i][j] * alpha[j] for j in used), Fraction(0))
        coeff.append(alpha)
    return R, new, coeff


def _factor(new: list, coeff: list) -> list:
    """K^T coefficients: R = R[:, new] K^T with unit vectors at new columns
    (docs/theory.md#theorem-4-1)."""
    r = len(new)
    K = []
    for t, alpha in enumerate(coeff):
        if alpha is None:
            row = [Fraction(0)] * r
            row[new.index(t)] = Fraction(1)
        else:
            # K[t] = sum_{j<t} alpha_j K[j], since R[:, t] = R[:, :t] alpha
            row = [sum((alpha[j] * K[j][k] for j in range(t)), Fraction(0)) for k in range(r)]
        K.append(row)
    return K


def _blocks(F: list) -> list:
    return blocks_between(_split_points(F), len(F))


def _sub(F: list, s: int, e: int) -> list:
    return [row[s:e] for row in F[s:e]]


def _dual_check(F: list, N: int) -> DualCheck:
    return dual_verdict(N, _blocks(F), lambda s, e: _new_columns_int(_integer_rows(_sub(F, s, e))))


def has_one_ss_dual(M, N) -> DualCheck:
    """Theorem 4.1 exactly: a :class:`ssd_edu.structure.DualCheck`."""
    N = check_positive_int("N", N)
    return _dual_check(as_fractions(M), N)


def one_ss_dual(M, N) -> Dual:
    """The exact dual: a :class:`ssd_edu.structure.Dual` of Fraction lists with
    ``1SS(a) o (Q K^T) == M`` (error 0.0): per block Q_k = R_k[:, new], K_k^T the coefficients
    of every column in the new ones, padded to width N."""
    N = check_positive_int("N", N)
    F = as_fractions(M)
    verdict = _dual_check(F, N)
    if not verdict.ok:
        raise NoDualError(f"M has no 1-SS masked-attention dual of width N = {N}: "
                          f"{verdict.reason}")
    T = len(F)
    a = [Fraction(1)] * T
    Q = [[Fraction(0)] * N for _ in range(T)]
    K = [[Fraction(0)] * N for _ in range(T)]
    for s, e in verdict.blocks:
        if s > 0:
            a[s] = Fraction(0)  # a split point: 1SS(a)[t:, :t] = 0 (Lemma 4.1)
        R, new, coeff = _completion(_sub(F, s, e))
        Kb = _factor(new, coeff)
        for i in range(e - s):
            for k, c in enumerate(new):
                Q[s + i][k] = R[i][c]
                K[s + i][k] = Kb[i][k]
    return Dual(a, Q, K, dual_error(F, a, Q, K), N)


def dual_error(M, a, Q, K) -> float:
    """``max|1SS(a) o (Q K^T) - M| / max|M|`` computed exactly (0 when M = 0), as a float."""
    F = as_fractions(M)
    if len(a) != len(F):
        raise ValueError(f"a has {len(a)} entries; expected T = {len(F)} (from M)")
    R = masked_attention(a, Q, K)
    diff = max((abs(R[i][j] - F[i][j]) for i in range(len(F)) for j in range(len(F))),
               default=Fraction(0))
    scale = max((abs(x) for row in F for x in row), default=Fraction(0))
    return float(diff / scale) if scale else float(diff)


def audit(M, complete: bool = True) -> dict:
    """Every exact structure quantity of M: a dict of ss_rank, nu, woerdeman, blocks, nu_blocks,
    width (max nu_blocks) and ``problems``, the violated identities (completion equal to each
    block with rank nu, Woerdeman == nu, nu additive over blocks, ss_rank <= width <= nu).
    ``complete=False`` counts new columns by ranks instead of building the completions."""
    F = as_fractions(M)
    Z = _integer_rows(F)
    ssr = _ss_rank(Z)
    nu_m = len(_new_columns_int(Z))
    wd = _woerdeman(Z)
    blocks = _blocks(F)
    nus, problems = [], []
    for s, e in blocks:
        Fb = _sub(F, s, e)
        if not complete:
            nus.append(len(_new_columns_int(_integer_rows(Fb))))
            continue
        R, new, _ = _completion(Fb)
        nus.append(len(new))
        if any(R[i][j] != Fb[i][j] for i in range(e - s) for j in range(i + 1)):
            problems.append(f"completion of block [{s}, {e}) differs from the block")
        if _rank_int(_integer_rows(R)) != len(new):
            problems.append(f"completion of block [{s}, {e}) has rank != nu = {len(new)}")
    width = max(nus, default=0)
    if wd != nu_m:
        problems.append(f"Woerdeman {wd} != nu {nu_m}")
    if sum(nus) != nu_m:
        problems.append(f"nu {nu_m} != sum over blocks {sum(nus)}")
    if not ssr <= width <= nu_m:
        problems.append(f"not ss_rank {ssr} <= width {width} <= nu {nu_m}")
    return dict(ss_rank=ssr, nu=nu_m, woerdeman=wd, blocks=blocks, nu_blocks=nus, width=width,
                problems=problems)


def one_ss_mask(a) -> list:
    """Exact 1-SS mask: ``L[t][s] = a_{s+1} ... a_t`` for t >= s, 0 above (Fractions)."""
    a = [_to_fraction(x, "a", (i,)) for i, x in enumerate(a)]
    T = len(a)
    L = [[Fraction(0)] * T for _ in range(T)]
    for s in range(T):
        L[s][s] = Fraction(1)
        for t in range(s + 1, T):
            L[t][s] = L[t - 1][s] * a[t]
    return L


def masked_attention(a, Q, K) -> list:
    """``1SS(a) o (Q K^T)`` exactly: T rows of Fractions. a (T,), Q and K (T, N)."""
    L = one_ss_mask(a)
    T = len(L)
    Q, K = as_fractions_rect(Q, "Q"), as_fractions_rect(K, "K")
    if len(Q) != T or len(K) != T:
        name, X = ("Q", Q) if len(Q) != T else ("K", K)
        raise ValueError(f"{name} has {len(X)} rows; expected T = {T} (from a)")
    if T and len(Q[0]) != len(K[0]):
        raise ValueError(f"K has width {len(K[0])}; expected N = {len(Q[0])} (as Q)")
    return [[L[t][s] * sum((q * k for q, k in zip(Q[t], K[s])), Fraction(0))
             for s in range(T)] for t in range(T)]


def diagonal_kernel(a, B, C) -> list:
    """Exact diagonal kernel ``M[t][s] = sum_n C[t][n] alpha_n(t, s) B[s][n]``; a, B, C (T, N)."""
    a, B, C = (as_fractions_rect(X, name) for X, name in ((a, "a"), (B, "B"), (C, "C")))
    T, N = len(a), len(a[0]) if a else 0
    for name, X in (("B", B), ("C", C)):
        if len(X) != T or (T and len(X[0]) != N):
            raise ValueError(f"{name} has shape ({len(X)}, {len(X[0]) if X else 0}); expected "
                             f"(T, N) = ({T}, {N}) (from a)")
    M = [[Fraction(0)] * T for _ in range(T)]
    for n in range(N):
        L = one_ss_mask([a[t][n] for t in range(T)])
        for t in range(T):
            for s in range(t + 1):
                M[t][s] += C[t][n] * L[t][s] * B[s][n]
    return M


def lower_01_matrices(T: int):
    """Every lower-triangular T x T matrix with 0/1 entries (2^(T(T+1)/2) of them), as int rows."""
    cells = [(i, j) for i in range(T) for j in range(i + 1)]
    for code in range(1 << len(cells)):
        M = [[0] * T for _ in range(T)]
        for k, (i, j) in enumerate(cells):
            if code >> k & 1:
                M[i][j] = 1
        yield M


__all__ = ["as_fractions", "rank", "ss_rank", "new_columns", "nu", "min_completion_rank",
           "split_points", "split_blocks", "solve", "completion", "has_one_ss_dual",
           "one_ss_dual", "dual_error", "one_ss_mask", "masked_attention", "diagonal_kernel",
           "lower_01_matrices"]
