"""Every registered implementation against the recurrence, on y and on the final state.

One harness (``ssd_edu.testing.call`` / ``check_against_oracle``) calls any entry of
``ssd_edu.IMPLEMENTATIONS`` with its proper arguments, and every test here is parametrized over
the registry with the key as its id, so ``pytest -k numba.diagonal.chunked`` selects one
implementation's tests and a newly registered entry is tested the moment it exists. The CUDA
entries run on the simulator, where each CUDA thread is a Python thread, so they get the
small cases only; ``tests/test_gpu.py`` has their device-specific tests.
"""
import numpy as np
import pytest

import ssd_edu
from ssd_edu.testing import assert_close, call, check_against_oracle, keys, make_inputs

HOST = keys("numpy") + keys("plain") + keys("numba")
ALL = HOST + keys("cuda")


def marked(names):
    """The keys as parameters: the CUDA entries (on the simulator) carry the `cuda` marker."""
    return [pytest.param(k, marks=pytest.mark.cuda) if k.startswith("cuda.") else k
            for k in names]


ALL_MARKED = marked(ALL)
#: float32 twins of the compiled entries (a second compilation of each kernel) carry `slow`
HOST_F32 = [k if k.startswith("numpy.") else pytest.param(k, marks=pytest.mark.slow)
            for k in HOST]
#: (T, N, P) of the shape tests: small for the simulator, awkward everywhere.
SHAPE = {"cuda": (5, 3, 3)}
REAL_REGIMES = ("random", "zero", "negative", "near_one", "strong", "mixed")


def family(key):
    return key.split(".")[1]


def test_registry_has_every_family_and_form_for_each_backend():
    for backend in ssd_edu.BACKENDS:
        if backend in ssd_edu.MISSING_BACKENDS:
            continue
        got = set(keys(backend))
        for fam in ssd_edu.FAMILIES:
            for form in ("scan", "attention", "chunked"):
                assert f"{backend}.{fam}.{form}" in got, (backend, fam, form)


@pytest.mark.parametrize("key", HOST)
@pytest.mark.parametrize("T", [0, 1, 2, 5, 64, 100])
@pytest.mark.parametrize("regime", REAL_REGIMES)
def test_matches_the_recurrence(key, T, regime):
    d = make_inputs(family(key), T, N=3, P=5, batch=(2,), regime=regime, seed=T)
    check_against_oracle(key, d, chunk_size=7, label=f"T={T} {regime}")


@pytest.mark.parametrize("key", keys("cuda"))
@pytest.mark.parametrize("T, regime", [(1, "random"), (5, "zero"),
                                       pytest.param(9, "negative", marks=pytest.mark.cuda),
                                       pytest.param(18, "mixed", marks=pytest.mark.cuda)])
def test_cuda_matches_the_recurrence(key, T, regime):
    d = make_inputs(family(key), T, N=3, P=5, batch=(2,), regime=regime, seed=T)
    check_against_oracle(key, d, chunk_size=4, label=f"T={T} {regime}")


@pytest.mark.parametrize("key", HOST_F32)
@pytest.mark.parametrize("regime", ["random", "zero", "negative", "near_one"])
def test_float32_against_the_float64_recurrence(key, regime):
    d = make_inputs(family(key), 100, N=5, P=3, batch=(2,), regime=regime,
                    dtype=np.float32, seed=3)
    check_against_oracle(key, d, chunk_size=16, label=f"float32 {regime}")


@pytest.mark.parametrize("key", marked(keys(form="chunked")))
@pytest.mark.parametrize("T, Q", [(1, 1), (17, 1), (17, 3), (37, 5), (64, 16), (64, 64),
                                  (100, 7), (100, 101), (37, 200), (5, 10**6)])
def test_any_chunk_size_for_any_T(key, T, Q):
    if key.startswith("cuda.") and T > 17:
        pytest.skip("simulator: small sizes only (tests/test_gpu.py has larger ones)")
    d = make_inputs(family(key), T, N=2, P=3, batch=(), regime="zero", seed=Q)
    check_against_oracle(key, d, chunk_size=Q, label=f"T={T} Q={Q}")


@pytest.mark.parametrize("key", ALL_MARKED)
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_leading_axes_and_odd_sizes(key, batch):
    T, N, P = SHAPE.get(key.split(".")[0], (17, 5, 7))
    d = make_inputs(family(key), T, N, P, batch=batch, regime="mixed", seed=5)
    y, h = call(key, d, chunk_size=4)
    assert y.shape == (*batch, T, P) and h.shape == (*batch, N, P)
    check_against_oracle(key, d, chunk_size=4, label=f"batch={batch}")


