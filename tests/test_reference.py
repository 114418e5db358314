"""The NumPy reference's own results: complex decays, kernels, identities between forms.

The checks every implementation shares (each form against the recurrence on y and the final
state, shapes, causality, continuation, ...) are in tests/test_forms.py, parametrized over the
registry; this file holds what only the reference has.
"""
import numpy as np
import pytest

import ssd_edu
from ssd_edu import reference as ref
from ssd_edu.testing import assert_close, call, check_against_oracle, keys, make_inputs

NUMPY_FORMS = keys("numpy")


def test_registry_has_every_numpy_form():
    expected = {f"numpy.{f}.{g}" for f in ssd_edu.FAMILIES for g in ssd_edu.FORMS}
    assert set(NUMPY_FORMS) == expected


@pytest.mark.parametrize("name", keys("numpy", "diagonal"))
@pytest.mark.parametrize("T", [1, 5, 64])
def test_diagonal_forms_complex_decays(name, T):
    d = make_inputs("diagonal", T, N=4, P=3, batch=(2,), regime="complex", seed=1)
    check_against_oracle(name, d, chunk_size=7, label="complex")


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("T", [1, 17, 37, 64, 100])
@pytest.mark.parametrize("Q", [1, 2, 3, 5, 7, 8, 16, 64, 101, 200])
def test_chunk_size_invariance(fam, T, Q):
    d = make_inputs(fam, T, N=2, P=3, batch=(), regime="zero", seed=Q)
    check_against_oracle(f"numpy.{fam}.chunked", d, chunk_size=Q, label=f"T={T} Q={Q}")


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_a0_matters_only_through_initial_state(fam):
    d = make_inputs(fam, 6, N=2, P=2, seed=4)
    e = {k: v.copy() for k, v in d.items()}
    e["a"][0] = -3.0
    for name in keys("numpy", fam):
        y, _ = call(name, d, chunk_size=4)
        y2, _ = call(name, e, chunk_size=4)
        assert not np.allclose(y, y2), f"{name}: a_0 must act through h_-1"
        np.testing.assert_array_equal(call(name, d, chunk_size=4, initial_state=None)[0],
                                      call(name, e, chunk_size=4, initial_state=None)[0])


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_initial_state_term(fam):
    """y with x = 0 is (C_t o prod_{u<=t} a_u)^T h_{-1}."""
    d = make_inputs(fam, 9, N=3, P=2, regime="negative", seed=6)
    d["x"] = np.zeros_like(d["x"])
    delta = np.cumprod(d["a"], axis=0)
    if fam == "scalar":
        expected = np.einsum("t,tn,np->tp", delta, d["C"], d["initial_state"])
    else:
        expected = np.einsum("tn,tn,np->tp", delta, d["C"], d["initial_state"])
    for name in keys("numpy", fam):
        y, _ = call(name, d, chunk_size=4)
        assert_close(f"{name} initial-state term", expected, y)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_impulse_response_is_kernel_column(fam):
    d = make_inputs(fam, 8, N=3, P=2, regime="zero", seed=8, initial_state=False)
    M = getattr(ref, f"{fam}_kernel")(d["a"], d["B"], d["C"])
    for s in (0, 3, 7):
        x = np.zeros((8, 2))
        x[s, 1] = 1.0
        for name in keys("numpy", fam):
            y, _ = call(name, d, chunk_size=3, x=x)
            assert_close(f"{name} impulse at {s}", M[:, s], y[:, 1])
            np.testing.assert_array_equal(y[:, 0], 0.0)
    # y_0 = C_0^T B_0 x_0
    x = np.zeros((8, 2))
    x[0] = [2.0, -1.0]
    y, _ = ssd_edu.oracle(fam)(x, d["a"], d["B"], d["C"])
    np.testing.assert_allclose(y[0], (d["C"][0] @ d["B"][0]) * x[0], rtol=1e-15)


