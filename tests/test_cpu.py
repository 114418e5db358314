"""The Numba CPU kernels: what only they have, and a heavier sweep of sizes and decays.

The checks every implementation shares (strided inputs never modified, the reference's error
messages, shapes, continuation, ...) are in tests/test_forms.py. Parametrized over the
registry, so a new ``numba.*`` entry is tested the moment it is registered. y and the final state are compared: float64 with tau64, float32 against the
float64 oracle on the same inputs with tau32 (ssd_edu.testing.tolerance).
"""
import subprocess
import sys

import numba
import numpy as np
import pytest

import ssd_edu
from ssd_edu.testing import as_float64, assert_close, check_against_oracle, keys, make_inputs

NUMBA = keys("numba")
HARD_REGIMES = ("zero", "negative", "near_one", "strong", "mixed")


def family(name):
    return name.split(".")[1]


def check(name, d, chunk_size=None, label=""):
    check_against_oracle(name, d, chunk_size=chunk_size, label=label)


def test_registry_has_every_numba_form():
    assert set(NUMBA) == {f"numba.{f}.{g}" for f in ssd_edu.FAMILIES for g in ssd_edu.FORMS
                         if g != "associative_scan"}   # that form: NumPy reference only


@pytest.mark.slow          # the grid; tests/test_forms.py has each key's default-run sweep
@pytest.mark.parametrize("name", NUMBA)
def test_awkward_sizes_and_chunks(name):
    chunks = (1, 3, 7, 16, 64, 105) if name.endswith("chunked") else (None,)
    for T in (0, 1, 2, 5, 64, 100):
        for N, P, batch in ((1, 1, ()), (3, 5, (2,)), (5, 2, (2, 3))):
            d = make_inputs(family(name), T, N, P, batch, seed=T + N)
            for Q in chunks:
                check(name, d, Q, f"T={T} N={N} P={P} batch={batch} Q={Q}")


@pytest.mark.slow          # float32 too: a second compilation of every kernel
@pytest.mark.parametrize("name", NUMBA)
@pytest.mark.parametrize("regime", HARD_REGIMES)
def test_decay_regimes(name, regime):
    for dtype in (np.float64, np.float32):
        for T, Q in ((37, 7), (130, 64)):
            d = make_inputs(family(name), T, 5, 3, (2,), regime=regime, dtype=dtype, seed=T)
            check(name, d, Q, f"{regime} {np.dtype(dtype)} T={T}")


@pytest.mark.slow
@pytest.mark.parametrize("name", NUMBA)
def test_wide_state_and_float32(name):
    """N = 67: the float32 scan keeps 64 modes in registers and 3 in memory; odd P."""
    for dtype in (np.float32, np.float64):
        d = make_inputs(family(name), 150, 67, 7, (3,), dtype=dtype, seed=1)
        check(name, d, 64, f"N=67 {np.dtype(dtype)}")
    d = make_inputs(family(name), 90, 4, 6, (1,), dtype=np.float32, initial_state=False)
    check(name, d, 16, "one sequence, channel blocks")


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("P, width", [(5, 2), (7, 4), (10, 4), (6, 4)])
def test_scan_channel_blocks_with_a_partial_last_block(fam, P, width, monkeypatch):
    """The channel split depends on the thread count, so force it: a last block narrower than
    the others (P = 5, 7, 10, 6 in blocks of 2 or 4) is still computed, y and final state."""
    from ssd_edu.cpu import scan
    monkeypatch.setattr(scan, "channel_width", lambda *args: width)
    d = make_inputs(fam, 9, 3, P, (1,), seed=P)
    y, h = getattr(scan, f"{fam}_scan")(**d)
    y0, h0 = ssd_edu.oracle(fam)(**as_float64(d))
    assert_close("y", y0, y)
    assert_close("final state", h0, h)


