"""The scan parallel over T: the GPU scan is deterministic, and the associative scan (the
fourth form, NumPy reference) is the recurrence in ceil(log2 T) passes."""
import math

import numpy as np
import pytest

import ssd_edu
from ssd_edu import gpu
from ssd_edu.reference import associative
from ssd_edu.testing import assert_close, make_inputs


@pytest.mark.cuda
@pytest.mark.skipif(not gpu.cuda_available(), reason="no CUDA device and no CUDA simulator")
@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_gpu_scan_is_bit_identical_across_runs(fam):
    """Same input, same bits: no atomics, every sum in a fixed order (several scan chunks,
    two mode tiles). On the simulator the tile is 4 (scan chunks of 16 steps) to keep it fast;
    on a GPU the default 16."""
    tile = 4 if gpu.simulator_enabled() else gpu.DEFAULT_TILE
    T = 5 * tile * 4 // 2 + 3                      # 2.5 scan chunks, not a multiple of the tile
    d = make_inputs(fam, T, N=tile + 3, P=tile + 1, batch=(2,), regime="mixed", seed=11,
                    dtype=np.float32)
    fn = getattr(gpu, f"{fam}_scan")
    with gpu.tile_size(tile):
        y1, h1 = fn(d["x"], d["a"], d["B"], d["C"], initial_state=d["initial_state"])
        y2, h2 = fn(d["x"], d["a"], d["B"], d["C"], initial_state=d["initial_state"])
    assert np.array_equal(y1, y2) and np.array_equal(h1, h2)
    y0, h0 = ssd_edu.oracle(fam)(**d)
    assert_close("y", y0, y1, dtype=np.float32)
    assert_close("h", h0, h1, dtype=np.float32)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("T", [1, 2, 7, 16, 33])
@pytest.mark.parametrize("regime", ["zero", "negative", "mixed"])
def test_associative_scan_is_the_recurrence(fam, T, regime):
    d = make_inputs(fam, T, N=3, P=2, batch=(2,), regime=regime, seed=T)
    y0, h0 = ssd_edu.oracle(fam)(**d)
    y, h = ssd_edu.IMPLEMENTATIONS[f"numpy.{fam}.associative_scan"](**d)
    assert_close("y", y0, y)
    assert_close("h", h0, h)


@pytest.mark.parametrize("T, passes", [(1, 0), (2, 1), (8, 3), (9, 4), (33, 6)])
def test_associative_scan_takes_log2_passes(monkeypatch, T, passes):
    seen = []
    real = associative._compose

    def counting(A, U, d):
        seen.append(d)
        return real(A, U, d)

    monkeypatch.setattr(associative, "_compose", counting)
    d = make_inputs("diagonal", T, N=2, P=2, seed=1)
    associative.diagonal_associative_scan(**d)
    assert seen == [2**k for k in range(passes)] and passes == math.ceil(math.log2(T))


def test_associative_scan_exact_at_zero_decays():
    """Direct products: a zero decay cuts the past exactly (no log, no division)."""
    d = make_inputs("diagonal", 12, N=3, P=2, regime="dyadic", seed=4)
    d["a"][5] = 0.0
    y0, h0 = ssd_edu.oracle("diagonal")(**d)
    y, h = associative.diagonal_associative_scan(**d)
    assert np.array_equal(y, y0) and np.array_equal(h, h0)


def test_planted_wrong_composition_order_fails(monkeypatch):
    """The check can fail: composing (A1, U1) o (A2, U2) instead is caught."""
    def wrong(A, U, d):
        A_new, U_new = A.copy(), U.copy()
        A_new[..., d:, :, :] = A[..., d:, :, :] * A[..., :-d, :, :]
        U_new[..., d:, :, :] = A[..., :-d, :, :] * U[..., d:, :, :] + U[..., :-d, :, :]
        return A_new, U_new

    monkeypatch.setattr(associative, "_compose", wrong)
    d = make_inputs("scalar", 9, N=2, P=2, regime="mixed", seed=2)
    y0, _ = ssd_edu.oracle("scalar")(**d)
    y, _ = associative.scalar_associative_scan(**d)
    with pytest.raises(AssertionError):
        assert_close("y", y0, y)