def test_hand_computed_tiny_case():
    """T = 3, N = P = 1, B = C = 1: h = (1, 0.5*1 + 2, -1*2.5 + 3) = (1, 2.5, 0.5); a_0 unused."""
    x = np.array([[1.0], [2.0], [3.0]])
    a = np.array([9.0, 0.5, -1.0])
    ones = np.ones((3, 1))
    for name in keys("numpy", "scalar"):
        y, h = call(name, dict(x=x, a=a, B=ones, C=ones, initial_state=None), chunk_size=2)
        np.testing.assert_array_equal(y[:, 0], [1.0, 2.5, 0.5])
        np.testing.assert_array_equal(h, [[0.5]])
    M = ref.scalar_kernel(a, ones, ones)
    np.testing.assert_array_equal(M, [[1, 0, 0], [0.5, 1, 0], [-0.5, -1, 1]])


@pytest.mark.parametrize("form", ssd_edu.FORMS)
def test_scalar_equals_broadcast_diagonal(form):
    scalar, diagonal = f"numpy.scalar.{form}", f"numpy.diagonal.{form}"
    d = make_inputs("scalar", 19, N=4, P=3, batch=(2,), regime="mixed", seed=7)
    y, h = call(scalar, d, chunk_size=5)
    y2, h2 = call(diagonal, d, chunk_size=5, a=np.repeat(d["a"][..., None], 4, axis=-1))
    assert_close(f"scalar vs broadcast diagonal {form} y", y, y2)
    assert_close(f"scalar vs broadcast diagonal {form} state", h, h2)
    # N = 1 diagonal is scalar
    d1 = make_inputs("scalar", 19, N=1, P=3, seed=8)
    y3, h3 = call(scalar, d1, chunk_size=5)
    y4, h4 = call(diagonal, d1, chunk_size=5, a=d1["a"][:, None])
    assert_close("N = 1 y", y3, y4)
    assert_close("N = 1 state", h3, h4)


def test_diagonal_equals_general_with_diag_A():
    d = make_inputs("diagonal", 13, N=3, P=2, batch=(2,), regime="negative", seed=9)
    A = np.einsum("btn,nm->btnm", d["a"], np.eye(3))
    y, h = ref.diagonal_scan(**d)
    y2, h2 = ref.general_scan(d["x"], A, d["B"], d["C"], initial_state=d["initial_state"])
    assert_close("general scan y", y, y2)
    assert_close("general scan state", h, h2)
    assert_close("general kernel", ref.diagonal_kernel(d["a"], d["B"], d["C"]),
                 ref.general_kernel(A, d["B"], d["C"]))


def test_general_kernel_matches_general_scan():
    d = make_inputs("general", 10, N=3, P=2, batch=(2,), seed=10, initial_state=False)
    M = ref.general_kernel(d["A"], d["B"], d["C"])
    y, _ = ref.general_scan(**d)
    assert_close("general kernel @ x", y, M @ d["x"])
    assert np.all(np.triu(M, 1) == 0)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_kernel_identities(fam):
    d = make_inputs(fam, 16, N=3, P=2, batch=(2,), regime="zero", seed=11, initial_state=False)
    M = getattr(ref, f"{fam}_kernel")(d["a"], d["B"], d["C"])
    y, _ = ssd_edu.oracle(fam)(**d)
    assert_close(f"{fam} kernel @ x", y, M @ d["x"])
    if fam == "scalar":
        # M = 1SS(a) o C B^T
        expected = ref.one_ss_mask(d["a"]) * (d["C"] @ np.swapaxes(d["B"], -1, -2))
        assert_close("1SS(a) o C B^T", expected, M)
    else:
        assert_close("sum of heads", M, ref.diagonal_heads(d["a"], d["B"], d["C"]).sum(-3))


