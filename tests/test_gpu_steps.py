"""The four chunked steps of ssd_edu.gpu.chunked, each against the reference step, and their
composition against the oracle.

Runs on the CUDA simulator (tests/conftest.py) at the launchers' default tile (4 there, 16 on
a GPU); N = tile + 1 gives two mode tiles, T is never a multiple of Q, N and P are odd.
"""
import ast
import inspect
import sys

import numpy as np
import pytest

import ssd_edu
from ssd_edu import gpu
from ssd_edu.gpu import chunked
from ssd_edu.reference import chunking as ref_chunking
from ssd_edu.testing import as_float64, assert_close, make_inputs

pytestmark = [pytest.mark.skipif(not gpu.cuda_available(),
                                 reason="no CUDA device and no CUDA simulator"),
              pytest.mark.cuda]

TILE = gpu.default_tile()


@pytest.fixture(autouse=True)
def fast_barriers():
    """A short GIL switch interval: the simulator's block manager polls its threads."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


# The reference's steps (ssd_edu.reference.chunking, themselves checked against plain loops of
# each formula in test_steps.py), called as the comparisons below read them.

def np_intra_chunk(x, a, B, C, Q):
    return ref_chunking.intra_chunk(x, a, B, C, chunk_size=Q)


def np_chunk_states(x, a, B, Q):
    return ref_chunking.chunk_states(x, a, B, chunk_size=Q)


def np_state_passing(abar, S, h0):
    return ref_chunking.state_passing(abar, S, initial_state=h0)


def np_chunk_output(a, C, H_prev, Q):
    return ref_chunking.chunk_output(a, C, H_prev, chunk_size=Q)


CASES = {
    # T, Q, N, P, batch, dtype, initial state
    "T=1": (1, 3, 3, 1, (2,), np.float64, True),
    "short-last-chunk-f32": (7, 3, TILE + 1, 3, (), np.float32, True),
    "two-mode-tiles-f64": (9, 4, TILE + 1, 5, (2,), np.float64, False),
    "Q>T": (5, 8, 3, 3, (1, 2), np.float64, True),
}


def inputs(fam, case):
    T, Q, N, P, batch, dtype, with_h0 = CASES[case]
    d = make_inputs(fam, T, N=N, P=P, batch=batch, regime="mixed", dtype=dtype, seed=T + N,
                    initial_state=with_h0)
    a = d["a"][..., None] if fam == "scalar" else d["a"]
    return d, a, Q, np.dtype(dtype)


@pytest.mark.parametrize("fam", ["scalar", "diagonal"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_step_against_numpy(fam, case):
    d, a, Q, dtype = inputs(fam, case)
    f = as_float64({**d, "a": a})
    x, B, C, h0 = d["x"], d["B"], d["C"], d["initial_state"]
    before = {k: None if v is None else v.copy() for k, v in d.items()}

    y_diag = chunked.intra_chunk(x, a, B, C, chunk_size=Q)
    assert y_diag.dtype == dtype
    assert_close("intra_chunk", np_intra_chunk(f["x"], f["a"], f["B"], f["C"], Q), y_diag,
                 dtype=dtype)

    S, abar = chunked.chunk_states(x, a, B, chunk_size=Q)
    S0, abar0 = np_chunk_states(f["x"], f["a"], f["B"], Q)
    assert_close("chunk_states S", S0, S, dtype=dtype)
    assert_close("chunk_states abar", abar0, abar, dtype=dtype)

    # step 3 and 4 from the exact inputs, so that each step is checked alone
    H_prev, h = chunked.state_passing(abar0.astype(dtype), S0.astype(dtype), initial_state=h0)
    H_prev0, h_0 = np_state_passing(abar0, S0, f["initial_state"])
    assert_close("state_passing H_prev", H_prev0, H_prev, dtype=dtype)
    assert_close("state_passing h", h_0, h, dtype=dtype)

    y_off = chunked.chunk_output(a, C, H_prev0.astype(dtype), chunk_size=Q)
    assert_close("chunk_output", np_chunk_output(f["a"], f["C"], H_prev0, Q), y_off, dtype=dtype)
    for k, v in d.items():                                            # inputs never modified
        if v is not None:
            assert np.array_equal(v, before[k]), k


@pytest.mark.parametrize("fam", ["scalar", "diagonal"])
@pytest.mark.parametrize("case", ["short-last-chunk-f32", "two-mode-tiles-f64"])
def test_composition_against_the_oracle(fam, case):
    """y = intra_chunk + chunk_output(state_passing(chunk_states)), h = H_{J-1}; and the fused
    chunked form gives the same."""
    d, a, Q, dtype = inputs(fam, case)
    x, B, C, h0 = d["x"], d["B"], d["C"], d["initial_state"]
    S, abar = chunked.chunk_states(x, a, B, chunk_size=Q)
    H_prev, h = chunked.state_passing(abar, S, initial_state=h0)
    y = chunked.intra_chunk(x, a, B, C, chunk_size=Q) + chunked.chunk_output(a, C, H_prev,
                                                                             chunk_size=Q)
    y0, h_0 = ssd_edu.oracle(fam)(**as_float64(d))
    assert_close("steps y", y0, y, dtype=dtype)
    assert_close("steps h", h_0, h, dtype=dtype)
    form = getattr(gpu, f"{fam}_chunked")
    y, h = form(x, d["a"], B, C, chunk_size=Q, initial_state=h0)
    assert_close("chunked y", y0, y, dtype=dtype)
    assert_close("chunked h", h_0, h, dtype=dtype)


def test_device_arrays_in_and_out():
    from numba import cuda

    d, a, Q, dtype = inputs("diagonal", "Q>T")
    S, abar = chunked.chunk_states(cuda.to_device(d["x"]), a, d["B"], chunk_size=Q)
    assert hasattr(S, "copy_to_host") and hasattr(abar, "copy_to_host")
    H_prev, h = chunked.state_passing(abar, S, initial_state=cuda.to_device(d["initial_state"]))
    y = chunked.chunk_output(cuda.to_device(a), d["C"], H_prev, chunk_size=Q)
    f = as_float64({**d, "a": a})
    S0, abar0 = np_chunk_states(f["x"], f["a"], f["B"], Q)
    H0, _ = np_state_passing(abar0, S0, f["initial_state"])
    assert_close("chunk_output", np_chunk_output(f["a"], f["C"], H0, Q), y.copy_to_host())


def test_bad_input_names_the_argument():
    d, a, Q, _ = inputs("scalar", "T=1")
    with pytest.raises(ValueError, match=r"^a has shape \(2,\)"):
        chunked.chunk_output(np.ones(2), d["C"], np.zeros((1, 3, 1)), chunk_size=Q)
    with pytest.raises(ValueError, match=r"^H_prev has shape \(2, 2, 3, 1\); expected .* J = "):
        chunked.chunk_output(a, d["C"], np.zeros((2, 2, 3, 1)), chunk_size=Q)
    with pytest.raises(ValueError, match=r"^abar has shape \(2, 1, 2\)"):
        chunked.state_passing(np.ones((2, 1, 2)), np.zeros((2, 1, 3, 1)))
    with pytest.raises(ValueError, match=r"^abar has shape \(2, 1, 3\); .* J = 2 \(as in S\)"):
        chunked.state_passing(np.ones((2, 1, 3)), np.zeros((2, 2, 3, 1)))   # the decays vote last
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        chunked.intra_chunk(d["x"], a, d["B"], d["C"], chunk_size=0)
    with pytest.raises(TypeError):
        chunked.intra_chunk(d["x"], a, d["B"], d["C"], 2)          # chunk_size keyword-only


def test_attention_imports_chunked_and_not_the_reverse():
    """One home for the tiled output kernels: gpu.chunked imports no other form module."""
    tree = ast.parse(inspect.getsource(chunked))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"attention", "scan"}, imported


def test_empty_sequence_and_batch():
    """T = 0 gives J = 0 chunks (the final state is the initial state); an empty batch gives
    empty outputs."""
    x, a, B = np.zeros((2, 0, 3)), np.ones((2, 0, 1)), np.zeros((2, 0, 4))
    S, abar = chunked.chunk_states(x, a, B, chunk_size=2)
    assert S.shape == (2, 0, 4, 3) and abar.shape == (2, 0, 1)
    H_prev, h = chunked.state_passing(abar, S, initial_state=np.ones((4, 3)))
    assert H_prev.shape == (2, 0, 4, 3) and np.array_equal(h, np.ones((2, 4, 3)))
    assert chunked.chunk_output(a, B, H_prev, chunk_size=2).shape == (2, 0, 3)
    x, a, B = np.zeros((0, 5, 3)), np.ones((0, 5, 4)), np.zeros((0, 5, 4))
    assert chunked.intra_chunk(x, a, B, B, chunk_size=2).shape == (0, 5, 3)
    S, abar = chunked.chunk_states(x, a, B, chunk_size=2)
    assert S.shape == (0, 3, 4, 3) and abar.shape == (0, 3, 4)