@pytest.mark.parametrize("key", ALL_MARKED)
def test_grouped_B_C_broadcast_over_heads(key):
    """B, C with a size-1 head axis (Mamba's groups) broadcast against x of shape (b, H, T, P)."""
    d = make_inputs(family(key), 5, N=3, P=2, batch=(2, 3), seed=2)
    grouped = dict(d, B=d["B"][:, :1], C=d["C"][:, :1])
    y, h = call(key, grouped, chunk_size=4)
    assert y.shape == (2, 3, 5, 2) and h.shape == (2, 3, 3, 2)
    full = dict(d, B=np.broadcast_to(grouped["B"], d["B"].shape),
                C=np.broadcast_to(grouped["C"], d["C"].shape))
    y0, h0 = ssd_edu.oracle(family(key))(**full)
    assert_close(f"{key} grouped y", y0, y)
    assert_close(f"{key} grouped state", h0, h)


#: Inputs with fewer (or size-1) leading axes than the batch: decays shared by every sequence,
#: and a batch of rank 2 (2, 2) with decays of batch (1,). (The reference's chunked form
#: once guessed the family from the decays' number of axes and went wrong on both.)
SHARED = [("shared decays", lambda d: dict(d, a=d["a"][0])),
          ("rank-2 batch", lambda d: dict(d, a=d["a"][:1], x=d["x"][:, None],
                                           initial_state=np.stack([d["initial_state"]] * 2, 1)))]


@pytest.mark.parametrize("key", ALL_MARKED)
@pytest.mark.parametrize("case", [c[0] for c in SHARED])
def test_inputs_with_fewer_leading_axes_broadcast(key, case):
    d = dict(SHARED)[case](make_inputs(family(key), 7, N=3, P=2, batch=(2,), regime="zero", seed=6))
    for Q in (2, 3, 4, 7):
        y, h = call(key, d, chunk_size=Q)
        full = {k: np.broadcast_to(v, (*y.shape[:-2], *v.shape[-2 if k != "a" or family(key)
                                                                 == "diagonal" else -1:]))
                for k, v in d.items()}
        y0, h0 = ssd_edu.oracle(family(key))(**full)
        assert_close(f"{key} {case} Q={Q} y", y0, y)
        assert_close(f"{key} {case} Q={Q} state", h0, h)


@pytest.mark.parametrize("key", ALL_MARKED)
def test_empty_sequence_returns_a_copy_of_the_initial_state(key):
    d = make_inputs(family(key), 0, N=3, P=2, batch=(2,))
    y, h = call(key, d, chunk_size=4)
    assert y.shape == (2, 0, 2)
    np.testing.assert_array_equal(h, d["initial_state"])
    assert not np.shares_memory(h, d["initial_state"])


@pytest.mark.parametrize("key", ALL_MARKED)
def test_zero_initial_state_equals_the_default(key):
    d = make_inputs(family(key), 11, N=3, P=2, batch=(2,), initial_state=False)
    y1, h1 = call(key, d, chunk_size=4)
    y2, h2 = call(key, d, chunk_size=4, initial_state=np.zeros((2, 3, 2)))
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(h1, h2)


@pytest.mark.parametrize("key", HOST)
@pytest.mark.parametrize("tau", [0, 1, 3, 4, 5, 10, 16, 17])
def test_continuation_from_the_returned_state(key, tau):
    """Running [0:tau) then [tau:T) from the returned state equals one pass."""
    d = make_inputs(family(key), 17, N=3, P=2, batch=(2,), regime="zero", seed=tau)
    y, h = call(key, d, chunk_size=4)
    first = {k: (v[:, :tau] if k != "initial_state" else v) for k, v in d.items()}
    y1, h1 = call(key, first, chunk_size=4)
    second = {k: (v[:, tau:] if k != "initial_state" else h1) for k, v in d.items()}
    y2, h2 = call(key, second, chunk_size=4)
    assert_close(f"{key} split at {tau}: y", y, np.concatenate([y1, y2], axis=-2))
    assert_close(f"{key} split at {tau}: state", h, h2)


@pytest.mark.parametrize("key", HOST)
@pytest.mark.parametrize("tau", [1, 4, 9])
def test_causality(key, tau):
    """Changing x, a, B, C at positions >= tau (finite values) leaves y[:tau] bitwise unchanged."""
    d = make_inputs(family(key), 12, N=3, P=2, batch=(2,), seed=tau)
    y, _ = call(key, d, chunk_size=4)
    rng = np.random.default_rng(99)
    e = {k: (v.copy() if v is not None else None) for k, v in d.items()}
    for k in ("x", "a", "B", "C"):
        e[k][:, tau:] = rng.standard_normal(e[k][:, tau:].shape)
    y2, _ = call(key, e, chunk_size=4)
    np.testing.assert_array_equal(y[:, :tau], y2[:, :tau])
    assert not np.array_equal(y[:, tau:], y2[:, tau:])


