"""ssd_edu.structure: hand-computed cases, agreement with exact arithmetic, the dual, validation."""
from fractions import Fraction

import numpy as np
import pytest

from ssd_edu import exact, structure
from ssd_edu.reference import diagonal_kernel, one_ss_mask, scalar_kernel
from ssd_edu.structure import NoDualError
from ssd_edu.testing import make_inputs

REMARK = np.array([[2, 0, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 1, 2]], float)


def corner(T):
    M = np.eye(T)
    M[-1, 0] = 1.0
    return M


def planted(rng, T, N, cuts=(), low=0.92, high=0.999):
    a = rng.uniform(low, high, T)
    a[list(cuts)] = 0.0
    return one_ss_mask(a) * (rng.standard_normal((T, N)) @ rng.standard_normal((T, N)).T)


# ---- hand-computed cases ---------------------------------------------------------------------

def test_remark_example():
    assert structure.ss_rank(REMARK) == 2
    assert structure.new_columns(REMARK) == [0, 1, 2]
    assert structure.nu(REMARK) == 3
    assert structure.min_completion_rank(REMARK) == 3
    assert structure.split_points(REMARK) == []
    assert structure.split_blocks(REMARK) == [(0, 4)]


@pytest.mark.parametrize("T", [3, 4, 6, 9])
def test_corner_matrix(T):
    M = corner(T)
    assert structure.new_columns(M) == list(range(T - 1))
    assert structure.ss_rank(M) == 2
    assert structure.min_completion_rank(M) == T - 1
    assert structure.split_points(M) == []
    # strict blocks have rank 1: the inclusive blocks are what make it 2-SS
    assert max(np.linalg.matrix_rank(M[t:, :t]) for t in range(1, T)) == 1


def test_identity_splits_into_1x1_blocks():
    M = np.eye(5)
    assert structure.nu(M) == 5
    assert structure.split_points(M) == [1, 2, 3, 4]
    assert structure.split_blocks(M) == [(t, t + 1) for t in range(5)]
    verdict = structure.has_one_ss_dual(M, 1)
    assert verdict and verdict.min_width == 1 and verdict.nu == [1] * 5
    a, Q, K = structure.one_ss_dual(M, 1)
    assert a.tolist() == [1, 0, 0, 0, 0]
    assert structure.dual_error(M, a, Q, K) == 0.0


def test_causal_mask_and_zero_columns():
    L = np.tril(np.ones((6, 6)))
    assert structure.new_columns(L) == [0] and structure.ss_rank(L) == 1
    M = np.tril(np.ones((4, 4)))
    M[:, 0] = 0.0  # column 0 zero: never new
    M[:, 2] = 0.0
    assert structure.new_columns(M) == [1]
    Z = np.zeros((4, 4))
    assert structure.ss_rank(Z) == 0 and structure.nu(Z) == 0
    assert structure.split_points(Z) == [1, 2, 3]
    a, Q, K = structure.one_ss_dual(Z, 2)
    assert np.all(Q == 0) and np.all(K == 0)


def test_tiny_sizes():
    assert structure.ss_rank(np.zeros((0, 0))) == 0
    assert structure.new_columns(np.zeros((0, 0))) == []
    assert structure.split_points(np.ones((1, 1))) == []
    assert structure.new_columns(np.array([[3.0]])) == [0]
    a, Q, K = structure.one_ss_dual(np.array([[3.0]]), 1)
    assert np.allclose(Q @ K.T, 3.0)


def test_strict_block_trap():
    # nu uses rank M[t:, :t] on the SAME rows as the inclusive block; the rank "from step
    # t - 1", rank M[t-1:, :t], is a different number (here it would give nu = 2, not T - 1)
    M = corner(6)
    trap = sum(np.linalg.matrix_rank(M[t:, : t + 1]) - (np.linalg.matrix_rank(M[t - 1:, :t])
                                                         if t else 0) for t in range(6))
    assert trap != structure.nu(M) == 5


