"""Every validation rule: the error type, and a message that names the argument."""
import numpy as np
import pytest

import ssd_edu
from ssd_edu import reference as ref
from ssd_edu.testing import make_inputs
from ssd_edu.validation import QuadraticMemoryError

NUMPY_FORMS = sorted(k for k in ssd_edu.IMPLEMENTATIONS if k.startswith("numpy."))


def call(name, d, **kw):
    return ssd_edu.IMPLEMENTATIONS[name](d["x"], d["a"], d["B"], d["C"],
                                         initial_state=d["initial_state"], **kw)


def inputs(name, T=6, N=3, P=2):
    return make_inputs(name.split(".")[1], T, N, P, batch=(2,), seed=0)


BAD_SHAPES = {
    "x": lambda d: d["x"][..., :-1, :],          # wrong T
    "a": lambda d: d["a"][..., :-1] if d["a"].ndim == 2 else d["a"][..., :-1, :],
    "B": lambda d: d["B"][..., :-1],              # wrong N
    "C": lambda d: d["C"][..., :-1, :],           # wrong T
    "initial_state": lambda d: d["initial_state"][..., :-1],  # wrong P
}


@pytest.mark.parametrize("name", NUMPY_FORMS)
@pytest.mark.parametrize("arg", list(BAD_SHAPES))
def test_wrong_shape_names_argument(name, arg):
    d = inputs(name)
    d[arg] = BAD_SHAPES[arg](d)
    with pytest.raises(ValueError, match=rf"^{arg} has shape \("):
        call(name, d)


@pytest.mark.parametrize("name", NUMPY_FORMS)
@pytest.mark.parametrize("arg", ["x", "B", "C"])
def test_too_few_dimensions(name, arg):
    d = inputs(name)
    d[arg] = d[arg][0, 0]
    with pytest.raises(ValueError, match=rf"^{arg} has shape .*expected \(\.\.\., T, "):
        call(name, d)


@pytest.mark.parametrize("name", NUMPY_FORMS)
def test_leading_dims_must_broadcast(name):
    d = inputs(name)
    d["B"] = np.concatenate([d["B"], d["B"], d["B"]])  # batch 6 vs 2
    with pytest.raises(ValueError, match="leading .batch. dimensions do not broadcast: .*B"):
        call(name, d)


