"""The backward pass: every VJPS entry against finite differences, the forms against each other,
the argument checks, and planted defects that check_vjp must catch."""
import numpy as np
import pytest

import ssd_edu
from ssd_edu import vjp
from ssd_edu.reference import backward
from ssd_edu.testing import GRADIENT_TOLERANCES, assert_close, check_vjp, make_inputs

KEYS = sorted(ssd_edu.VJPS)
HOST_KEYS = [k for k in KEYS if not k.startswith("cuda.")]
CUDA_KEYS = [k for k in KEYS if k.startswith("cuda.")]
#: for the markers (setup.cfg): CUDA VJPs on the simulator beyond one case carry `cuda`; float32
#: twins of the compiled VJPs (a second compilation of each kernel) carry `slow`
KEYS_MARKED = [pytest.param(k, marks=pytest.mark.cuda) if k in CUDA_KEYS else k for k in KEYS]
HOST_KEYS_F32 = [k if k.startswith("numpy.") else pytest.param(k, marks=pytest.mark.slow)
                 for k in HOST_KEYS]

#: (T, N, P, regime, initial_state): T = 1, T not a multiple of the chunk (2), odd N and P,
#: zero, negative, near-one, tiny and mixed decays, with and without an initial state.
CASES = [
    (1, 3, 3, "random", True),
    (5, 3, 3, "random", True),
    (5, 3, 1, "zero", True),
    (5, 1, 3, "negative", False),
    (4, 3, 3, "near_one", True),
    (5, 2, 3, "strong", True),
    (6, 3, 2, "mixed", True),
]


def family(key):
    return key.split(".")[1]


def call(key, d, dy, dh, chunk_size=2, fn=None):
    fn = ssd_edu.VJPS[key] if fn is None else fn
    kwargs = dict(chunk_size=chunk_size) if key.endswith(".chunked") else {}
    return fn(d["x"], d["a"], d["B"], d["C"], dy, dh, initial_state=d["initial_state"], **kwargs)


def test_every_implementation_has_a_vjp():
    """Every backend but the plain tier (readable forward loops only) has a VJP per form."""
    assert set(ssd_edu.VJPS) == {k for k in ssd_edu.IMPLEMENTATIONS if not k.startswith("plain.")}


@pytest.mark.parametrize("key", HOST_KEYS)
@pytest.mark.parametrize("T, N, P, regime, initial_state", CASES,
                         ids=[f"T{c[0]}-N{c[1]}-P{c[2]}-{c[3]}" for c in CASES])
def test_vjp_matches_finite_differences(key, T, N, P, regime, initial_state):
    errors = check_vjp(key, T, N, P, regime=regime, initial_state=initial_state)
    assert set(errors) == {"dx", "da", "dB", "dC"} | ({"dinitial_state"} if initial_state else set())


@pytest.mark.parametrize("key", CUDA_KEYS)
@pytest.mark.parametrize("regime", ["random", pytest.param("zero", marks=pytest.mark.cuda),
                                    pytest.param("negative", marks=pytest.mark.cuda)])
def test_cuda_vjp_matches_finite_differences(key, regime):
    check_vjp(key, T=3, N=2, P=3, batch=(1, 2), regime=regime)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("regime", [pytest.param("random", marks=pytest.mark.cuda),  # + CUDA
                                    "zero", "negative", "mixed"])
def test_all_forms_of_a_family_agree(fam, regime):
    d = make_inputs(fam, 37, 5, 3, (2,), regime=regime, seed=4)
    rng = np.random.default_rng(5)
    dy, dh = rng.standard_normal((2, 37, 3)), rng.standard_normal((2, 5, 3))
    ref = call(f"numpy.{fam}.scan", d, dy, dh)
    keys = [k for k in KEYS if family(k) == fam and (k in HOST_KEYS or regime == "random")]
    for key in keys:
        got = call(key, d, dy, dh, chunk_size=8)
        for name in ref._fields:
            assert_close(f"{key} {name}", getattr(ref, name), getattr(got, name),
                         tol=GRADIENT_TOLERANCES["across_forms"])


