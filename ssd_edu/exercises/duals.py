"""Graders of the constructive dual of Theorem 4.1 (ex11) and the softmax power kernel whose
semiseparable rank grows like T / 2 (ex12; docs/theory.md#theorem-4-1, #softmax)."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from .. import softmax, structure
from ..testing import make_inputs
from .answers import (ExactAnswer, TupleAnswer, close, first_index, nonfinite_diagnosis,
                      unwritten, worst_entry)
from .grading import Case, grader
from .ranks import REMARK, corner

DUAL_FORBIDDEN = ("ssd_edu.structure.one_ss_dual", "ssd_edu.structure.min_rank_completion",
                  "ssd_edu.exact.one_ss_dual", "ssd_edu.exact.completion",
                  "ssd_edu.structure._min_rank_completion")
POWER_FORBIDDEN = ("ssd_edu.softmax.power_kernel", "ssd_edu.softmax.power_kernel_ranks")


class DualAnswer(TupleAnswer):
    """``(a, Q, K)`` judged by its reconstruction ``1SS(a) o (Q K^T)`` against M."""
    def __init__(self):
        super().__init__((("a", ""), ("Q", ""), ("K", "")), noun="the triple")

    def read(self, got, case):
        M, N = case.args
        T = M.shape[0]
        arrays, msg = self.arrays(got)
        if msg:
            return None, msg
        a, Q, K = arrays
        if a.shape != (T,):
            return None, f"a has shape {a.shape}, expected ({T},): one decay per time step"
        for what, X in (("Q", Q), ("K", K)):
            if X.ndim != 2 or X.shape[0] != T:
                return None, f"{what} has shape {X.shape}, expected ({T}, N) with N = {N}"
            if X.shape[1] > N:
                return None, (f"{what} has width {X.shape[1]} > N = {N}: the dual must have "
                              f"width at most N (complete each block to rank nu(M_k), then "
                              f"factor)")
            if msg := nonfinite_diagnosis(X, np.zeros_like(X, dtype=float), what, {}):
                return None, msg
        if Q.shape != K.shape:
            return None, f"Q has shape {Q.shape} but K has shape {K.shape}; they must match"
        R = ref.one_ss_mask(a.astype(np.float64)) * (Q @ K.T)
        return R.astype(np.result_type(a, Q, K)), None

    def same(self, R, M, case) -> bool:
        return close(R, M, case)

    def explain(self, R, case) -> str:
        M, N = case.args
        splits = structure.split_points(M, split_tol=0.0)
        for t in splits:
            if np.any(R[t:, :t] != 0):
                return (f"1SS(a) o (Q K^T) is nonzero across the split point t = {t} of M: set "
                        f"a_t = 0 there, so that the mask kills the crossing block (Lemma 4.1)")
        wrong = ~np.isclose(np.tril(R), M, rtol=1e-9, atol=1e-9 * max(1.0, np.max(np.abs(M))))
        if np.any(wrong):
            t, s = first_index(wrong)
            if not any(s < p <= t for p in splits) and R[t, s] == 0 and M[t, s] != 0:
                return (f"1SS(a) o (Q K^T) is 0 at ({t}, {s}) where M is {M[t, s]!r}: a has a "
                        f"zero between s and t, but M does not split there")
        return worst_entry(R, M, "1SS(a) o (Q K^T)", case)


def dual_cases() -> list:
    def case(name: str, M, N: int, category: str) -> Case:
        M = np.asarray(M, dtype=np.float64)
        verdict = structure.has_one_ss_dual(M, N, split_tol=0.0)  # exact zeros
        return Case(name, (M, N), M if verdict else f"M has no width-{N} dual: {verdict.reason}",
                    DualAnswer(), category, raises=None if verdict else ValueError)
    rng = np.random.default_rng(50)

    def kernel(T, N, seed, zero_at=(), scale=1.0):
        d = make_inputs("diagonal", T, N, 1, seed=seed)
        a = rng.uniform(0.9, 1.0, (T, N))
        a[list(zero_at), :] = 0.0
        return ref.diagonal_kernel(a, d["B"], d["C"]) * scale
    return [
        case("a fine scalar kernel, T = 6, N = 1", kernel(6, 1, 51), 1, "basic"),
        case("a fine diagonal kernel, T = 8, N = 2", kernel(8, 2, 52), 2, "basic"),
        case("the Remark 4.1 example, N = 3", REMARK, 3, "basic"),
        case("a kernel split by a zero decay at t = 4, T = 8, N = 2",
             kernel(8, 2, 53, zero_at=(4,)), 2, "split blocks"),
        case("the identity I_5 with N = 1 (five 1 x 1 blocks)", np.eye(5), 1,
             "split blocks"),
        case("T = 1, M = [[3]], N = 1", [[3.0]], 1, "edge"),
        case("the zero matrix, T = 4, N = 1", np.zeros((4, 4)), 1, "edge"),
        case("the Remark 4.1 example, N = 2: nu = 3 > 2, no dual", REMARK, 2, "no dual"),
        case("I + E_{4,0} with N = 2: nu = 4 > 2, no dual", corner(5), 2, "no dual"),
        case("a fine diagonal kernel times 1e150, T = 6, N = 2",
             kernel(6, 2, 54, scale=1e150), 2, "extreme"),
        case("a fine diagonal kernel times 1e6, T = 7, N = 2", kernel(7, 2, 55, scale=1e6), 2,
             "scaled")]


check_one_ss_dual = grader(
    "one_ss_dual", dual_cases, ("M", "N"), "fn(M, N) -> (a, Q, K), a (T,), Q, K (T, r <= N), "
    "with 1SS(a) o (Q K^T) = M on and below the diagonal; ValueError when no width-N dual exists",
    DUAL_FORBIDDEN)


class PowerAnswer(ExactAnswer):
    """T rows of T exact integers."""
    category_hints = False  # explain() names the cause (int64 overflow, causality, indices)

    def read(self, got, case):
        T = case.args[0]
        if got is None:
            return unwritten("the T rows of E, lists of ints")
        try:
            rows = [list(row) for row in got]
        except TypeError:
            return None, f"returned a {type(got).__name__}; return T rows (a list of lists)"
        if len(rows) != T or any(len(r) != T for r in rows):
            return None, f"expected {T} rows of {T} entries, got {[len(r) for r in rows]}"
        for i, j, v in ((i, j, v) for i, row in enumerate(rows) for j, v in enumerate(row)):
            if isinstance(v, (float, np.floating)):
                return None, (f"E[{i}][{j}] is a float ({v!r}): base^(i j) must be an exact "
                              f"integer; floats lose digits beyond 2^53 and overflow beyond "
                              f"2^1024. Use Python ints: base ** (i * j)")
            if not isinstance(v, (int, np.integer)):
                return None, f"E[{i}][{j}] is {v!r}; expected an integer"
        return [[int(v) for v in row] for row in rows], None

    def explain(self, rows, case) -> str:
        exp = case.expected
        T = len(exp)
        bad = [(i, j) for i in range(T) for j in range(T) if rows[i][j] != exp[i][j]]
        i, j = bad[0]
        if any(exp[i][j] >= 2 ** 63 for i, j in bad):
            return (f"E[{i}][{j}] = {rows[i][j]}, expected {exp[i][j]}: an int64 array "
                    f"overflows beyond 2^63; use Python ints (lists, or dtype=object)")
        if j > i:
            return f"not causal: E[{i}][{j}] must be 0 above the diagonal (j > i), got {rows[i][j]}"
        return f"E[{i}][{j}] = {rows[i][j]}, expected {exp[i][j]} (0-based indices i, j)"


def power_cases() -> list:
    def case(name: str, T: int, base: int, category: str) -> Case:
        E = softmax.power_kernel(T, base)
        return Case(name, (T, base), E, PowerAnswer(), category, [
            ("zero_based", "0-based exponents: the construction is 1-based, E[i][j] = "
             "base^((i+1) (j+1)) with 0-based indices (Q_i = i, K_j = j log base for i, j = 1..T)",
             [[base ** (i * j) if j <= i else 0 for j in range(T)] for i in range(T)]),
            ("full", "not causal: the kernel is lower triangular, E[i][j] = 0 for j > i",
             [[base ** ((i + 1) * (j + 1)) for j in range(T)] for i in range(T)]),
            ("transposed", "transposed: row i is the query, E[i][j] is nonzero for j <= i",
             [[E[j][i] for j in range(T)] for i in range(T)])])
    return [
        case("T = 4, base 2", 4, 2, "basic"),
        case("T = 6, base 2", 6, 2, "basic"),
        case("T = 1", 1, 2, "edge"),
        case("T = 2", 2, 2, "edge"),
        case("T = 9: entries up to 2^81, beyond int64", 9, 2, "extreme"),
        case("T = 40: entries up to 2^1600, beyond float64", 40, 2, "extreme"),
        case("T = 5, base 3", 5, 3, "scaled"),
        case("T = 5, base 10", 5, 10, "scaled")]


check_power_kernel = grader(
    "power_kernel", power_cases, ("T", "base"), "fn(T, base) -> rows: E[i][j] = base^((i+1)(j+1)) "
    "for j <= i, 0 above, exact ints", POWER_FORBIDDEN,
    "the exact kernel (Python ints, entry by entry)")
