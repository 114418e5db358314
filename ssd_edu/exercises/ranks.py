"""Graders of the structure exercises on a lower-triangular M (T, T) (docs/theory.md#semiseparable,
#new-columns, #lemma-4-1), against :mod:`ssd_edu.structure`: new columns (ex06), the
semiseparable rank (ex09) and split points (ex10)."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from .. import structure
from ..testing import make_inputs
from ..theorems._data import REMARK_41_M, corner_matrix as corner
from .answers import CountAnswer, IndexListAnswer
from .grading import Case, grader
from .solutions import _rank

NU_FORBIDDEN = (*(f"ssd_edu.{m}.{f}" for m in ("structure", "exact")
                  for f in ("nu", "new_columns", "min_completion_rank")),
                "ssd_edu.structure.has_one_ss_dual", "ssd_edu.structure._new_columns")
SSRANK_FORBIDDEN = ("ssd_edu.structure.ss_rank", "ssd_edu.exact.ss_rank")
SPLIT_FORBIDDEN = (*(f"ssd_edu.{m}.{f}" for m in ("structure", "exact")
                     for f in ("split_points", "split_blocks")), "ssd_edu.structure._split_points")


REMARK = np.array(REMARK_41_M, float)        # the N = 2, T = 4 example of Remark 4.1


def _kernels() -> dict:
    """The matrices of the structure batteries: category -> {name: matrix}."""
    d = make_inputs("diagonal", 12, 3, 1, seed=30)
    fine = ref.diagonal_kernel(np.random.default_rng(31).uniform(0.9, 1.0, (12, 3)), d["B"], d["C"])
    s = make_inputs("scalar", 8, 2, 1, seed=32)
    s["a"][4] = 0.0
    split = ref.scalar_kernel(s["a"], s["B"], s["C"])
    first = np.zeros((8, 8))
    first[:4, :4] = np.tril(np.random.default_rng(33).standard_normal((4, 4))) + 3 * np.eye(4)
    first[4:, 4:] = np.eye(4)
    # a 0/1 matrix on which rank, ss_rank, nu, the nonzero columns and the block maximum all differ
    mixed = np.zeros((6, 6))
    mixed[[1, 2, 2, 3, 4, 4, 4, 5], [1, 0, 2, 2, 0, 3, 4, 5]] = 1.0
    return {
        "basic": {
            "the N = 2, T = 4 example of Remark 4.1": REMARK,
            "I + E_{T-1,0}, T = 6 (Prop. 5.1)": corner(6),
            "a random fine diagonal kernel, T = 12, N = 3": fine,
            "a scalar kernel, N = 2, with a zero decay at t = 4": split,
            "blockdiag(a dense 4 x 4 block, I_4)": first,
            "a 0/1 matrix with zeros on the diagonal, T = 6": mixed,
            "blockdiag(the Remark 4.1 example, twice)": np.kron(np.eye(2), REMARK)},
        "edge": {
            "the identity I_5": np.eye(5),
            "tril(ones(5)), the causal mask": np.tril(np.ones((5, 5))),
            "the zero matrix, T = 4": np.zeros((4, 4)),
            "T = 1, M = [[3]]": np.array([[3.0]]),
            "diag(1, 0, 1, 1): a zero column": np.diag([1.0, 0.0, 1.0, 1.0])},
        "extreme": {
            "the Remark 4.1 example times 1e-200": REMARK * 1e-200,
            "the Remark 4.1 example times 1e200": REMARK * 1e200},
        "scaled": {
            "the fine diagonal kernel times 1e-9": fine * 1e-9,
            "the fine diagonal kernel times 1e9": fine * 1e9}}


def _structure_grader(exercise, value, variants, answer, doc, forbidden, compares):
    def cases():
        return [Case(name, (M,), value(M), answer, category, variants(M))
                for category, kernels in _kernels().items() for name, M in kernels.items()]
    return grader(exercise, cases, ("M",), doc, forbidden, compares)


def _nu_variants(M) -> list:
    nonzero0 = bool(np.any(M[:, 0]))
    after0 = sum(_rank(M[t:, :t + 1]) - _rank(M[t:, :t]) for t in range(1, len(M)))  # t >= 1
    prev = sum(_rank(M[t:, t - 1:t + 1]) - _rank(M[t:, t - 1:t]) for t in range(1, len(M)))
    return [
        ("rank", "that is the ordinary rank of M, which is T for any triangular M with a nonzero "
         "diagonal; nu counts columns t where appending M[t:, t] to the block M[t:, :t] "
         "(rows t..T-1 only) raises the rank", _rank(M)),
        ("ssrank", "that is the semiseparable rank max_t rank M[t:, :t+1]; nu adds up the rank "
         "increments rank M[t:, :t+1] - rank M[t:, :t] over every t, which can exceed the "
         "largest block rank", structure.ss_rank(M)),
        ("nonzero", "that is the number of nonzero columns; a nonzero column is not new when it "
         "lies in the span of the earlier columns restricted to rows t..T-1",
         int(np.sum(np.any(M != 0, axis=0)))),
        ("trap", "you compared with the previous step's block M[t-1:, :t]; the row range shrinks "
         "with t, so compare rank M[t:, :t+1] with rank M[t:, :t], both on rows t..T-1",
         sum(_rank(M[t:, :t + 1]) - (_rank(M[t - 1:, :t]) if t else 0) for t in range(len(M)))),
        ("col0_always", "column 0 counts as new only when it is nonzero (a zero column is never "
         "new)", after0 + 1),
        ("skip0", "column 0 is skipped: it is new when it is nonzero (compare rank M[0:, :1] "
         "with the rank 0 of the empty block)", after0),
        ("max_blocks", "that is the largest nu over the split blocks (the least width of a 1-SS "
         "dual, Theorem 4.1); nu counts the new columns of the whole matrix, the sum over blocks",
         structure.has_one_ss_dual(M, 1, split_tol=0.0).min_width),
        ("prev_only", "you compared column t with the previous column M[t:, t-1] only; it must "
         "be outside the span of all earlier columns M[t:, :t]", int(nonzero0) + prev)]


check_count_new_columns = _structure_grader(
    "count_new_columns", structure.nu, _nu_variants, CountAnswer("nu"),
    "fn(M) -> nu(M), the number of t with rank M[t:, :t+1] > rank M[t:, :t]", NU_FORBIDDEN,
    "the package's count (an integer: exactly)")


def _ssrank_variants(M) -> list:
    T = len(M)
    return [
        ("rank", "that is the ordinary rank of M, which is T for any triangular M with a nonzero "
         "diagonal; the semiseparable rank is max_t rank M[t:, :t+1]", _rank(M)),
        ("strict", "you ranked the strict blocks M[t:, :t] (above the diagonal row t); the "
         "semiseparable rank uses the inclusive blocks M[t:, :t+1], which contain the diagonal "
         "entry M[t, t]", max(_rank(M[t:, :t]) for t in range(T))),
        ("nu", "that is nu(M), the number of new columns (the sum of the rank increments); the "
         "semiseparable rank is the largest block rank, max_t rank M[t:, :t+1]", structure.nu(M)),
        ("middle", "you ranked only the middle block t = T // 2; take the maximum over every t",
         _rank(M[T // 2:, :T // 2 + 1]))]


check_ss_rank = _structure_grader(
    "ss_rank", structure.ss_rank, _ssrank_variants, CountAnswer("the semiseparable rank", False),
    "fn(M) -> max_t rank M[t:, :t+1]", SSRANK_FORBIDDEN,
    "the package's rank (an integer: exactly)")


def _split_variants(M) -> list:
    T = len(M)
    points = structure.split_points(M, split_tol=0.0)
    return [
        ("subdiagonal", "you tested only the subdiagonal entry M[t, t-1]; t is a split point when "
         "the whole crossing block M[t:, :t] is zero",
         [t for t in range(1, T) if M[t, t - 1] == 0]),
        ("row", "you tested only row t, M[t, :t]; the whole crossing block M[t:, :t] (rows t..T-1) "
         "must be zero", [t for t in range(1, T) if not np.any(M[t, :t])]),
        ("zero", "t = 0 is not a split point: split points are t in 1..T-1 (the block M[0:, :0] "
         "is empty)", [0] + points),
        ("shift", "off by one: you returned t - 1 for the split point t; t is the first row and "
         "column of the new block (M[t:, :t] == 0)", [t - 1 for t in points]),
        ("allclose", "you tested zero with a tolerance (np.allclose or isclose, absolute 1e-8); "
         "the split test is exact, M[t:, :t] == 0 (zeros from zero decays are exact)",
         [t for t in range(1, T) if np.allclose(M[t:, :t], 0)])]


check_split_points = _structure_grader(
    "split_points", lambda M: structure.split_points(M, split_tol=0.0), _split_variants,
    IndexListAnswer("split points"),
    "fn(M) -> the t in 1..T-1 with M[t:, :t] == 0", SPLIT_FORBIDDEN,
    "the package's split points (a list of integers: exactly)")