@pytest.mark.parametrize("N", [1, 2, 4])
def test_fine_diagonal_kernel_has_nu_N(N):
    d = make_inputs("diagonal", 24, N, 1, regime="random", seed=N)
    a = np.random.default_rng(N).uniform(0.9, 1.0, (24, N))
    M = diagonal_kernel(a, d["B"], d["C"])
    assert structure.nu(M) == structure.ss_rank(M) == structure.min_completion_rank(M) == N


def test_ss_rank_of_state_N_kernels():
    for N in (1, 3, 5):
        d = make_inputs("scalar", 30, N, 1, regime="random", seed=N)
        assert structure.ss_rank(scalar_kernel(d["a"], d["B"], d["C"])) == N
    a = make_inputs("scalar", 30, 1, 1, regime="zero", seed=1)["a"]
    assert structure.ss_rank(one_ss_mask(a)) == 1


def test_lemma_41_splits_are_zero_decays():
    a = np.array([0.0, 0.5, 0.0, 0.9, 0.7, 0.0, 0.0, 0.8])
    L = one_ss_mask(a)
    assert structure.split_points(L) == [2, 5, 6]
    assert structure.split_blocks(L) == [(0, 2), (2, 5), (5, 6), (6, 8)]


# ---- agreement with exact arithmetic ---------------------------------------------------------

def _dyadic_kernels(count, seed=0):
    rng = np.random.default_rng(seed)
    for k in range(count):
        T = int(rng.integers(1, 8))
        d = make_inputs("diagonal", T, int(rng.integers(1, 4)), 1, regime="dyadic",
                        seed=int(rng.integers(1 << 30)))
        # exact in float64 (docs/theory.md#exact-data)
        yield diagonal_kernel(d["a"], d["B"], d["C"])


def test_float_structure_equals_exact_on_dyadic_kernels():
    for M in _dyadic_kernels(40):
        L = M.tolist()
        assert structure.new_columns(M) == exact.new_columns(L)
        assert structure.ss_rank(M) == exact.ss_rank(L)
        assert structure.min_completion_rank(M) == exact.min_completion_rank(L)
        assert structure.split_points(M) == exact.split_points(L)
        assert structure.has_one_ss_dual(M, 2).nu == exact.has_one_ss_dual(L, 2).nu


def test_float_structure_equals_exact_on_random_01_matrices():
    rng = np.random.default_rng(5)
    for _ in range(60):
        T = int(rng.integers(2, 8))
        M = np.tril(rng.integers(0, 2, (T, T))).astype(float)
        assert structure.new_columns(M) == exact.new_columns(M.astype(int).tolist())
        assert structure.ss_rank(M) == exact.ss_rank(M.astype(int).tolist())


def test_woerdeman_equals_nu_in_float():
    rng = np.random.default_rng(3)
    for cuts in ((), (10,), (7, 20)):
        M = planted(rng, 32, 3, cuts)
        assert structure.min_completion_rank(M) == structure.nu(M)


def test_nu_is_additive_over_blocks():
    D = np.zeros((10, 10))
    D[:4, :4] = REMARK
    D[4:, 4:] = corner(6)
    assert structure.nu(D) == structure.nu(REMARK) + structure.nu(corner(6)) == 8
    assert structure.split_points(D) == [4]


# ---- Theorem 4.1: the condition and the dual -------------------------------------------------

@pytest.mark.parametrize("T,N,cuts", [(32, 1, (9,)), (48, 2, (12, 30)), (64, 4, (20,))])
def test_planted_dual_is_found_and_rebuilt(T, N, cuts):
    rng = np.random.default_rng(T + N)
    M = planted(rng, T, N, cuts)
    verdict = structure.has_one_ss_dual(M, N)
    assert verdict and verdict.blocks[0][0] == 0 and structure.split_points(M) == list(cuts)
    a, Q, K = structure.one_ss_dual(M, N)
    assert Q.shape == K.shape == (T, N)
    assert [t for t in range(1, T) if a[t] == 0] == list(cuts) and a[0] == 1
    assert structure.dual_error(M, a, Q, K) <= 1e-9
    assert np.array_equal(np.triu(one_ss_mask(a) * (Q @ K.T), 1), np.zeros((T, T)))