@pytest.mark.parametrize("key", KEYS_MARKED)
def test_shared_decays_and_long_chunks(key):
    """Decays shared by every sequence (a with no batch axis) and a chunk far longer than T
    give the scan's gradients, each summed back to its input's shape. (The reference's chunked
    VJP once guessed the family from the decays' number of axes, and padded every chunk to Q.)"""
    fam = family(key)
    d = make_inputs(fam, 7, 3, 2, (2,), regime="zero", seed=8)
    d["a"] = d["a"][0]
    rng = np.random.default_rng(9)
    dy, dh = rng.standard_normal((2, 7, 2)), rng.standard_normal((2, 3, 2))
    ref = call(f"numpy.{fam}.scan", d, dy, dh)
    assert ref.da.shape == d["a"].shape
    for Q in (2, 3, 4, 10**6):
        got = call(key, d, dy, dh, chunk_size=Q)
        for name in ref._fields:
            assert_close(f"{key} Q={Q} {name}", getattr(ref, name), getattr(got, name),
                         tol=GRADIENT_TOLERANCES["across_forms"])
        if not key.endswith(".chunked"):
            break


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("regime", ["random", "zero", "negative", "mixed"])
def test_numba_sub_chunks_match_the_reference(fam, regime):
    # chunks longer than the Numba diagonal backward's sub-chunk: later sub-chunks see the
    # earlier keys through the factored mask (gemms), over several chunks with a short last
    # chunk and a short last sub-chunk (Q = 35: sub-chunks 16, 16, 3; T = 75: chunks 35, 35, 5)
    from ssd_edu.cpu.chunked_backward import SUB_BWD
    Q = 2 * SUB_BWD + 3
    T = 2 * Q + 5
    d = make_inputs(fam, T, 5, 3, (2,), regime=regime, seed=8)
    rng = np.random.default_rng(9)
    dy, dh = rng.standard_normal((2, T, 3)), rng.standard_normal((2, 5, 3))
    ref = call(f"numpy.{fam}.chunked", d, dy, dh, chunk_size=Q)
    for key in (f"numba.{fam}.chunked", f"numba.{fam}.attention"):
        got = call(key, d, dy, dh, chunk_size=Q)
        for name in ref._fields:
            assert_close(f"{key} {name}", getattr(ref, name), getattr(got, name),
                         tol=GRADIENT_TOLERANCES["across_forms"])


@pytest.mark.parametrize("key", HOST_KEYS_F32)
def test_float32_gradients(key):
    d = make_inputs(family(key), 40, 4, 3, (2,), regime="random", seed=6, dtype=np.float32)
    rng = np.random.default_rng(7)
    dy = rng.standard_normal((2, 40, 3)).astype(np.float32)
    dh = rng.standard_normal((2, 4, 3)).astype(np.float32)
    got = call(key, d, dy, dh, chunk_size=16)
    d64 = {k: v.astype(np.float64) for k, v in d.items()}
    ref = call(f"numpy.{family(key)}.scan", d64, dy.astype(np.float64), dh.astype(np.float64))
    for name in ref._fields:
        assert getattr(got, name).dtype == np.float32, name
        assert_close(f"{key} {name}", getattr(ref, name), getattr(got, name), tol=1e-4)


@pytest.mark.parametrize("key", HOST_KEYS)
def test_empty_sequence(key):
    d = make_inputs(family(key), 0, 3, 2, (2,))
    g = call(key, d, np.zeros((2, 0, 2)), np.ones((2, 3, 2)))
    assert [x.shape for x in g] == [d[k].shape for k in ("x", "a", "B", "C", "initial_state")]
    assert np.array_equal(g.dinitial_state, np.ones((2, 3, 2)))  # h_{T-1} = h_{-1}


