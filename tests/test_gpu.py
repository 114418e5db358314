"""The numba.cuda backend against the NumPy scan, on y and on the final state.

Runs on the numba CUDA simulator (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1 unless
SSD_EDU_REAL_GPU=1) and unchanged on a real GPU. The simulator runs every CUDA thread in
Python, so sizes are tiny and most tests shrink the tile to 4 there (blocks of 4 x 4 threads):
T is never a multiple of the tile or of the chunk length, and N, P = 5 give two mode and
channel tiles; ``test_default_tile_16`` runs every form at the default tile. On a real GPU
every test runs at the default tile 16.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ssd_edu
from ssd_edu import gpu
from ssd_edu.bench import _gpu_matmul as _matmul
from ssd_edu.testing import as_float64, assert_close, make_inputs

pytestmark = [pytest.mark.skipif(not gpu.cuda_available(),
                                 reason="no CUDA device and no CUDA simulator"),
              pytest.mark.cuda]

CUDA_FORMS = sorted(k for k in ssd_edu.IMPLEMENTATIONS if k.startswith("cuda."))
TILE = 4
CHUNK = 3


@pytest.fixture(autouse=True)
def small_tiles():
    """On the simulator: tile 4 (each simulated thread runs in Python) and a short GIL switch
    interval (its block manager polls its threads, so the default 5 ms makes every barrier
    slow). On a real GPU: the default tile 16, several warps per block."""
    if not gpu.simulator_enabled():
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    with gpu.tile_size(TILE):
        yield
    sys.setswitchinterval(old)


def family(name):
    return name.split(".")[1]


def call(name, d, chunk_size=CHUNK):
    kwargs = {"chunk_size": chunk_size} if name.endswith("chunked") else {}
    return ssd_edu.IMPLEMENTATIONS[name](d["x"], d["a"], d["B"], d["C"],
                                         initial_state=d["initial_state"], **kwargs)


def oracle(name, d):
    return ssd_edu.oracle(family(name))(**as_float64(d))


def host(arr):
    return arr.copy_to_host() if hasattr(arr, "copy_to_host") else arr


def check(name, d, y, h, dtype):
    y0, h0 = oracle(name, d)
    assert isinstance(y, np.ndarray) and isinstance(h, np.ndarray)
    assert y.dtype == dtype and h.dtype == dtype
    assert_close(f"{name} y", y0, y, dtype=dtype)
    assert_close(f"{name} final state", h0, h, dtype=dtype)


def test_registry_has_every_cuda_form():
    assert "cuda" not in ssd_edu.MISSING_BACKENDS
    assert set(CUDA_FORMS) == {f"cuda.{f}.{g}" for f in ssd_edu.FAMILIES for g in ssd_edu.FORMS
                              if g != "associative_scan"}   # NumPy reference only
    assert ssd_edu.IMPLEMENTATIONS["cuda.scalar.chunked"] is gpu.scalar_chunked


CASES = {
    # regime, dtype, batch, T, initial state
    "zero-f64": ("zero", np.float64, (2,), 13, True),
    "negative-f32": ("negative", np.float32, (), 11, True),
    "mixed-f64-heads": ("mixed", np.float64, (1, 2), 10, False),
    "near_one-f32": ("near_one", np.float32, (2,), 9, True),
}


@pytest.mark.parametrize("name", CUDA_FORMS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_forms_match_scan(name, case):
    regime, dtype, batch, T, with_h0 = CASES[case]
    d = make_inputs(family(name), T, N=5, P=5, batch=batch, regime=regime, dtype=dtype,
                    seed=T, initial_state=with_h0)
    before = {k: None if v is None else v.copy() for k, v in d.items()}
    y, h = call(name, d)
    check(name, d, y, h, np.dtype(dtype))
    for k, v in d.items():  # inputs never modified
        if v is not None:
            assert np.array_equal(v, before[k]), k


@pytest.mark.parametrize("fam", ["scalar", "diagonal"])
@pytest.mark.parametrize("chunk_size", [1, 4, 5, 40])
def test_chunked_any_chunk_size(fam, chunk_size):
    d = make_inputs(fam, 9, N=3, P=2, batch=(2,), regime="zero", seed=chunk_size)
    y, h = call(f"cuda.{fam}.chunked", d, chunk_size=chunk_size)
    check(f"cuda.{fam}.chunked", d, y, h, np.dtype(np.float64))


@pytest.mark.parametrize("fam", ["scalar", "diagonal"])
def test_broadcast_groups_and_odd_tile(fam):
    """B, C with a size-1 head axis (Mamba's groups), a tile of 3 and of 1."""
    d = make_inputs(fam, 7, N=2, P=3, batch=(2, 2), regime="mixed", seed=5)
    d["B"], d["C"] = d["B"][:, :1], d["C"][:, 1:]
    for tile in (3, 1):
        with gpu.tile_size(tile):
            for form in ("attention", "chunked"):
                y, h = call(f"cuda.{fam}.{form}", d)
                check(f"cuda.{fam}.{form}", d, y, h, np.dtype(np.float64))


@pytest.mark.parametrize("name", ["cuda.scalar.attention", "cuda.diagonal.chunked",
                                  "cuda.diagonal.scan"])
def test_dyadic_data_exact(name):
    """Dyadic data is exact in floating point (docs/theory.md#exact-data): equality, on any
    device."""
    d = make_inputs(family(name), 6, N=5, P=2, batch=(2,), regime="dyadic", seed=2)
    y, h = call(name, d)
    y0, h0 = oracle(name, d)
    assert np.array_equal(y, y0) and np.array_equal(h, h0)


@pytest.mark.parametrize("name", CUDA_FORMS)
def test_device_arrays_in_and_out(name):
    from numba import cuda

    d = make_inputs(family(name), 7, N=3, P=2, batch=(2,), regime="negative", seed=4)
    dev = {k: cuda.to_device(v) for k, v in d.items()}
    if name.endswith("scan"):
        dev["a"] = d["a"]  # host and device inputs mixed
    y, h = call(name, dev)
    assert not isinstance(y, np.ndarray) and hasattr(y, "copy_to_host")
    assert not isinstance(h, np.ndarray) and hasattr(h, "copy_to_host")
    assert y.shape == (2, 7, 2) and h.shape == (2, 3, 2)
    check(name, d, y.copy_to_host(), h.copy_to_host(), np.dtype(np.float64))
    for k, v in dev.items():  # device inputs never modified
        assert np.array_equal(host(v), d[k]), k


def test_device_array_dtype_conversion():
    """A float32 device array mixed with float64 host arrays computes in float64."""
    from numba import cuda

    d = make_inputs("scalar", 5, N=2, P=2, regime="random", seed=6)
    x32 = d["x"].astype(np.float32)
    y, h = gpu.scalar_scan(cuda.to_device(x32), d["a"], d["B"], d["C"],
                           initial_state=d["initial_state"])
    assert y.dtype == np.float64
    y0, h0 = ssd_edu.reference.scalar_scan(x32, d["a"], d["B"], d["C"],
                                           initial_state=d["initial_state"])
    assert_close("y", y0, y.copy_to_host())
    assert_close("h", h0, h.copy_to_host())
    # a strided device view (every other channel) goes through the host and stays unmodified
    wide = np.repeat(d["x"], 2, axis=-1)
    d_wide = cuda.to_device(wide)
    y, h = gpu.scalar_chunked(d_wide[:, ::2], d["a"], d["B"], d["C"], chunk_size=2,
                              initial_state=d["initial_state"])
    y0, h0 = ssd_edu.reference.scalar_scan(**d)
    assert_close("y", y0, y.copy_to_host())
    assert_close("h", h0, h.copy_to_host())
    assert np.array_equal(d_wide.copy_to_host(), wide)


def test_validation_errors_name_the_argument():
    from numba import cuda

    d = make_inputs("diagonal", 5, N=2, P=2, seed=0)
    with pytest.raises(ValueError, match=r"^a has shape \(5, 3\)"):
        gpu.diagonal_scan(d["x"], d["a"][:, :1].repeat(3, 1), d["B"], d["C"])
    with pytest.raises(ValueError, match=r"^a has shape \(5, 3\)"):  # same words on the device
        gpu.diagonal_scan(d["x"], cuda.to_device(d["a"][:, :1].repeat(3, 1)), d["B"], d["C"])
    bad = d["B"].copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="B has 1 non-finite"):
        gpu.diagonal_attention(d["x"], d["a"], cuda.to_device(bad), d["C"])
    with pytest.raises(TypeError, match="x has complex dtype"):
        gpu.diagonal_chunked(d["x"] + 0j, d["a"], d["B"], d["C"])
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        gpu.diagonal_chunked(d["x"], d["a"], d["B"], d["C"], chunk_size=0)
    with pytest.raises(ValueError, match="tile must be"):
        with gpu.tile_size(17):
            pass