def test_no_dual_is_rejected_with_the_block_named():
    M = np.zeros((10, 10))
    M[3:7, 3:7] = REMARK
    verdict = structure.has_one_ss_dual(M, 2)
    assert not verdict
    assert "block [3, 7)" in verdict.reason and "3 new columns" in verdict.reason
    with pytest.raises(NoDualError, match=r"block \[3, 7\)"):
        structure.one_ss_dual(M, 2)
    a, Q, K = structure.one_ss_dual(M, 3)
    assert structure.dual_error(M, a, Q, K) <= 1e-12


def test_corner_needs_width_T_minus_1():
    M = corner(10)
    with pytest.raises(NoDualError):
        structure.one_ss_dual(M, 8)
    a, Q, K = structure.one_ss_dual(M, 9)
    assert structure.dual_error(M, a, Q, K) <= 1e-9


def test_min_rank_completion_has_rank_nu():
    rng = np.random.default_rng(9)
    M = planted(rng, 20, 2)
    R, new = structure.min_rank_completion(M)
    assert np.array_equal(np.tril(R), M)
    assert np.linalg.matrix_rank(R) == len(new) == structure.nu(M) == 2


def test_strong_decays_blow_up_the_completion():
    rng = np.random.default_rng(1)
    T = 64
    a = rng.uniform(0.3, 0.6, T)
    q, k = rng.uniform(0.5, 1.5, T), rng.uniform(0.5, 1.5, T)
    M = one_ss_mask(a) * np.outer(q, k)
    R, new = structure.min_rank_completion(M)
    assert len(new) == 1
    # the unique rank-1 completion has R[s, t] = q_s k_t / alpha(t, s): huge upper entries
    predicted = q[0] * k[12] / np.prod(a[1:13])
    assert R[0, 12] == pytest.approx(predicted, rel=1e-6)
    assert abs(R[0, 12]) > 1e3 * np.max(np.abs(M))


# ---- tolerances ------------------------------------------------------------------------------

def test_split_tol_for_noisy_zeros():
    rng = np.random.default_rng(0)
    M = planted(rng, 20, 2, (8,))
    noisy = M + np.tril(1e-15 * rng.standard_normal((20, 20)))
    # the default split test is the rank test's: rounding-level crossing blocks split
    assert structure.split_points(noisy) == [8]
    assert structure.split_points(noisy, split_tol=0.0) == []  # the exact zero test
    assert structure.split_points(noisy, split_tol=1e-12) == [8]
    visible = M + np.tril(1e-6 * rng.standard_normal((20, 20)))
    assert structure.split_points(visible) == []


def test_split_and_rank_tolerances_agree_on_a_tiny_corner():
    # docs/theory.md#tolerances / issue: exact arithmetic has nu = 1 and a width-1 dual; the float
    # verdict must agree, so the crossing entry 1e-20 (rank 0 for the rank test) is a split
    M = np.array([[1.0, 0.0], [1e-20, 1.0]])
    assert exact.nu(M.tolist()) == 1 and exact.has_one_ss_dual(M.tolist(), 1)
    assert structure.split_points(M) == [1]
    assert structure.has_one_ss_dual(M, 1)
    dual = structure.one_ss_dual(M, 1)
    assert dual.error <= 1e-15


def _tiny_decay_kernel(value, T=32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.92, 0.999, T)
    a[16] = value
    Q = rng.integers(-3, 4, (T, 2)).astype(float)
    K = rng.integers(-3, 4, (T, 2)).astype(float)
    return one_ss_mask(a) * (Q @ K.T), a, Q, K