@pytest.mark.parametrize("key", KEYS)
def test_bad_cotangents_name_the_argument(key):
    d = make_inputs(family(key), 5, 3, 2, (2,))
    dy, dh = np.zeros((2, 5, 2)), np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match=r"dy has shape \(2, 5, 3\); expected \(2, 5, 2\)"):
        call(key, d, np.zeros((2, 5, 3)), dh)
    with pytest.raises(ValueError, match=r"dh has shape \(3, 2\); expected \(2, 3, 2\)"):
        call(key, d, dy, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="dy has 4 non-finite"):
        call(key, d, np.where(np.arange(5)[None, :, None] == 2, np.nan, dy), dh)
    with pytest.raises(TypeError, match="dy is None"):
        call(key, d, None, dh)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("checkpoint", [1, 3, 4, 40])
@pytest.mark.parametrize("batch", [(), (2,)], ids=["one-sequence", "two-sequences"])
def test_numba_scan_vjp_at_any_checkpoint_length(fam, checkpoint, batch, monkeypatch):
    """The compiled scan's backward recomputes states chunk by chunk from stored ones: every
    checkpoint length (1, odd, even, longer than T) gives the reference gradient, with a zero
    decay at the start of a chunk of 3. One sequence on several threads splits its channels
    into blocks (partial dB, dC, da summed by the launcher); two sequences keep them whole."""
    import numba
    from ssd_edu.cpu import _launch, scan_backward
    monkeypatch.setattr(scan_backward, "CHECKPOINT", checkpoint)
    if batch == () and numba.get_num_threads() > 1:
        assert _launch.channel_width(1, 3) < 3             # the split path is exercised
    d = make_inputs(fam, 13, 3, 3, batch, regime="mixed", seed=9)
    d["a"][(slice(None),) * len(batch) + (3,)] = 0       # step t = 3, every mode
    rng = np.random.default_rng(10)
    dy, dh = rng.standard_normal((*batch, 13, 3)), rng.standard_normal((*batch, 3, 3))
    ref = call(f"numpy.{fam}.scan", d, dy, dh)
    got = call(f"numba.{fam}.scan", d, dy, dh)
    for name in ref._fields:
        assert_close(f"numba.{fam}.scan {name}", getattr(ref, name), getattr(got, name),
                     tol=GRADIENT_TOLERANCES["across_forms"])


@pytest.mark.slow          # compiles the scan backward afresh (uncached) on every run
def test_planted_stale_checkpoint_is_caught(monkeypatch):
    """The planted mistake: a backward that recomputes every chunk from the state entering the
    sequence (a stale checkpoint) must fail the test above."""
    from ssd_edu.cpu import scan_backward

    def stale(a, B, Xc, t0, t1, G, BG, S, abar):     # ck[c + 1] = abar o ck[c] + S = ck[0]
        S[:, :] = 0
        abar[:] = 1
    monkeypatch.setattr(scan_backward, "_chunk_state", scan_backward.njit(stale))
    monkeypatch.setattr(scan_backward, "_scan_backward_channels",
                        scan_backward.njit(scan_backward._scan_backward_channels.py_func))
    monkeypatch.setattr(scan_backward, "_scan_backward_kernel",
                        scan_backward.njit(scan_backward._scan_backward_kernel.py_func))
    with pytest.raises(AssertionError, match="numba.diagonal.scan d"):
        test_numba_scan_vjp_at_any_checkpoint_length("diagonal", 3, (), monkeypatch)


# ------------------------------------------------------------------------------------------
# planted defects: each is a plausible wrong backward, and check_vjp must say which gradient


def _planted(wrong):
    """A VJP built from the correct numpy scan VJP with one plausible mistake."""
    good = ssd_edu.VJPS["numpy.diagonal.scan"]

    def vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
        return wrong(good, x, a, B, C, dy, dh, initial_state)
    return vjp


def test_planted_decay_off_by_one_is_caught():
    # the decay of the previous step, a[t-1], where the reverse scan needs a[t]
    bad = _planted(lambda good, x, a, B, C, dy, dh, h0:
                   good(x, np.roll(a, 1, axis=-2), B, C, dy, dh, initial_state=h0))
    with pytest.raises(AssertionError, match="numpy.diagonal.scan d"):
        check_vjp("numpy.diagonal.scan", vjp=bad)


