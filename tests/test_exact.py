"""ssd_edu.exact: exact ranks, new columns, splits, completions and duals with Fractions."""
from fractions import Fraction

import numpy as np
import pytest

from ssd_edu import exact, structure
from ssd_edu.reference import diagonal_kernel, one_ss_mask
from ssd_edu.testing import make_inputs

REMARK = [[2, 0, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 1, 2]]


def corner(T):
    M = np.eye(T, dtype=int)
    M[-1, 0] = 1
    return M.tolist()


def test_rank_exact():
    assert exact.rank([[1, 2], [2, 4]]) == 1
    assert exact.rank([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == 2
    assert exact.rank([[Fraction(1, 3), 1], [1, 3]]) == 1
    # floats are taken at their exact binary values: 0.2 and 0.6 are exactly 2 * 0.1, 2 * 0.3
    assert exact.rank([[0.1, 0.2], [0.3, 0.6]]) == 1
    assert Fraction(0.1) * Fraction(0.9) != Fraction(0.3) * Fraction(0.3)
    assert exact.rank([[0.1, 0.3], [0.3, 0.9]]) == 2
    assert exact.rank([[0, 0], [0, 0]]) == 0
    assert exact.rank([[1, 0, 0], [0, 0, 1]]) == 2
    # a nearly singular integer matrix that floating point would call singular
    big = 10**20
    assert exact.rank([[big, big + 1], [big - 1, big]]) == 2


def test_named_examples():
    assert exact.ss_rank(REMARK) == 2
    assert exact.new_columns(REMARK) == [0, 1, 2]
    assert exact.min_completion_rank(REMARK) == exact.nu(REMARK) == 3
    assert exact.split_points(REMARK) == []
    for T in (4, 6, 9):
        assert exact.nu(corner(T)) == exact.min_completion_rank(corner(T)) == T - 1
        assert exact.ss_rank(corner(T)) == 2
    I5 = np.eye(5, dtype=int).tolist()
    assert exact.split_points(I5) == [1, 2, 3, 4]
    assert exact.split_blocks(I5) == [(t, t + 1) for t in range(5)]
    assert exact.nu(np.tril(np.ones((5, 5), int)).tolist()) == 1
    assert exact.nu([[0, 0], [0, 0]]) == 0 and exact.nu([[0, 0], [1, 0]]) == 1


def test_completion_reproduces_the_lower_triangle_with_rank_nu():
    for M in (REMARK, corner(6), [[1, 0, 0], [2, 3, 0], [4, 6, 5]]):
        F = exact.as_fractions(M)
        R, new, coeff = exact.completion(M)
        T = len(M)
        assert all(R[i][j] == F[i][j] for i in range(T) for j in range(i + 1))
        assert exact.rank(R) == len(new) == exact.nu(M)
        for t, alpha in enumerate(coeff):
            if alpha is not None:  # R[:, t] = R[:, :t] alpha, exactly
                assert all(R[i][t] == sum(R[i][j] * alpha[j] for j in range(t))
                           for i in range(T))


@pytest.mark.parametrize("M,N", [(REMARK, 3), (corner(5), 4), (np.eye(4, dtype=int).tolist(), 1),
                                 ([[0, 0], [0, 0]], 1)])
def test_exact_dual_reproduces_M(M, N):
    a, Q, K = exact.one_ss_dual(M, N)
    assert len(Q[0]) == len(K[0]) == N
    assert exact.masked_attention(a, Q, K) == exact.as_fractions(M)


def test_exact_dual_refused_when_too_narrow():
    verdict = exact.has_one_ss_dual(REMARK, 2)
    assert isinstance(verdict, structure.DualCheck)
    assert not verdict and verdict.nu == [3] and "3 new columns (0, 1, 2) > N = 2" in verdict.reason
    with pytest.raises(structure.NoDualError, match="no 1-SS masked-attention dual of width N = 2"):
        exact.one_ss_dual(REMARK, 2)
    with pytest.raises(ValueError, match="N must be an integer >= 1"):
        exact.one_ss_dual(REMARK, 0)


def test_exact_mask_and_kernel_equal_the_float_reference_on_dyadic_data():
    for seed in range(6):
        d = make_inputs("diagonal", 6, 3, 1, regime="dyadic", seed=seed)
        M = exact.diagonal_kernel(d["a"], d["B"], d["C"])
        assert np.array_equal(np.array(M, dtype=float), diagonal_kernel(d["a"], d["B"], d["C"]))
        L = exact.one_ss_mask(d["a"][:, 0])
        assert np.array_equal(np.array(L, dtype=float), one_ss_mask(d["a"][:, 0]))


def test_epsilon_decay_keeps_nu_at_N_exactly():
    a = [[1, 1], [1, Fraction(1, 10**12)], [Fraction(1, 10**12), 1], [1, Fraction(1, 10**12)]]
    M = exact.diagonal_kernel(a, np.ones((4, 2), int), np.ones((4, 2), int))
    assert exact.nu(M) == 2
    a0 = [[1, 1], [1, 0], [0, 1], [1, 0]]
    assert exact.nu(exact.diagonal_kernel(a0, np.ones((4, 2), int), np.ones((4, 2), int))) == 3


def test_solve():
    A = [[Fraction(1), Fraction(2)], [Fraction(2), Fraction(4)]]
    assert exact.solve(A, [Fraction(1), Fraction(2)]) == [1, 0]
    assert exact.solve(A, [Fraction(1), Fraction(3)]) is None


def test_audit_and_enumeration():
    mats = list(exact.lower_01_matrices(3))
    assert len(mats) == 64 and len({str(m) for m in mats}) == 64
    assert all(m[i][j] == 0 for m in mats for i in range(3) for j in range(i + 1, 3))
    for M in mats:
        r = exact.audit(M)
        assert r["problems"] == []
        assert r["ss_rank"] <= r["width"] <= r["nu"] == r["woerdeman"]
    r = exact.audit(REMARK)
    assert (r["ss_rank"], r["nu"], r["width"], r["blocks"]) == (2, 3, 3, [(0, 4)])


def test_validation():
    with pytest.raises(ValueError, match="expected a square"):
        exact.ss_rank([[1, 0, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match="M has shape"):
        exact.ss_rank(np.ones((2, 3), int))
    with pytest.raises(ValueError, match="M has rows of lengths"):
        exact.nu([[1, 0], [1]])
    with pytest.raises(ValueError, match=r"not lower triangular: M\[0, 1\] = 1"):
        exact.nu([[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="not finite"):
        exact.nu([[float("nan"), 0], [0, 1]])
    with pytest.raises(TypeError, match="is not an int, Fraction or float"):
        exact.nu([["a", 0], [0, 1]])
    M = [[Fraction(1, 2), 0], [3, 4]]
    before = [row[:] for row in M]
    exact.one_ss_dual(M, 2)
    assert M == before


def test_solve_is_exact_for_integer_systems():
    """1 / int was a float division: [[3, 1], [1, 2]] alpha = [1, 1] gave 0.19999999999999998,
    and 17% of random consistent integer systems were reported unsolvable."""
    assert exact.solve([[3, 1], [1, 2]], [1, 1]) == [Fraction(1, 5), Fraction(2, 5)]
    rng = np.random.default_rng(0)
    for _ in range(200):
        A = rng.integers(-4, 5, (3, 3)).tolist()
        alpha = rng.integers(-3, 4, 3).tolist()
        b = [sum(A[i][j] * alpha[j] for j in range(3)) for i in range(3)]
        got = exact.solve(A, b)
        assert got is not None and all(sum(Fraction(A[i][j]) * got[j] for j in range(3)) == b[i]
                                       for i in range(3))
    assert exact.solve([[1, 1], [2, 2]], [1, 3]) is None                  # inconsistent
    with pytest.raises(ValueError, match="b has 1 entries; expected m = 2"):
        exact.solve([[1, 0], [0, 1]], [1])


def test_exact_helpers_check_their_shapes():
    with pytest.raises(ValueError, match=r"a has 3 entries; expected T = 2 \(from M\)"):
        exact.dual_error([[1, 0], [0, 1]], [1, 0, 5], [[1], [1], [7]], [[1], [1], [9]])
    with pytest.raises(ValueError, match=r"K has width 1; expected N = 2 \(as Q\)"):
        exact.masked_attention([1, 1], [[1, 2], [3, 4]], [[1], [1]])
    with pytest.raises(ValueError, match=r"Q has 1 rows; expected T = 2"):
        exact.masked_attention([1, 1], [[1, 2]], [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"B has shape \(2, 3\); expected \(T, N\) = \(2, 2\)"):
        exact.diagonal_kernel([[1, 1], [1, 1]], [[1, 1, 1], [1, 1, 1]], [[1, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"C has shape \(1, 2\)"):
        exact.diagonal_kernel([[1, 1], [1, 1]], [[1, 1], [1, 1]], [[1, 1]])
    # a message with a tiny entry stays short
    with pytest.raises(ValueError, match=r"M\[0, 1\] = 1e-300 above") as exc:
        exact.as_fractions([[1, 1e-300], [0, 1]])
    assert len(str(exc.value)) < 100