@pytest.mark.parametrize("value", [1e-20, 1e-12])
def test_a_tiny_decay_gets_the_exact_verdict_and_an_accurate_dual(value, recwarn):
    M, a, Q, K = _tiny_decay_kernel(value)
    # exact truth: the mask is fine (no zero decay), so nu <= 2 and a width-2 dual exists
    Mx = exact.masked_attention([Fraction(float(v)) for v in a], Q.astype(int).tolist(),
                                K.astype(int).tolist())
    assert exact.has_one_ss_dual(Mx, 2)
    assert structure.has_one_ss_dual(M, 2)
    dual = structure.one_ss_dual(M, 2)
    assert dual.error <= 1e-9 and dual.Q.shape == (32, 2)
    assert dual.error == structure.dual_error(M, *dual)
    assert not [w for w in recwarn if issubclass(w.category, structure.PoorDualWarning)]


def test_a_poor_dual_warns_and_reports_its_error():
    rng = np.random.default_rng(1)
    T, N = 64, 4
    M = diagonal_kernel(rng.uniform(0.3, 0.95, (T, N)), rng.standard_normal((T, N)),
                        rng.standard_normal((T, N)))
    with pytest.warns(structure.PoorDualWarning, match="relative error .* inverse decay"):
        dual = structure.one_ss_dual(M, N)
    assert dual.error > 1e-9 and dual.error == structure.dual_error(M, *dual)


def test_complex_kernels_are_accepted():
    rng = np.random.default_rng(2)
    T = 16
    lam = 0.9 * np.exp(0.4j)
    a = np.stack([np.full(T, lam), np.full(T, np.conj(lam))], -1)
    b = rng.standard_normal(T) + 1j * rng.standard_normal(T)
    c = rng.standard_normal(T) + 1j * rng.standard_normal(T)
    M = diagonal_kernel(a, np.stack([b, b.conj()], -1), np.stack([c, c.conj()], -1))
    assert np.max(np.abs(M.imag)) <= 1e-14  # a real kernel, computed in complex arithmetic
    assert structure.nu(M) == structure.ss_rank(M) == 2
    dual = structure.one_ss_dual(M, 2)
    assert dual.Q.dtype == np.float64 and dual.error <= 1e-9
    Z = np.tril(rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6)))
    assert structure.nu(Z) == 3 and structure.ss_rank(Z) == 3  # a genuinely complex kernel
    assert structure.one_ss_dual(Z, 3).error <= 1e-12


def test_rtol_controls_the_rank():
    M = np.tril(np.ones((6, 6)))
    M[5, 0] += 1e-9
    assert structure.ss_rank(M) == 2
    assert structure.ss_rank(M, rtol=1e-6) == 1


def test_tiny_upper_entries_are_tolerated_and_ignored():
    M = REMARK.copy()
    M[0, 3] = 1e-17
    assert structure.nu(M) == 3
    M[0, 3] = 1e-6
    with pytest.raises(ValueError, match=r"not lower triangular: M\[0, 3\]"):
        structure.nu(M)


def test_float32_uses_its_own_epsilon():
    M = np.tril(np.ones((8, 8))).astype(np.float32)
    M[7, 0] += np.float32(1e-7)  # below float32 resolution relative to the block
    assert structure.ss_rank(M) == 1