def test_conjugate_pair_modes_give_real_kernel():
    rng = np.random.default_rng(12)
    T = 20
    a1 = 0.9 * np.exp(1j * rng.uniform(-1, 1, T))
    b1 = rng.standard_normal(T) + 1j * rng.standard_normal(T)
    c1 = rng.standard_normal(T) + 1j * rng.standard_normal(T)
    a = np.stack([a1, a1.conj()], -1)
    B = np.stack([b1, b1.conj()], -1)
    C = np.stack([c1, c1.conj()], -1)
    M = ref.diagonal_kernel(a, B, C)
    assert np.max(np.abs(M.imag)) <= 1e-15


@pytest.mark.parametrize("regime", ["random", "negative"])
def test_single_mask_rewrite(regime):
    d = make_inputs("diagonal", 48, N=4, P=1, regime=regime, seed=13)
    d["a"][0] = 0.0  # a_0 never enters the kernel, so a zero there is allowed
    Cp, Bp = ref.diagonal_single_mask(d["a"], d["B"], d["C"])
    assert Cp.shape == Bp.shape == (48, 4)
    assert_close("tril(C' B'^T)", ref.diagonal_kernel(d["a"], d["B"], d["C"]),
                 np.tril(Cp @ Bp.T))


def test_single_mask_rewrite_reverse_direction_is_wrong():
    d = make_inputs("diagonal", 37, N=3, P=1, seed=14)
    d["a"] = np.random.default_rng(0).uniform(0.3, 0.99, (37, 3))
    Cp, Bp = ref.diagonal_single_mask(d["a"], d["B"], d["C"])
    p = Cp / d["C"]
    wrong = np.tril((d["C"] / p) @ (d["B"] * p).T)
    assert np.max(np.abs(wrong - ref.diagonal_kernel(d["a"], d["B"], d["C"]))) > 1.0


def test_single_mask_rewrite_refuses_zero_decay():
    d = make_inputs("diagonal", 10, N=3, P=1, seed=15)
    d["a"][4, 2] = 0.0
    with pytest.raises(ValueError, match=r"a has a zero decay at index \(4, 2\)"):
        ref.diagonal_single_mask(d["a"], d["B"], d["C"])


def test_single_mask_rewrite_underflows_at_long_T():
    """a = 0.5, T = 1200: the cumulative product underflows, the rewrite gives NaN."""
    T = 1200
    a = np.full((T, 1), 0.5)
    ones = np.ones((T, 1))
    Cp, Bp = ref.diagonal_single_mask(a, ones, ones)
    with np.errstate(invalid="ignore", over="ignore"):
        rewrite = np.tril(Cp @ Bp.T)
    assert np.isnan(rewrite).sum() > 1000
    assert not np.isnan(ref.diagonal_kernel(a, ones, ones)).any()


@pytest.mark.parametrize("T", [0, 1, 17])
@pytest.mark.parametrize("regime", ["random", "zero", "negative", "complex"])
def test_algorithm1_matches_scan(T, regime):
    d = make_inputs("diagonal", T, N=5, P=3, batch=(2,), regime=regime, seed=T)
    y, h = ref.diagonal_scan(**d)
    y2, h2 = ref.diagonal_algorithm1(**d)
    assert_close("Algorithm 1 y", y, y2)
    assert_close("Algorithm 1 state", h, h2)


def test_diagonal_heads_sum_to_the_kernel_with_complex_decays():
    """sum_n of the N one-mode kernels is the diagonal kernel and, applied to x, the scan's y;
    with complex a, B, C, so a conjugate slipped into one of them shows (no reference form
    calls diagonal_heads, and real data cannot see a conjugate)."""
    from ssd_edu.reference.diagonal import diagonal_heads, diagonal_kernel, diagonal_scan
    rng = np.random.default_rng(0)
    T, N, P = 5, 3, 2

    def c(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    a, B, C, x = 0.8 * c(T, N), c(T, N), c(T, N), c(T, P)
    heads = diagonal_heads(a, B, C)                         # (N, T, T)
    np.testing.assert_allclose(heads.sum(-3), diagonal_kernel(a, B, C), atol=1e-12)
    np.testing.assert_allclose(heads.sum(-3) @ x, diagonal_scan(x, a, B, C)[0], atol=1e-12)