@pytest.mark.parametrize("name", CUDA_FORMS)
def test_empty_sequence_and_batch(name):
    d = make_inputs(family(name), 0, N=2, P=3, batch=(2,), seed=0)
    y, h = call(name, d)
    assert y.shape == (2, 0, 3) and np.array_equal(h, d["initial_state"])
    d = make_inputs(family(name), 4, N=2, P=3, batch=(0,), seed=0)
    y, h = call(name, d)
    assert y.shape == (0, 4, 3) and h.shape == (0, 2, 3)


def test_matmul_kernel():
    from numba import cuda

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((6, 5)), rng.standard_normal((5, 7))
    out = cuda.device_array((6, 7))
    _matmul.launch_matmul(cuda.to_device(A), cuda.to_device(B), out, TILE, width=2)
    assert_close("A @ B", A @ B, out.copy_to_host())


def test_timing_helpers_run():
    from ssd_edu.bench import gpu_timing as timing

    assert gpu.cuda_available()
    d = make_inputs("scalar", 6, N=2, P=2, seed=1)
    res = timing.time_cuda(gpu.scalar_chunked, (d["x"], d["a"], d["B"], d["C"]),
                           {"chunk_size": 4, "initial_state": d["initial_state"]}, repeats=2)
    assert len(res["kernel_s"]) == 2 and all(s > 0 for s in res["kernel_s"])
    assert res["transfer_s"] == pytest.approx(res["h2d_s"] + res["d2h_s"])
    assert res["transfer_s"] > 0 and res["simulator"] == gpu.simulator_enabled()
    rate = timing.device_matmul_rate(np.float32, n=8)
    assert np.isfinite(rate) and rate > 0
    with pytest.raises(ValueError, match="repeats"):
        timing.time_cuda(gpu.scalar_scan, (d["x"], d["a"], d["B"], d["C"]), {}, repeats=0)