def test_planted_missing_dh_term_is_caught():
    # the reverse scan started from G_{T-1} = C_{T-1} dy_{T-1}^T, forgetting dh
    bad = _planted(lambda good, x, a, B, C, dy, dh, h0:
                   good(x, a, B, C, dy, None, initial_state=h0))
    with pytest.raises(AssertionError, match="numpy.diagonal.scan d"):
        check_vjp("numpy.diagonal.scan", vjp=bad)


def test_planted_division_by_the_decay_is_caught_at_zero_decays():
    # da from d log a (divide by a): exact for nonzero decays, NaN at a = 0
    def wrong(good, x, a, B, C, dy, dh, h0):
        g = good(x, a, B, C, dy, dh, initial_state=h0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g._replace(da=(a * g.da) / a)
    bad = _planted(wrong)
    check_vjp("numpy.diagonal.scan", vjp=bad, regime="random")  # nonzero decays: no sign
    with pytest.raises(AssertionError, match="da .*non-finite"):
        check_vjp("numpy.diagonal.scan", vjp=bad, regime="zero")


def test_planted_unsummed_broadcast_gradient_is_caught(monkeypatch):
    # a B shared across heads (size-1 head axis) gets one head's gradient instead of the sum
    def sum_to_first(grad, shape):
        grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
        index = tuple(slice(0, 1) if n == 1 else slice(None) for n in shape)
        return grad[index]
    monkeypatch.setattr(vjp, "sum_to", sum_to_first)
    with pytest.raises(AssertionError, match=r"numpy.scalar.scan dB"):
        check_vjp("numpy.scalar.scan")
    check_vjp("numpy.scalar.scan", broadcast=False)  # without broadcasting nothing is wrong


def test_planted_nonzero_dinitial_state_without_initial_state_is_caught():
    def wrong(good, x, a, B, C, dy, dh, h0):
        g = good(x, a, B, C, dy, dh, initial_state=h0)
        return g._replace(dinitial_state=g.dinitial_state + 1.0)
    with pytest.raises(AssertionError, match="no initial state: zeros"):
        check_vjp("numpy.diagonal.scan", vjp=_planted(wrong), initial_state=False)


def test_planted_float32_gradient_is_caught():
    """A float64 call answered with a float32 gradient is within the value tolerance; the
    dtype check is what catches it."""
    def wrong(good, x, a, B, C, dy, dh, h0):
        g = good(x, a, B, C, dy, dh, initial_state=h0)
        return g._replace(dx=g.dx.astype(np.float32))
    with pytest.raises(AssertionError, match="dx: dtype float32"):
        check_vjp("numpy.diagonal.scan", vjp=_planted(wrong))


def test_planted_vjp_that_modifies_its_input_is_caught():
    def wrong(good, x, a, B, C, dy, dh, h0):
        g = good(x, a, B, C, dy, dh, initial_state=h0)
        x += 1.0
        return g
    with pytest.raises(AssertionError, match="modified its input x"):
        check_vjp("numpy.diagonal.scan", vjp=_planted(wrong))


def test_mask_vjp_is_exact_at_zero_decays():
    # L = 1SS(a) with a zero: d/da_u of sum(W o L) from direct products, checked entry by entry
    a = np.array([0.3, 0.0, -0.7, 0.0, 0.9])
    W = np.tril(np.arange(25.0).reshape(5, 5) - 11)
    got = backward.mask_vjp(a, W)
    eps = 1e-6
    for u in range(5):
        ap, am = a.copy(), a.copy()
        ap[u] += eps
        am[u] -= eps
        fd = (np.sum(W * ssd_edu.one_ss_mask(ap)) - np.sum(W * ssd_edu.one_ss_mask(am))) / (2 * eps)
        assert abs(got[u] - fd) < 1e-7, (u, got[u], fd)
    assert got[0] == 0.0  # a_0 never enters the mask


# ------------------------------------------------------------------------------------------
# the exercise: write the backward of the scalar scan


def test_exercise_solution_passes_and_mistakes_are_named():
    from ssd_edu.exercises.backward import (MISTAKES, check_scalar_scan_backward,
                                            scalar_scan_backward)
    result = check_scalar_scan_backward(scalar_scan_backward)
    assert result.passed and result.n_cases >= 8, result.message
    assert {"basic", "edge", "extreme", "scaled"} <= set(result.by_category)
    for mistake, diagnosis in MISTAKES.items():
        def attempt(*args, mistake=mistake):
            return scalar_scan_backward(*args, _mistake=mistake)
        # the attempts wrap the solution, so the package-call refusal is lifted for them
        result = check_scalar_scan_backward(attempt, allow_package=True)
        assert not result.passed and diagnosis in result.message, (mistake, result.message)
    result = check_scalar_scan_backward(lambda *args: scalar_scan_backward(*args))
    assert not result.passed and "your function calls" in result.message


def test_exercise_reports_skeleton_division_and_a_wrong_gradient():
    from ssd_edu.exercises.backward import check_scalar_scan_backward, scalar_scan_backward
    result = check_scalar_scan_backward(lambda *args: None)
    assert "case 1/9" in result.message and "not written yet" in result.message

    def divides(x, a, B, C, h0, dy, dh):
        dx, da, dB, dC, dh0 = scalar_scan_backward(x, a, B, C, h0, dy, dh)
        with np.errstate(divide="ignore", invalid="ignore"):
            return dx, (a * da) / a, dB, dC, dh0
    result = check_scalar_scan_backward(divides, allow_package=True)
    assert "zero decays" in result.message and "divide by a decay" in result.message

    def scaled_dB(*args):
        dx, da, dB, dC, dh0 = scalar_scan_backward(*args)
        return dx, da, 1.5 * dB, dC, dh0
    result = check_scalar_scan_backward(scaled_dB, allow_package=True)
    assert "case 1/9" in result.message and "dB is wrong" in result.message


# ------------------------------------------------------------------------------------------
# the CUDA VJP kernels compile for a real GPU (PTX, no device needed; the simulator alone would
# not see e.g. a local array whose size is not a compile-time constant)

_PTX_SCRIPT = """
import json
from numba import cuda, types as nt
from ssd_edu.gpu import backward as gb
out = {}
for dt in (nt.float64, nt.float32):
    a2, a3, a4 = (nt.Array(dt, d, "C") for d in (2, 3, 4))
    r3 = nt.Array(dt, 3, "C", readonly=True)
    for diag in (True, False):
        jobs = {"scan": (gb._build_scan_backward, (r3,) * 5 + (a3, a3, a4) + (a3,) * 4),
                "links": (gb._build_chunk_links, (a3,) * 7 + (a2,)),
                "passing": (gb._build_state_passing_both_ways, (a3, a3, a2) + (a3,) * 5),
                "attention": (gb._build_attention_backward, (a3,) * 12)}
        for name, (build, sig) in jobs.items():
            ptx, _ = cuda.compile_ptx(build(16, diag, dt), sig, cc=(8, 0))
            out[f"{name} {dt} {'diagonal' if diag else 'scalar'}"] = ".f64" in ptx
print(json.dumps(out))
"""


@pytest.mark.report
def test_cuda_vjp_kernels_compile_to_ptx():
    import json
    import os
    import subprocess
    import sys
    pytest.importorskip("numba.cuda")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0 and ("NVVM" in proc.stderr or "libnvvm" in proc.stderr):
        pytest.skip("NVVM is not installed (the cuda-tools / test extra's compiler wheels)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    uses_f64 = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(uses_f64) == 16
    for name, f64 in uses_f64.items():
        assert f64 == ("float64" in name), name   # float32 kernels compute in float32