# ---- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("T", [8, 16, 64])
def test_float32_keeps_its_epsilon_through_the_dual(T):
    """A float32 state-1 kernel has a width-1 dual: the blocks' new columns are ranked with
    float32's eps too (the dual check re-validated the float64 copy and lost it)."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0.95, 1, T).astype(np.float32)
    B, C = (rng.standard_normal((T, 1)).astype(np.float32) for _ in range(2))
    M = scalar_kernel(a, B, C)
    assert structure.nu(M) == 1
    check = structure.has_one_ss_dual(M, 1)
    assert check and check.nu == [1], check.reason
    assert structure.one_ss_dual(M, 1).error < 1e-3
    tiny = np.array([[1, 0], [1e-7, 1]], dtype=np.float32)
    assert structure.split_blocks(tiny) == [(0, 1), (1, 2)] and structure.split_points(tiny) == [1]


@pytest.mark.parametrize("scale", [1.0, 1e-150, 1e-170, 1e-300, 1e150, 1e300])
def test_split_verdicts_do_not_depend_on_the_scale(scale, recwarn):
    """Split points are relative: a tiny or huge M splits where M does (squares underflowed
    below 1e-162 and a real split was missed; they overflowed above 1e154)."""
    M = np.array([[1.0, 0.0], [1e-20, 1.0]])
    assert structure.split_points(scale * M) == [1]
    assert structure.has_one_ss_dual(scale * M, 1)
    assert exact.has_one_ss_dual((scale * M).tolist(), 1)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("fn", [structure.ss_rank, structure.new_columns, structure.nu,
                                structure.min_completion_rank, structure.split_points,
                                structure.split_blocks])
def test_matrix_validation(fn):
    with pytest.raises(ValueError, match="M has shape"):
        fn(np.ones((3, 4)))
    with pytest.raises(ValueError, match="M has shape"):
        fn(np.ones((2, 3, 3)))
    bad = np.eye(3)
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="M has 1 non-finite"):
        fn(bad)
    with pytest.raises(ValueError, match="not lower triangular"):
        fn(np.ones((3, 3)))


def test_width_and_tolerance_validation():
    for bad, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                     ("2", TypeError)):
        with pytest.raises(exc, match="N must be an integer >= 1"):
            structure.has_one_ss_dual(np.eye(3), bad)
        with pytest.raises(exc, match="N must be an integer >= 1"):
            structure.one_ss_dual(np.eye(3), bad)
    with pytest.raises(ValueError, match="rtol must be"):
        structure.ss_rank(np.eye(3), rtol=-1)
    with pytest.raises(ValueError, match="split_tol must be"):
        structure.split_points(np.eye(3), split_tol=float("nan"))
    assert structure.has_one_ss_dual(np.eye(3), np.int64(1))


def test_inputs_are_not_modified():
    M = np.tril(np.arange(1.0, 26.0).reshape(5, 5))
    M[0, 4] = 1e-18
    before = M.copy()
    structure.one_ss_dual(M, 5)
    structure.min_rank_completion(M)
    structure.split_points(M)
    assert np.array_equal(M, before)


# ---- beyond diagonal A_t: the invertible rewrite and realization -----------------------------

def _rotations(rng, T, radius=(0.9, 1.0)):
    th = rng.uniform(-np.pi, np.pi, T)
    r = rng.uniform(*radius, T)
    return np.stack([np.stack([r * np.cos(th), -r * np.sin(th)], -1),
                     np.stack([r * np.sin(th), r * np.cos(th)], -1)], -2)


def test_general_single_mask_is_the_kernel_for_invertible_A():
    from ssd_edu.reference import general_kernel
    rng = np.random.default_rng(3)
    T = 20
    A = _rotations(rng, T)
    B, C = rng.standard_normal((T, 2)), rng.standard_normal((T, 2))
    Cp, Bp = structure.general_single_mask(A, B, C)
    M = general_kernel(A, B, C)
    assert np.max(np.abs(np.tril(Cp @ Bp.T) - M)) <= 1e-12 * np.max(np.abs(M))
    assert structure.nu(M) <= 2
    A[5] = [[0.0, 1.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match=r"A\[5, :, :\] is singular"):
        structure.general_single_mask(A, B, C)
    batched = np.stack([_rotations(rng, T), A])            # sequence 1 is the singular one
    with pytest.raises(ValueError, match=r"A\[1, 5, :, :\] is singular"):
        structure.general_single_mask(batched, B, C)


def test_ragged_lists_and_empty_kernels():
    with pytest.raises(ValueError, match="M is not a rectangular array"):
        structure.ss_rank([[1.0], [1.0, 2.0]])
    from ssd_edu import softmax
    for normalize in (True, False):
        S = softmax.causal_softmax(np.zeros((2, 0, 3)), np.zeros((2, 0, 3)), normalize=normalize)
        assert S.shape == (2, 0, 0)


def test_nilpotent_transition_has_no_narrow_dual():
    from ssd_edu.reference import general_kernel
    T = 7
    A = np.tile([[0.0, 1.0], [0.0, 0.0]], (T, 1, 1))
    M = general_kernel(A, np.ones((T, 2)), np.ones((T, 2)))
    assert np.array_equal(M, 2 * np.eye(T) + np.eye(T, k=-1))
    assert structure.ss_rank(M) == 2 and structure.nu(M) == T - 1
    assert not structure.has_one_ss_dual(M, T - 2)


@pytest.mark.parametrize("T,N", [(1, 1), (9, 2), (24, 3)])
def test_realize_round_trip(T, N):
    from ssd_edu.reference import general_kernel
    rng = np.random.default_rng(T)
    M = planted(rng, T, N, low=0.5, high=1.0)
    A, B, C = structure.realize(M, N)
    assert A.shape == (T, N, N) and B.shape == C.shape == (T, N)
    assert np.max(np.abs(general_kernel(A, B, C) - M)) <= 1e-12 * max(1, np.max(np.abs(M)))
    A, B, C = structure.realize(corner(8), 2)  # 2-SS but nu = 7: a state-2 SSM still exists
    assert np.max(np.abs(general_kernel(A, B, C) - corner(8))) <= 1e-13


def test_realize_refuses_ss_rank_above_N():
    M = np.tril(np.random.default_rng(4).standard_normal((8, 8)))  # ss_rank 4
    with pytest.raises(ValueError, match=r"M\[\d+:, :\d+\] has rank 4 > N = 3"):
        structure.realize(M, 3)
    with pytest.raises(ValueError, match="N must be an integer >= 1"):
        structure.realize(M, 0)


def test_complex_general_kernel_mask_and_realization():
    """Complex A_t, B_t, C_t: the kernel is C_t^T A_t ... A_{s+1} B_s with no conjugate (an
    explicit product loop here), general_scan agrees with it, general_single_mask reproduces
    it, and realize round-trips a complex triangle (a transpose in place of the conjugate
    transpose gave error 3.2)."""
    from ssd_edu.reference import general_kernel, general_scan
    rng = np.random.default_rng(12)
    T, N, P = 7, 2, 3
    cplx = lambda *shape: rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    A = 0.6 * cplx(T, N, N)
    B, C, x = cplx(T, N), cplx(T, N), rng.standard_normal((T, P))
    M_loop = np.zeros((T, T), complex)
    for t in range(T):
        for s in range(t + 1):
            Phi = np.eye(N, dtype=complex)
            for u in range(s + 1, t + 1):
                Phi = A[u] @ Phi
            M_loop[t, s] = C[t] @ Phi @ B[s]
    M = general_kernel(A, B, C)
    assert np.max(np.abs(M - M_loop)) <= 1e-12 * np.max(np.abs(M_loop))
    y, _ = general_scan(x, A, B, C)
    assert np.max(np.abs(y - M_loop @ x)) <= 1e-12 * np.max(np.abs(y))
    Cp, Bp = structure.general_single_mask(A, B, C)
    assert np.max(np.abs(np.tril(Cp @ Bp.T) - M_loop)) <= 1e-10 * np.max(np.abs(M_loop))
    M7 = np.tril(cplx(T, T))
    A_r, B_r, C_r = structure.realize(M7, structure.ss_rank(M7))
    assert np.max(np.abs(general_kernel(A_r, B_r, C_r) - M7)) <= 1e-12 * np.max(np.abs(M7))


def test_general_single_mask_names_an_underflowing_product():
    """A_t = 0.5 I: every A_t is invertible, but Phi_t = 0.5^t I underflows at t = 1075 (a bare
    LinAlgError before)."""
    T = 1100
    A = np.tile(0.5 * np.eye(2), (T, 1, 1))
    with pytest.raises(ValueError, match="Phi_1075 = A_1075 ... A_1 is numerically singular"):
        structure.general_single_mask(A, np.ones((T, 2)), np.ones((T, 2)))