def _run_python(code, env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)


def _env_without_simulator():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["NUMBA_ENABLE_CUDASIM"] = "0"
    return env


def test_without_gpu_and_without_simulator_a_clear_error():
    code = """
        import numpy as np
        from numba import cuda
        if cuda.is_available():
            print("REAL-GPU")
            raise SystemExit(0)
        import ssd_edu
        from ssd_edu import gpu
        assert not gpu.cuda_available()
        # listed, but MISSING_BACKENDS says why they cannot run (the one probe's words)
        assert ssd_edu.testing.keys("cuda") == []
        assert ssd_edu.MISSING_BACKENDS["cuda"] == gpu.unavailable_reason(), ssd_edu.MISSING_BACKENDS
        assert "NUMBA_ENABLE_CUDASIM=1" in ssd_edu.MISSING_BACKENDS["cuda"]
        x = np.zeros((3, 2)); a = np.ones(3); B = C = np.ones((3, 2))
        for name in [f"{f}_{g}" for f in ssd_edu.FAMILIES for g in ssd_edu.FORMS[:3]]:
            try:
                getattr(gpu, name)(x, a if "scalar" in name else B, B, C)
            except gpu.CudaUnavailableError as e:
                assert isinstance(e, RuntimeError) and "NUMBA_ENABLE_CUDASIM=1" in str(e), e
            else:
                raise AssertionError(name + " ran without a GPU")
        print("OK")
    """
    out = _run_python(code, _env_without_simulator())
    if "REAL-GPU" in out.stdout:
        pytest.skip("a real GPU is present: the no-GPU error cannot occur")
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr


def test_import_works_without_numba_cuda():
    code = """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name in ("numba.cuda", "numba_cuda") or name.startswith(("numba.cuda.",
                                                                             "numba_cuda.")):
                    raise ImportError("numba-cuda blocked for this test")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import ssd_edu
        from ssd_edu import gpu
        assert "numba.cuda" not in sys.modules
        assert not gpu.cuda_available()
        assert "numba-cuda is not installed" in ssd_edu.MISSING_BACKENDS["cuda"]
        assert "numba.scalar.scan" in ssd_edu.IMPLEMENTATIONS
        y, h = ssd_edu.IMPLEMENTATIONS["numpy.scalar.scan"](np.ones((2, 1)), np.ones(2),
                                                           np.ones((2, 1)), np.ones((2, 1)))
        try:
            gpu.scalar_chunked(np.ones((2, 1)), np.ones(2), np.ones((2, 1)), np.ones((2, 1)))
        except gpu.CudaUnavailableError as e:
            assert "numba-cuda is not installed" in str(e) and "NUMBA_ENABLE_CUDASIM=1" in str(e)
        else:
            raise AssertionError("ran without numba-cuda")
        print("OK")
    """
    out = _run_python(code, dict(os.environ))
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr


