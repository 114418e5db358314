"""ssd_edu.softmax: causal softmax kernels and the semiseparable rank growth."""
import math
from fractions import Fraction

import numpy as np
import pytest

from ssd_edu import exact, softmax, structure


def test_causal_softmax_matches_the_formula():
    rng = np.random.default_rng(0)
    Q, K = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    S = softmax.causal_softmax(Q, K)
    G = Q @ K.T / math.sqrt(3)
    for t in range(7):
        w = np.exp(G[t, : t + 1])
        assert np.allclose(S[t, : t + 1], w / w.sum(), rtol=1e-13, atol=0)
    assert np.all(np.triu(S, 1) == 0)
    assert np.allclose(S.sum(-1), 1.0)
    E = softmax.causal_softmax(Q, K, scale=2.0, normalize=False)
    assert np.allclose(E, np.tril(np.exp(2.0 * Q @ K.T)), rtol=1e-13, atol=0)


def test_batch_and_attention():
    rng = np.random.default_rng(1)
    Q, K, V = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    Y = softmax.causal_softmax_attention(Q, K, V)
    assert Y.shape == (2, 5, 4)
    assert np.allclose(Y, softmax.causal_softmax(Q, K) @ V)
    assert np.allclose(Y[:, 0], V[:, 0])  # the first query only sees the first value


def test_large_logits_normalized_vs_unnormalized():
    Q = np.arange(1.0, 41.0)[:, None]
    K = Q.copy()
    S = softmax.causal_softmax(Q, K, scale=1.0)
    assert np.all(np.isfinite(S)) and np.allclose(S.sum(-1), 1.0)
    with pytest.raises(ValueError, match="overflows"):
        softmax.causal_softmax(Q, K, scale=1.0, normalize=False)


def test_validation():
    with pytest.raises(ValueError, match="K has shape"):
        softmax.causal_softmax(np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="Q has shape"):
        softmax.causal_softmax(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="Q has 1 non-finite"):
        softmax.causal_softmax(np.array([[np.inf], [0.0]]), np.ones((2, 1)))
    with pytest.raises(ValueError, match="V has shape"):
        softmax.causal_softmax_attention(np.ones((4, 2)), np.ones((4, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="T must be an integer >= 1"):
        softmax.power_kernel(0)
    with pytest.raises(ValueError, match="base must be"):
        softmax.power_kernel(4, base=1)


def test_attention_checks_v_before_the_quadratic_work(monkeypatch):
    """A V that does not fit (its T, its batch, its entries) is refused before S is built."""
    def no_kernel(*args):
        raise AssertionError("the T x T kernel was built before V was checked")

    monkeypatch.setattr(softmax, "_kernel", no_kernel)
    Q = K = np.ones((2, 4, 3))
    with pytest.raises(ValueError, match=r"V \(3,\)"):
        softmax.causal_softmax_attention(Q, K, np.ones((3, 4, 2)))
    with pytest.raises(ValueError, match="V has shape"):
        softmax.causal_softmax_attention(Q, K, np.ones((2, 5, 2)))
    with pytest.raises(ValueError, match="V has 1 non-finite"):
        softmax.causal_softmax_attention(Q, K, np.array([[0.0], [np.nan], [0.0], [0.0]]))


def test_attention_broadcasts_v_across_heads():
    rng = np.random.default_rng(3)
    Q, K = rng.standard_normal((2, 2, 5, 3)), rng.standard_normal((2, 2, 5, 3))
    V = rng.standard_normal((5, 4))                          # one V for every head
    Y = softmax.causal_softmax_attention(Q, K, V)
    assert Y.shape == (2, 2, 5, 4)
    np.testing.assert_allclose(Y[1, 0], softmax.causal_softmax(Q[1, 0], K[1, 0]) @ V)


def test_power_kernel_entries():
    E = softmax.power_kernel(4)
    assert E[2][1] == 2 ** (3 * 2) and E[3][3] == 2 ** 16 and E[0][1] == 0
    S = softmax.power_kernel(3, normalize=True)
    assert [sum(row) for row in S] == [1, 1, 1]


@pytest.mark.parametrize("T", [4, 5, 6, 7, 8])
def test_power_kernel_exact_ranks(T):
    # ss_rank = ceil(T / 2) = 2, 3, 3, 4, 4 while the ordinary rank is T; row normalization
    # changes no rank
    assert softmax.power_kernel_ranks(T) == (-(-T // 2), T)
    assert softmax.power_kernel_ranks(T, normalize=True) == (-(-T // 2), T)


def test_uniform_average_is_full_rank_but_1_semiseparable():
    U = softmax.uniform_average(32)
    assert np.linalg.matrix_rank(U) == 32 and structure.ss_rank(U) == 1
    assert np.allclose(U, softmax.causal_softmax(np.zeros((32, 1)), np.zeros((32, 1))))
    Ue = [[Fraction(1, t + 1) if s <= t else 0 for s in range(6)] for t in range(6)]
    assert exact.rank(Ue) == 6 and exact.ss_rank(Ue) == 1


def test_numerical_growth_and_saturation():
    Ts = (16, 64, 128)
    grow = softmax.ssrank_curve(Ts, d=4)
    assert grow[-1] >= Ts[-1] / 4 and grow == sorted(grow)
    flat = softmax.ssrank_curve(Ts, d=1)
    assert flat[-1] < Ts[-1] / 4  # d = 1: exp(x y) on a bounded range is numerically low rank


def test_row_normalization_changes_no_rank():
    rng = np.random.default_rng(2)
    Q, K = rng.standard_normal((24, 2)), rng.standard_normal((24, 2))
    S = softmax.causal_softmax(Q, K)
    E = softmax.causal_softmax(Q, K, normalize=False)
    assert structure.ss_rank(S) == structure.ss_rank(E)


@pytest.mark.parametrize("Q, scale", [(np.array([[1e200], [1.0]]), 1.0),
                                      (np.ones((3, 2)), 1e308)])
def test_overflowing_logits_raise_rather_than_nan(Q, scale):
    """Finite Q and K whose logits scale Q K^T overflow: the max-subtraction cannot save them
    (inf - inf is NaN): an error, not a NaN row."""
    with pytest.raises(ValueError, match="the logits scale Q K\\^T overflow"):
        softmax.causal_softmax(Q, Q, scale=scale)


def test_scale_and_width_are_checked():
    Q = np.ones((3, 2))
    for bad in ("a", True, [1.0]):
        with pytest.raises(TypeError, match="scale must be a real number or None"):
            softmax.causal_softmax(Q, Q, scale=bad)
    assert np.allclose(softmax.causal_softmax(Q, Q, scale=np.array(0.5)),
                       softmax.causal_softmax(Q, Q, scale=0.5))
    for d in (0, -1, 2.5):
        with pytest.raises(ValueError, match="d \\(the query/key width\\) must be an integer"):
            softmax.random_softmax(8, d)