def test_import_compiles_nothing():
    code = ("import ssd_edu\nfrom ssd_edu.cpu import attention, chunked, scan\n"
            "kernels = [scan._scan_kernel, attention._attention_kernel,\n"
            "           chunked._intra_chunk_and_chunk_states_kernel,\n"
            "           chunked._state_passing_kernel,\n"
            "           chunked._chunk_output_kernel]\n"
            "assert all(not k.signatures for k in kernels), 'compiled at import'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_and_reference_work_without_numba():
    """numba missing (a broken install): the NumPy reference and the registry still import,
    the numba entries are absent with the reason, and the bench says it skips them."""
    code = (
        "import sys\n"
        "sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "import ssd_edu\n"
        "assert not any(k.startswith('numba.') for k in ssd_edu.IMPLEMENTATIONS)\n"
        "assert 'pip install numba' in ssd_edu.MISSING_BACKENDS['numba']\n"
        "one = np.ones((3, 1))\n"
        "y, h = ssd_edu.scalar_scan(one, np.ones(3), one, one)\n"
        "assert y.ravel().tolist() == [1.0, 2.0, 3.0]\n"
        "from ssd_edu.bench import main\n"
        "main(['--T', '4', '--N', '1', '--P', '1', '--batch', '1', '--repeats', '1',\n"
        "      '--dtype', 'float64', '--backend', 'numba', 'numpy', '--form', 'scan'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "numba: skipped (numba is not installed" in out.stdout
    assert "numpy.scalar.scan" in out.stdout


def test_chunked_kernel_holds_blas_to_one_thread():
    """np.dot runs inside every Numba thread of the chunked kernel: BLAS is held to one thread
    for the call (no oversubscription) and restored afterwards."""
    from threadpoolctl import threadpool_info

    from ssd_edu.cpu._jit import single_threaded_blas

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with single_threaded_blas():     # the first use loads the BLAS Numba's np.dot calls
        pass
    before = blas_threads()
    with single_threaded_blas():
        assert blas_threads() and all(n == 1 for n in blas_threads())
    assert blas_threads() == before


def _zeros_at_sub_chunk_edges(family_name, dtype):
    """Diagonal/scalar inputs whose zero decays sit at, just before and just after the edges
    of the chunked kernel's sub-chunks (and a whole chunk's worth of near-one decays)."""
    from ssd_edu.cpu._tiles import SUB
    T, N, P, Q = 3 * 64 + 5, 6, 5, 64
    d = make_inputs(family_name, T, N, P, (1,), regime="near_one", dtype=dtype, seed=11)
    a = d["a"].copy()
    for t in (SUB - 1, SUB, SUB + 1, 2 * SUB, 64 + SUB, 64 + 3 * SUB - 1, T - 2):
        if family_name == "scalar":
            a[..., t] = 0
        else:
            a[..., t, t % N] = 0          # one mode: the others carry state across
            a[..., t + 1, :] = -a[..., t + 1, :]
    d["a"] = a
    return d, Q


def _check_against_oracle(fn, fam, d, Q, label):
    y, h = fn(d["x"], d["a"], d["B"], d["C"], chunk_size=Q, initial_state=d["initial_state"])
    y0, h0 = ssd_edu.oracle(fam)(**as_float64(d))
    assert_close(f"{label} y", y0, y, dtype=d["x"].dtype)
    assert_close(f"{label} final state", h0, h, dtype=d["x"].dtype)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
def test_chunked_zero_decays_at_sub_chunk_edges(fam, dtype):
    """The intra-chunk matmuls rescale queries and keys by direct products: zeros and sign
    flips at sub-chunk edges are exact; one sequence (parallel over its chunks)."""
    d, Q = _zeros_at_sub_chunk_edges(fam, dtype)
    _check_against_oracle(ssd_edu.IMPLEMENTATIONS[f"numba.{fam}.chunked"], fam, d, Q,
                          f"numba.{fam}.chunked {np.dtype(dtype)}")


def test_planted_rescaling_by_division_fails_at_zero_decays():
    """The check above catches the usual shortcut: keys rescaled by 1 / cumprod(a) (NaN or
    inf once a decay is 0)."""
    def divided(x, a, B, C, *, chunk_size=64, initial_state=None):
        # y_t = sum_{s<=t} C_t . (delta_t / delta_s) B_s x_s + delta_t C_t h_{-1}, delta = cumprod
        with np.errstate(all="ignore"):
            delta = np.cumprod(a, axis=-2)
            scores = np.einsum("...tn,...sn->...ts", C * delta, B / delta)
        y = np.tril(scores) @ x + np.einsum("...tn,...np->...tp", C * delta, initial_state)
        return y, ssd_edu.oracle("diagonal")(x, a, B, C, initial_state=initial_state)[1]

    d, Q = _zeros_at_sub_chunk_edges("diagonal", np.float64)
    with pytest.raises(AssertionError):
        _check_against_oracle(divided, "diagonal", d, Q, "planted division")


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_chunked_steps_run_apart_give_the_call(fam):
    """chunked.step_calls (bench --breakdown) runs the four step kernels one at a time."""
    from ssd_edu.cpu import chunked
    d = make_inputs(fam, 45, 3, 4, (2,), seed=5)
    steps = chunked.step_calls(fam, **d, chunk_size=8)
    assert list(steps) == ["intra_chunk", "chunk_states", "state_passing", "chunk_output",
                           "result"]
    for name in list(steps)[:4]:
        steps[name]()
    y, h = steps["result"]()
    y0, h0 = ssd_edu.IMPLEMENTATIONS[f"numba.{fam}.chunked"](**d, chunk_size=8)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h0, rtol=1e-12, atol=1e-12)


def _finiteness_checks(fast, dtype):
    """``fast`` (the test the launchers pass to the validation) finds one inf or NaN anywhere, keeps huge
    and subnormal values, and the error of a call is the NumPy path's."""
    from ssd_edu import validation
    n = validation.FAST_FINITE_MIN_SIZE + 37
    ok = np.ones(n, dtype)
    ok[::7] = np.finfo(dtype).max
    ok[1::7] = np.finfo(dtype).smallest_subnormal
    assert fast(ok) and validation.all_finite(ok, fast)
    for where in (0, 1, n // 2, n - 1):
        for bad in (np.inf, -np.inf, np.nan):
            v = ok.copy()
            v[where] = bad
            assert not fast(v), (where, bad)
    d = make_inputs("scalar", n // 8, 2, 8, dtype=dtype)
    for order in ("C", "F"):
        x = np.array(d["x"], order=order)
        x[3, 5] = np.nan
        assert x.size >= validation.FAST_FINITE_MIN_SIZE
        with pytest.raises(ValueError, match="^x has 1 non-finite entries"):
            ssd_edu.cpu.scalar_scan(x, d["a"], d["B"], d["C"])


@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
@pytest.mark.parametrize("variant", ["serial", "parallel"])
def test_compiled_finiteness_pass(dtype, variant, monkeypatch):
    """The validation's finiteness test of large inputs is the compiled loop, serial below
    PARALLEL_MIN_SIZE entries and parallel from there (both are checked at the same sizes)."""
    from ssd_edu.cpu import _launch
    monkeypatch.setattr(_launch, "PARALLEL_MIN_SIZE", 1 if variant == "parallel" else 1 << 60)
    _finiteness_checks(_launch.all_finite, dtype)


def test_planted_finiteness_pass_that_sees_nothing_is_caught(monkeypatch):
    """The checks fail against a fast test that folds v - v away (returns True)."""
    from ssd_edu.cpu import _launch
    monkeypatch.setattr(_launch, "all_finite", lambda v: True)
    with pytest.raises(AssertionError):
        _finiteness_checks(lambda v: True, np.float64)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one thread only")
def test_small_calls_run_on_one_thread(monkeypatch):
    """threads_for: below SMALL_WORK a call's kernels see one thread; the caller's count is
    restored afterwards, also when the call raises; a large call keeps every thread."""
    from ssd_edu.cpu import _jit, scan
    before = numba.get_num_threads()
    with _jit.threads_for(_jit.SMALL_WORK - 1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(KeyError):
        with _jit.threads_for(0):
            raise KeyError("inside")
    assert numba.get_num_threads() == before
    with _jit.threads_for(_jit.SMALL_WORK):
        assert numba.get_num_threads() == before
    seen = []
    real = scan.channel_width
    monkeypatch.setattr(scan, "channel_width", lambda *args: seen.append(
        numba.get_num_threads()) or real(*args))
    d = make_inputs("scalar", 64, 4, 3, (2,), seed=0)
    y, h = ssd_edu.cpu.scalar_scan(**d)
    y0, h0 = ssd_edu.scalar_scan(**d)
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    assert seen == [1] and numba.get_num_threads() == before


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one thread only")
def test_chunked_steps_run_on_the_threads_of_the_whole_call(monkeypatch):
    """bench --breakdown times chunked.step_calls: a small workload's steps must see one thread
    and one worker, as the whole call does (else each step pays a parallel region's wait and
    the parts add up to more than the call)."""
    from ssd_edu.cpu import chunked
    seen = []

    def spy(name):
        def kernel(*args):
            seen.append((name, numba.get_num_threads(), args[-1]))
        return kernel
    for name in ("_intra_chunk_and_chunk_states_kernel", "_state_passing_kernel",
                 "_chunk_output_kernel"):
        monkeypatch.setattr(chunked, name, spy(name))
    d = make_inputs("diagonal", 40, 3, 2, (1,), seed=0)
    steps = chunked.step_calls("diagonal", **d, chunk_size=8)
    for part in ("intra_chunk", "chunk_states", "state_passing", "chunk_output"):
        steps[part]()
    intra, passing, output = seen[0], seen[2], seen[3]
    assert [t for _, t, _ in seen] == [1, 1, 1, 1]
    assert intra[2] == 1 and output[2] == 1                   # workers
    assert numba.get_num_threads() > 1


def test_parallel_and_serial_finiteness_passes_have_their_own_cache_entries():
    """Numba's disk cache keys compiled code by function and signature, not by the parallel flag:
    two dispatchers of one function shared one entry, and whichever compiled first served both
    (the parallel pass then ran on one thread: 2 ms more per call at the default workload)."""
    from ssd_edu.cpu import _launch
    names = {d._cache._cache_file._index_name for d in (_launch._parallel, _launch._serial)}
    assert len(names) == 2, names