@pytest.mark.parametrize("name", CUDA_FORMS)
def test_default_tile_16(name):
    """The default tile (16 x 16 threads: eight warps, so the barriers are crossed by several
    warps) with T, N and P spanning two tiles and not multiples of it; the scan with T over
    one scan chunk (64 steps), the chunked form with a chunk boundary inside a tile."""
    assert gpu.DEFAULT_TILE == 16
    fam, form = name.split(".")[1:]
    T = 70 if form == "scan" else 19
    d = make_inputs(fam, T, N=17, P=18, regime="mixed", seed=3)
    with gpu.tile_size(gpu.DEFAULT_TILE):
        y, h = call(name, d, chunk_size=7)
    check(name, d, y, h, np.dtype(np.float64))


def test_chunked_form_refuses_a_chunk_size_of_none():
    """None is the attention form's private value inside gpu.chunked: from a caller it is an
    error, as in every other backend (it silently ran the attention form)."""
    for name in ("cuda.scalar.chunked", "cuda.diagonal.chunked"):
        d = make_inputs(family(name), 5, N=2, P=3, seed=0)
        with pytest.raises(TypeError, match="chunk_size must be an integer >= 1, got None"):
            call(name, d, chunk_size=None)


@pytest.mark.parametrize("name", ["cuda.diagonal.attention", "cuda.diagonal.chunked",
                                  "cuda.scalar.attention"])
def test_several_mode_tiles_and_channel_blocks(name):
    """N = 2 TILE + 1 (the diagonal mode-pair loop runs more than once: a missing barrier at
    its end gave errors of 0.3-0.5) and P = 4 TILE + 1 (more than one channel block)."""
    d = make_inputs(family(name), 11, N=2 * TILE + 1, P=4 * TILE + 1, regime="mixed", seed=9)
    y, h = call(name, d)
    check(name, d, y, h, np.dtype(np.float64))


@pytest.mark.parametrize("fam", ["scalar", "diagonal"])
def test_scan_with_more_chunk_groups_than_the_tile(fam):
    """Tile 2, T = 40: the parallel scan has more chunk groups than threads along them (a
    wrong group index gave an error of 1.0 there)."""
    d = make_inputs(fam, 40, N=3, P=2, regime="mixed", seed=4)
    with gpu.tile_size(2):
        y, h = call(f"cuda.{fam}.scan", d)
    check(f"cuda.{fam}.scan", d, y, h, np.dtype(np.float64))


@pytest.mark.parametrize("name", CUDA_FORMS)
def test_broadcast_device_inputs(name):
    """Device arrays with broadcast leading axes: a B shared across heads, C and an
    initial_state shared by every sequence (the device path's leading-index map)."""
    from numba import cuda
    d = make_inputs(family(name), 6, N=3, P=2, batch=(2, 2), regime="negative", seed=6)
    d["B"], d["C"], d["initial_state"] = d["B"][:, :1], d["C"][0, 0], d["initial_state"][0, 0]
    dev = {k: cuda.to_device(np.ascontiguousarray(v)) for k, v in d.items()}
    y, h = call(name, dev)
    check(name, d, y.copy_to_host(), h.copy_to_host(), np.dtype(np.float64))


@pytest.mark.parametrize("fam", ["scalar", "diagonal"])
@pytest.mark.parametrize("T", [17, 33])
def test_scan_vjp_one_step_past_a_checkpoint(fam, T):
    """T = 1 mod the scan VJP's checkpoint length (16): the last checkpoint holds one step (not
    storing it gave da errors of 0.04-0.67)."""
    d = make_inputs(fam, T, N=3, P=2, regime="mixed", seed=T)
    rng = np.random.default_rng(T)
    dy, dh = rng.standard_normal((T, 2)), rng.standard_normal((3, 2))
    args = (d["x"], d["a"], d["B"], d["C"], dy, dh)
    got = ssd_edu.VJPS[f"cuda.{fam}.scan"](*args, initial_state=d["initial_state"])
    want = ssd_edu.VJPS[f"numpy.{fam}.scan"](*args, initial_state=d["initial_state"])
    for field, g, w in zip(got._fields, got, want):
        assert_close(f"cuda.{fam}.scan vjp {field}", w, g)