@pytest.mark.parametrize("key", ALL_MARKED)
def test_strided_inputs_are_read_and_never_modified(key):
    fam = family(key)
    rng = np.random.default_rng(3)
    T, N, P = SHAPE.get(key.split(".")[0], (23, 4, 3))
    x = np.swapaxes(rng.standard_normal((2, P, T)), -1, -2)                 # transposed view
    B = rng.standard_normal((1, T, 2 * N))[..., ::2]                        # strided, groups
    C = rng.standard_normal((2, T, N))
    a = rng.uniform(-1, 1, (2, T, 2) if fam == "scalar" else (2, T, N, 2))[..., 0]
    h0 = np.asfortranarray(rng.standard_normal((2, N, P)))
    d = dict(x=x, a=a, B=B, C=C, initial_state=h0)
    before = {k: v.copy() for k, v in d.items()}
    assert not x.flags.c_contiguous and not B.flags.c_contiguous
    check_against_oracle(key, d, chunk_size=5, label="strided")
    for k, v in d.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{key} modified {k}")


@pytest.mark.parametrize("key", [k for k in ALL if not k.startswith("numpy.")])
def test_errors_are_the_reference_errors(key):
    """Every backend validates with the reference's checks: the same exception, the same words."""
    reference = "numpy." + key.split(".", 1)[1]
    d = make_inputs(family(key), 6, 2, 3, (2,))
    bad_cases = [
        dict(a=d["a"].astype(np.complex128)),             # complex: reference only
        dict(x=d["x"][..., :5, :]),                       # T disagrees
        dict(C=d["C"][..., :1]),                          # N disagrees
        dict(x=np.where(np.arange(3) == 1, np.inf, d["x"])),
        dict(initial_state=d["initial_state"][..., :2]),  # P disagrees
        dict(B=d["B"].astype(np.float16)),
        dict(x=np.ones((3, 6, 3))),                       # batch does not broadcast
    ]
    for bad in bad_cases[1:]:
        with pytest.raises((TypeError, ValueError)) as expected:
            call(reference, d, chunk_size=2, **bad)
        with pytest.raises(type(expected.value)) as got:
            call(key, d, chunk_size=2, **bad)
        assert str(got.value) == str(expected.value)
    with pytest.raises(TypeError, match="^a has complex dtype"):
        call(key, d, chunk_size=2, **bad_cases[0])
    if key.endswith("chunked"):
        for q, exc in ((0, ValueError), (2.5, TypeError), (True, TypeError)):
            with pytest.raises(exc, match="chunk_size"):
                call(key, d, chunk_size=q)


@pytest.mark.parametrize("key", ALL_MARKED)
def test_dyadic_data_is_exact(key):
    """Dyadic decays and small integers are exact in floating point for T <= 8: every form and
    backend must give the oracle's numbers to the last bit."""
    d = make_inputs(family(key), 8, N=3, P=2, batch=(2,), regime="dyadic", seed=4)
    y, h = call(key, d, chunk_size=3)
    y0, h0 = ssd_edu.oracle(family(key))(**d)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(h, h0)


def _shifted_decay_scan(x, a, B, C, *, initial_state=None):
    """A plausible wrong recurrence: the decay one step late (a[t-1] instead of a[t])."""
    late = np.concatenate([np.ones_like(a[..., :1]), a[..., :-1]], axis=-1)
    return ssd_edu.reference.scalar_scan(x, late, B, C, initial_state=initial_state)


def _no_initial_state(x, a, B, C, *, initial_state=None):
    return ssd_edu.reference.scalar_scan(x, a, B, C)


def _upcast(x, a, B, C, *, initial_state=None):
    return ssd_edu.reference.scalar_scan(*(np.asarray(v, np.float64) for v in (x, a, B, C)),
                                         initial_state=initial_state)


@pytest.mark.parametrize("wrong, match", [(_shifted_decay_scan, "y: error"),
                                          (_no_initial_state, "y: error"),
                                          (_upcast, "expected float32")])
def test_the_harness_catches_a_wrong_implementation(monkeypatch, wrong, match):
    monkeypatch.setitem(ssd_edu.IMPLEMENTATIONS, "numpy.scalar.planted", wrong)
    d = make_inputs("scalar", 9, N=2, P=3, batch=(2,), regime="negative",
                    dtype=np.float32 if wrong is _upcast else np.float64, seed=1)
    with pytest.raises(AssertionError, match=match):
        check_against_oracle("numpy.scalar.planted", d)
