"""The 1-SS mask and segsum: direct products, the stable log-space sum, and where naive breaks."""
import numpy as np
import pytest

import ssd_edu
from ssd_edu.reference import one_ss_mask, prefix_products, segsum, segsum_naive, suffix_products
from ssd_edu.testing import assert_close, make_inputs


def test_mask_definition_small():
    a = np.array([7.0, 2.0, 0.5, -1.0])  # a_0 never appears
    expected = np.array([[1, 0, 0, 0],
                         [2, 1, 0, 0],
                         [1, 0.5, 1, 0],
                         [-1, -0.5, -1, 1]])
    np.testing.assert_array_equal(one_ss_mask(a), expected)


def test_mask_special_cases():
    np.testing.assert_array_equal(one_ss_mask(np.ones(5)), np.tril(np.ones((5, 5))))
    np.testing.assert_array_equal(one_ss_mask(np.zeros(5)), np.eye(5))
    assert one_ss_mask(np.zeros(0)).shape == (0, 0)


def test_mask_batched_and_scan_equivalence():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2, 3, 9))
    z = rng.standard_normal((2, 3, 9))
    L = one_ss_mask(a)
    assert L.shape == (2, 3, 9, 9)
    # L z is the scalar scan w_t = a_t w_{t-1} + z_t
    w = np.zeros((2, 3))
    for t in range(9):
        w = a[..., t] * w + z[..., t]
        assert_close(f"L z at t={t}", w, np.einsum("...s,...s->...", L[..., t, :], z))


@pytest.mark.parametrize("regime", ["zero", "negative", "near_one", "strong", "complex", "mixed"])
def test_mask_entries_are_direct_products(regime):
    d = make_inputs("diagonal" if regime == "complex" else "scalar", 12, 1, 1, regime=regime,
                    seed=1)
    a = d["a"][:, 0] if regime == "complex" else d["a"]
    L = one_ss_mask(a)
    assert np.all(np.isfinite(L))
    for t in range(12):
        for s in range(12):
            expected = np.prod(a[s + 1:t + 1]) if t >= s else 0.0
            assert L[t, s] == expected or abs(L[t, s] - expected) <= 1e-15 * abs(expected)


def test_mask_rank_one_inclusive_blocks():
    a = np.random.default_rng(2).uniform(0.5, 1, 10)
    L = one_ss_mask(a)
    for t in range(10):
        assert np.linalg.matrix_rank(L[t:, : t + 1]) == 1


def test_stable_segsum_matches_products_with_zeros():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.2, 1.0, (2, 16))
    a[0, [0, 5, 11]] = 0.0
    a[1, [1, 15]] = 0.0
    with np.errstate(divide="ignore"):
        S = segsum(np.log(a))
    assert not np.isnan(S).any()
    assert_close("exp(segsum)", one_ss_mask(a), np.exp(S))
    # an exact zero decay gives an exact zero
    L = np.exp(S)
    assert L[0, 5, 4] == 0.0 and L[0, 11, 0] == 0.0


def test_naive_segsum_gives_nan_exactly_where_a_zero_precedes():
    """NaN at (t, s), t >= s, iff some a_u = 0 with u <= s (docs/theory.md#checks)."""
    rng = np.random.default_rng(4)
    a = rng.uniform(0.2, 1.0, 12)
    zeros = [4, 9]
    a[zeros] = 0.0
    with np.errstate(divide="ignore"):
        S = segsum_naive(np.log(a))
    t, s = np.indices((12, 12))
    # some zero a_u with u <= s  <=>  s >= first zero
    expected_nan = (t >= s) & (s >= min(zeros))
    np.testing.assert_array_equal(np.isnan(S), expected_nan)
    # a zero a_0, which never enters the mask, poisons every lower entry
    with np.errstate(divide="ignore"):
        S0 = segsum_naive(np.log(np.r_[0.0, np.full(5, 0.5)]))
    assert np.isnan(S0[np.tri(6, dtype=bool)]).all()


def test_naive_and_stable_agree_without_zeros():
    a = np.random.default_rng(5).uniform(0.5, 1.0, (3, 20))
    assert_close("naive vs stable", np.exp(segsum(np.log(a))), np.exp(segsum_naive(np.log(a))))


def test_prefix_and_suffix_products():
    a = np.array([2.0, 0.5, 0.0, -3.0])
    np.testing.assert_array_equal(prefix_products(a), [2.0, 1.0, 0.0, -0.0])
    np.testing.assert_array_equal(suffix_products(a), [0.0, 0.0, -3.0, 1.0])
    np.testing.assert_array_equal(suffix_products(a), one_ss_mask(a)[-1])
    a2 = np.stack([a, a[::-1]], axis=-1)  # (T, N)
    np.testing.assert_array_equal(suffix_products(a2, axis=-2)[:, 0], suffix_products(a))


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("seed", range(3))
def test_dyadic_data_all_forms_bitwise_equal(fam, seed):
    """Dyadic data (docs/theory.md#exact-data): every product-and-sum form is exact, so all agree
    under ==."""
    d = make_inputs(fam, 8, N=3, P=2, batch=(2,), regime="dyadic", seed=seed)
    y, h = ssd_edu.oracle(fam)(**d)
    for form in ("attention", "chunked"):
        for Q in (1, 3, 8):
            kw = dict(chunk_size=Q) if form == "chunked" else {}
            y2, h2 = ssd_edu.IMPLEMENTATIONS[f"numpy.{fam}.{form}"](**d, **kw)
            np.testing.assert_array_equal(y, y2)
            np.testing.assert_array_equal(h, h2)


def test_log_space_and_product_helpers_validate_their_input():
    """segsum, segsum_naive, prefix_products and suffix_products name a bad argument (they
    returned NaN for a NaN, an object array for objects, or raised deep inside NumPy)."""
    from ssd_edu.reference import masks
    for fn in (masks.segsum, masks.segsum_naive):
        with pytest.raises(ValueError, match=r"log_a has shape \(\); expected \(\.\.\., T\)"):
            fn(0.5)
        with pytest.raises(ValueError, match="log_a has 1 entries that are NaN or \\+inf"):
            fn([0.0, np.nan, 0.0])
        with pytest.raises(TypeError, match="log_a has dtype"):
            fn(np.array(["a", "b"]))
        assert np.exp(fn([0.0, -np.inf, 0.0]))[2, 0] == 0 or fn is masks.segsum_naive
    for fn in (masks.prefix_products, masks.suffix_products):
        with pytest.raises(ValueError, match=r"a has shape \(\)"):
            fn(2.0)
        with pytest.raises(TypeError, match="a has dtype object"):
            fn(np.array([0.5, 1.0], dtype=object))
        with pytest.raises(ValueError, match="a has 1 non-finite"):
            fn([0.5, np.inf])