@pytest.mark.parametrize("name", NUMPY_FORMS)
@pytest.mark.parametrize("arg", ["x", "a", "B", "C", "initial_state"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_refused(name, arg, bad):
    d = inputs(name)
    d[arg] = d[arg].copy()
    d[arg].flat[3] = bad
    with pytest.raises(ValueError, match=rf"^{arg} has 1 non-finite entries"):
        call(name, d)


class _Unreadable:
    """Stands in for a torch tensor that requires grad: NumPy cannot read it."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad")


@pytest.mark.parametrize("name", NUMPY_FORMS)
@pytest.mark.parametrize("arg", ["x", "B"])
def test_unreadable_input_names_the_argument(name, arg):
    d = inputs(name)
    d[arg] = _Unreadable()
    with pytest.raises(TypeError, match=rf"^{arg} \(_Unreadable\) cannot be read as a NumPy "
                                        rf"array \(Can't call numpy"):
        call(name, d)


@pytest.mark.parametrize("name", NUMPY_FORMS)
@pytest.mark.parametrize("dtype", [np.float16, object, "U3"])
def test_unsupported_dtype_refused(name, dtype):
    d = inputs(name)
    d["B"] = d["B"].astype(dtype)
    with pytest.raises(TypeError, match=r"^B has dtype"):
        call(name, d)


@pytest.mark.parametrize("name", NUMPY_FORMS)
def test_integer_inputs_promoted_to_float64(name):
    d = make_inputs(name.split(".")[1], 5, 2, 2, regime="dyadic", seed=1)
    as_int = dict(d, x=d["x"].astype(np.int64), B=d["B"].astype(np.int32))
    y, h = call(name, as_int)
    y2, h2 = call(name, d)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h, h2)


@pytest.mark.parametrize("name", NUMPY_FORMS)
def test_mixed_precision_computes_in_result_type(name):
    d = make_inputs(name.split(".")[1], 5, 2, 2, dtype=np.float32, seed=2)
    y, h = call(name, d)
    assert y.dtype == np.float32
    y, h = call(name, dict(d, a=d["a"].astype(np.float64)))
    assert y.dtype == np.float64 and h.dtype == np.float64


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
@pytest.mark.parametrize("bad, err", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                      (True, TypeError), ("8", TypeError), (None, TypeError)])
def test_chunk_size_rules(fam, bad, err):
    d = inputs(f"numpy.{fam}.chunked")
    with pytest.raises(err, match="chunk_size must be an integer >= 1"):
        call(f"numpy.{fam}.chunked", d, chunk_size=bad)


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_numpy_integer_chunk_size_accepted(fam):
    d = inputs(f"numpy.{fam}.chunked")
    call(f"numpy.{fam}.chunked", d, chunk_size=np.int64(4))


@pytest.mark.parametrize("name", [n for n in NUMPY_FORMS if n.endswith("attention")])
def test_quadratic_memory_limit(name, monkeypatch):
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", str(10_000))
    d = inputs(name, T=64)
    with pytest.raises(QuadraticMemoryError, match=r"attention would allocate .* T = 64.*"
                                                   r"Use the scan or chunked form"):
        call(name, d)
    # MemoryError and ValueError both catch it
    with pytest.raises(MemoryError):
        call(name, d)
    # the scan and chunked forms need O(T) memory and still run
    call(name.replace("attention", "scan"), d)
    call(name.replace("attention", "chunked"), d, chunk_size=8)


@pytest.mark.parametrize("key", [k for k in sorted(ssd_edu.IMPLEMENTATIONS)
                                 if k.endswith(".chunked")
                                 and k.split(".")[0] in ("numpy", "numba")])
def test_chunk_as_long_as_T_is_refused_above_the_quadratic_limit(key, monkeypatch):
    """A chunk size near T makes the chunked form quadratic: forward and VJP refuse it with
    QuadraticMemoryError before any work (NumPy raised a bare MemoryError, Numba a
    SystemError), and still run at a small chunk."""
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", str(100_000))
    d = inputs(key, T=300)
    dy = np.ones(np.broadcast_shapes(d["x"].shape[:-2], d["B"].shape[:-2]) + d["x"].shape[-2:])
    with pytest.raises(QuadraticMemoryError, match=r"chunked would allocate .* Q = 300"):
        call(key, d, chunk_size=300)
    with pytest.raises(QuadraticMemoryError, match=r"chunked_vjp would allocate .* Q = 300"):
        ssd_edu.VJPS[key](d["x"], d["a"], d["B"], d["C"], dy, chunk_size=10**6)
    call(key, d, chunk_size=16)
    ssd_edu.VJPS[key](d["x"], d["a"], d["B"], d["C"], dy, chunk_size=16)


@pytest.mark.parametrize("fn", [ref.scalar_kernel, ref.diagonal_kernel, ref.diagonal_heads])
def test_kernel_memory_limit(fn, monkeypatch):
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", str(10_000))
    fam = "scalar" if fn is ref.scalar_kernel else "diagonal"
    d = make_inputs(fam, 64, 3, 1)
    with pytest.raises(QuadraticMemoryError, match=fn.__name__):
        fn(d["a"], d["B"], d["C"])


def test_kernel_memory_message_counts_the_matrices(monkeypatch):
    """diagonal_kernel builds one (T, T) mask per mode: the message counts them (it said
    "x has 10 sequences" for a function without x, of 2 sequences and 5 modes)."""
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", str(10_000))
    d = make_inputs("diagonal", 64, 5, 1, batch=(2,))
    with pytest.raises(QuadraticMemoryError, match=r"for \d+ x 10 \(T, T\) matrices with "
                                                   r"T = 64 \(leading shape \(2, 5\)\)"):
        ref.diagonal_kernel(d["a"], d["B"], d["C"])


@pytest.mark.parametrize("key", ["numpy.scalar.attention", "numba.diagonal.attention"])
def test_vjp_memory_message_gives_the_inputs_T(key, monkeypatch):
    """The attention VJPs allocate (T + 2, T + 2) grids; the message says so with the T of the
    input (it said T = 66 for T = 64)."""
    if key not in ssd_edu.VJPS:
        pytest.skip("numba missing")
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", str(10_000))
    d = make_inputs(key.split(".")[1], 64, 3, 2, batch=(2,))
    dy = np.ones((2, 64, 2))
    with pytest.raises(QuadraticMemoryError, match=r"\(T \+ 2, T \+ 2\) matrices with T = 64 "):
        ssd_edu.VJPS[key](d["x"], d["a"], d["B"], d["C"], dy)


@pytest.mark.parametrize("value", ["abc", "-5", "1.5e9"])
def test_a_bad_memory_limit_is_named(value, monkeypatch):
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", value)
    d = inputs("numpy.scalar.attention", T=8)
    with pytest.raises(ValueError, match=f"SSD_EDU_MAX_QUADRATIC_BYTES must be a number of "
                                         f"bytes .*got '{value}'"):
        call("numpy.scalar.attention", d)


@pytest.mark.parametrize("name", NUMPY_FORMS)
def test_inputs_never_modified(name):
    d = make_inputs(name.split(".")[1], 9, 3, 2, batch=(2,), regime="zero", seed=3)
    before = {k: v.copy() for k, v in d.items()}
    for v in d.values():
        v.setflags(write=False)  # an in-place write would raise
    y, h = call(name, d, **(dict(chunk_size=4) if "chunked" in name else {}))
    for k in d:
        np.testing.assert_array_equal(d[k], before[k])
    assert not np.shares_memory(h, d["initial_state"])
    y[...] = 0.0  # outputs are fresh, writable arrays
    h[...] = 0.0


def test_general_family_validation():
    d = make_inputs("general", 5, 3, 2, seed=4)
    with pytest.raises(ValueError, match=r"^A has shape \(5, 3, 2\)"):
        ref.general_scan(d["x"], d["A"][..., :2], d["B"], d["C"])
    with pytest.raises(ValueError, match=r"^A has shape"):
        ref.general_kernel(d["A"][0], d["B"], d["C"])


def test_single_mask_and_mask_validation():
    with pytest.raises(ValueError, match="^a has 1 non-finite"):
        ref.one_ss_mask(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="^a has dtype"):
        ref.one_ss_mask(np.array(["x"]))
    with pytest.raises(ValueError, match=r"^a has shape \(3,\)"):
        ref.diagonal_single_mask(np.ones(3), np.ones((3, 2)), np.ones((3, 2)))


def test_state_passing_refuses_a_decay_shape_it_cannot_read():
    """The scalar family's old (..., J) decays: refused naming abar (they broadcast into a wrong
    answer or a deep IndexError), as are a wrong J and a wrong N."""
    S, h0 = np.ones((2, 4, 3, 2)), np.zeros((2, 3, 2))
    for abar in (np.ones((2, 4)), np.ones((2, 5, 3)), np.ones((2, 4, 2))):
        with pytest.raises(ValueError, match=r"abar has shape .* expected \(\.\.\., J, N\)"):
            ref.state_passing(abar, S, initial_state=h0)
    ref.state_passing(np.ones((2, 4, 1)), S, initial_state=h0)
    ref.state_passing(np.ones((4, 3)), S, initial_state=h0)         # shared by the batch


def test_error_metric_is_infinite_for_nan_and_reads_fractions():
    from fractions import Fraction
    from ssd_edu.testing import error
    assert error([1.0, 2.0], [1.0, np.nan]) == np.inf
    assert error([1.0, -np.inf], [1.0, 0.0]) == np.inf
    assert error([1.0, -np.inf, np.nan], [1.0, -np.inf, np.nan]) == 0.0
    assert error(np.array([Fraction(1, 3), 2], dtype=object), [1 / 3, 2.0]) < 1e-16
    assert error(np.array([1j, 2], dtype=object), [1j, 2]) == 0.0
    assert error([4.0, 2.0], [4.0, 3.0]) == 0.25


@pytest.mark.parametrize("args, kw, error, message", [
    (("scalar", -1, 2, 2), {}, ValueError, "T must be an integer >= 0, got -1"),
    (("scalar", 4, 2.5, 2), {}, TypeError, "N must be an integer >= 0, got 2.5"),
    (("diagonal", 4, 2, 2, (2, -3)), {}, ValueError, r"batch\[1\] must be an integer >= 0"),
    (("scalar", 4, 2, 2), {"dtype": "float16"}, TypeError, "dtype must be float32 or float64"),
    (("scalar", 4, 2, 2), {"dtype": np.complex128}, TypeError, "dtype must be float32"),
])
def test_make_inputs_names_a_bad_size_or_dtype(args, kw, error, message):
    """make_inputs used to pass a negative size on to NumPy ("negative dimensions are not
    allowed") and to return float16 inputs that every form then refused."""
    with pytest.raises(error, match=message):
        make_inputs(*args, **kw)
    assert make_inputs("scalar", np.int64(0), 2, 2)["x"].shape == (0, 2)
    assert make_inputs("scalar", 4, 2, 3, (n for n in (2, 3)))["x"].shape == (2, 3, 4, 3)
