"""The plain tier (ssd_edu.cpu.plain): every form against the recurrence, and each of the four
chunked steps against a NumPy statement of its formula, written here from the reference's
masks and scan (chunk by chunk, no padding)."""
import numpy as np
import pytest

import ssd_edu
from ssd_edu import reference
from ssd_edu.cpu import plain
from ssd_edu.testing import (assert_close, check_against_oracle, keys, make_inputs,
                             tolerance)

PLAIN = keys("plain")
FORMS = [f"{fam}_{form}" for fam in ssd_edu.FAMILIES for form in ("scan", "attention", "chunked")]


def family(key):
    return key.split(".")[1]


def test_every_form_is_registered_and_there_are_no_vjps():
    assert PLAIN == sorted(f"plain.{name.replace('_', '.')}" for name in FORMS)
    assert all(ssd_edu.IMPLEMENTATIONS[f"plain.{n.replace('_', '.')}"] is getattr(plain, n)
               for n in FORMS)
    assert not [k for k in ssd_edu.VJPS if k.startswith("plain.")]


@pytest.mark.parametrize("key", PLAIN)
@pytest.mark.parametrize("dtype, regime", [(np.float64, r) for r in ("random", "zero",
                                                                     "negative", "mixed")]
                         + [pytest.param(np.float32, r, marks=pytest.mark.slow)
                            for r in ("random", "zero", "negative")])
@pytest.mark.parametrize("T, Q", [(1, 64), (1, 1), (7, 3), (16, 4), (13, 64), (40, 7)])
def test_matches_the_recurrence(key, dtype, regime, T, Q):
    d = make_inputs(family(key), T, N=3, P=5, batch=(2,), regime=regime, dtype=dtype, seed=T)
    check_against_oracle(key, d, chunk_size=Q, label=f"T={T} Q={Q} {regime}")


@pytest.mark.parametrize("key", PLAIN)
def test_leading_axes_broadcast_and_no_initial_state(key):
    d = make_inputs(family(key), 9, N=1, P=2, batch=(3,), seed=1, initial_state=False)
    d["x"] = np.broadcast_to(d["x"], (2, 3, 9, 2))          # x (2, 3, T, P), the rest (3, ...)
    d["B"] = d["B"][:1]                                      # B (1, T, N): shared by the batch
    check_against_oracle(key, d, chunk_size=4)
    y, h = ssd_edu.IMPLEMENTATIONS[key](d["x"], d["a"], d["B"], d["C"])
    assert y.shape == (2, 3, 9, 2) and h.shape == (2, 3, 1, 2)


@pytest.mark.parametrize("name", FORMS)
def test_keyword_only_and_the_numba_errors(name):
    fn, tuned = getattr(plain, name), getattr(ssd_edu.cpu, name)
    d = make_inputs(name.split("_")[0], 5, N=2, P=3, seed=0)
    with pytest.raises(TypeError):
        fn(d["x"], d["a"], d["B"], d["C"], d["initial_state"])        # initial_state positional
    bad = dict(d, x=d["x"][:4])
    with pytest.raises(ValueError) as want:
        tuned(bad["x"], bad["a"], bad["B"], bad["C"])
    with pytest.raises(ValueError, match=r"^x has shape") as got:
        fn(bad["x"], bad["a"], bad["B"], bad["C"])
    assert str(got.value) == str(want.value)
    if name.endswith("chunked"):
        with pytest.raises(ValueError, match="chunk_size"):
            fn(d["x"], d["a"], d["B"], d["C"], chunk_size=0)


# ---------------------------------------------------------------- the four steps

def _chunks(T, Q):
    return [slice(c, min(T, c + Q)) for c in range(0, T, Q)]


def _step_inputs(fam, T, N, P, batch, dtype, seed=0):
    """Inputs with the steps' decay layout: a (..., T, N), or (..., T, 1) for the scalar family."""
    d = make_inputs(fam, T, N, P, batch=batch, regime="zero", dtype=dtype, seed=seed)
    a = d["a"][..., None] if fam == "scalar" else d["a"]
    return d["x"], a, d["B"], d["C"], d["initial_state"]


def _modes(a, N):
    return np.broadcast_to(a, (*a.shape[:-1], N)).astype(np.float64)


def numpy_intra_chunk(x, a, B, C, Q):
    """Y_diag = per chunk c, the diagonal kernel of the chunk times its x."""
    y = np.zeros(np.broadcast_shapes(x.shape[:-2], B.shape[:-2], a.shape[:-2]) + x.shape[-2:])
    a = _modes(a, B.shape[-1])
    for c in _chunks(x.shape[-2], Q):
        y[..., c, :] = reference.diagonal_kernel(a[..., c, :], B[..., c, :], C[..., c, :]) \
            @ x[..., c, :]
    return y


def numpy_chunk_states(x, a, B, Q):
    """S_c = the final state of the scan of chunk c from zero; abar_c = prod over the chunk."""
    S, abar = [], []
    for c in _chunks(x.shape[-2], Q):
        am = _modes(a[..., c, :], B.shape[-1])
        S.append(reference.diagonal_scan(x[..., c, :], am, B[..., c, :], B[..., c, :])[1])
        abar.append(np.prod(a[..., c, :].astype(np.float64), axis=-2))
    return np.stack(S, axis=-3), np.stack(abar, axis=-2)


def numpy_state_passing(abar, S, h0):
    H = np.zeros(S.shape[:-3] + S.shape[-2:]) if h0 is None else h0.astype(np.float64)
    H_prev = []
    for c in range(S.shape[-3]):
        H_prev.append(np.broadcast_to(H, np.broadcast_shapes(H.shape, S[..., c, :, :].shape)))
        H = abar[..., c, :, None] * H + S[..., c, :, :]
    return np.stack(H_prev, axis=-3), H


def numpy_chunk_output(a, C, H_prev, Q):
    a = _modes(a, C.shape[-1])
    out = []
    for j, c in enumerate(_chunks(C.shape[-2], Q)):
        delta = np.cumprod(a[..., c, :], axis=-2)         # delta_t = a_{b_c} ... a_t
        out.append(np.einsum("...tn,...tn,...np->...tp", delta, C[..., c, :], H_prev[..., j, :, :]))
    return np.concatenate(out, axis=-2)


STEP_CASES = [("scalar", 1, 4), ("scalar", 13, 4), ("diagonal", 13, 5), ("diagonal", 16, 4),
              ("diagonal", 5, 64)]


@pytest.mark.parametrize("fam, T, Q", STEP_CASES)
@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
def test_each_step_against_its_formula(fam, T, Q, dtype):
    x, a, B, C, h0 = _step_inputs(fam, T, 3, 5, (2,), dtype)
    f64 = [v.astype(np.float64) for v in (x, a, B, C, h0)]
    tol = tolerance(dtype)

    y_diag = plain.intra_chunk(x, a, B, C, chunk_size=Q)
    assert y_diag.dtype == dtype and y_diag.shape == x.shape
    assert_close("intra_chunk", numpy_intra_chunk(*f64[:4], Q), y_diag, tol)

    S, abar = plain.chunk_states(x, a, B, chunk_size=Q)
    J = -(-T // Q)
    assert S.shape == (2, J, 3, 5) and abar.shape == (2, J, a.shape[-1])
    S0, abar0 = numpy_chunk_states(f64[0], f64[1], f64[2], Q)
    assert_close("chunk_states S", S0, S, tol)
    assert_close("chunk_states abar", abar0, abar, tol)

    H_prev, h = plain.state_passing(abar0.astype(dtype), S0.astype(dtype), initial_state=h0)
    H0, hT = numpy_state_passing(abar0, S0, f64[4])
    assert_close("state_passing H_prev", H0, H_prev, tol)
    assert_close("state_passing h", hT, h, tol)

    y_off = plain.chunk_output(a, C, H0.astype(dtype), chunk_size=Q)
    assert_close("chunk_output", numpy_chunk_output(f64[1], f64[3], H0, Q), y_off, tol)

    # the four steps compose to the chunked form, and that to the recurrence
    y, hf = getattr(plain, f"{fam}_chunked")(x, a[..., 0] if fam == "scalar" else a, B, C,
                                              chunk_size=Q, initial_state=h0)
    assert_close("composed y", y, y_diag + plain.chunk_output(a, C, H_prev, chunk_size=Q), tol)
    assert_close("composed h", hf, plain.state_passing(abar, S, initial_state=h0)[1], tol)


@pytest.mark.parametrize("step", ["intra_chunk", "chunk_states", "state_passing",
                                  "chunk_output"])
def test_steps_match_the_reference_steps(step):
    from ssd_edu.reference import chunking
    ref = getattr(chunking, step)
    x, a, B, C, h0 = _step_inputs("diagonal", 11, 2, 3, (2,), np.float64)
    Q = 4
    S, abar = plain.chunk_states(x, a, B, chunk_size=Q)
    H_prev, _ = plain.state_passing(abar, S, initial_state=h0)
    args = {"intra_chunk": ((x, a, B, C), dict(chunk_size=Q)),
            "chunk_states": ((x, a, B), dict(chunk_size=Q)),
            "state_passing": ((abar, S), dict(initial_state=h0)),
            "chunk_output": ((a, C, H_prev), dict(chunk_size=Q))}[step]
    got, want = getattr(plain, step)(*args[0], **args[1]), ref(*args[0], **args[1])
    for g, w in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,)):
        assert_close(step, w, g, 1e-12)


def test_steps_broadcast_leading_axes_and_leave_inputs_alone():
    x, a, B, C, h0 = _step_inputs("diagonal", 9, 2, 3, (3,), np.float64, seed=4)
    x4 = np.broadcast_to(x, (2, 3, 9, 3))
    S, abar = plain.chunk_states(x4, a, B[:1], chunk_size=4)
    assert S.shape == (2, 3, 3, 2, 3) and abar.shape == (2, 3, 3, 2)
    S0, abar0 = numpy_chunk_states(x4, a, B[:1], 4)
    assert_close("S", S0, S, 1e-12)
    abar0 = np.broadcast_to(abar0, abar.shape)
    assert_close("abar", abar0, abar, 1e-12)
    h0_before = h0.copy()
    H_prev, h = plain.state_passing(abar[0], S[0], initial_state=h0)
    assert np.array_equal(h0, h0_before)                     # the initial state is not written
    assert_close("h", numpy_state_passing(abar0[0], S0[0], h0)[1], h, 1e-12)
    y = plain.intra_chunk(x4, a, B, C[:1], chunk_size=4)
    assert_close("y", numpy_intra_chunk(x4, a, B, C[:1], 4), y, 1e-12)


def test_step_shape_errors_name_the_argument():
    x, a, B, C, h0 = _step_inputs("diagonal", 9, 2, 3, (), np.float64)
    S, abar = plain.chunk_states(x, a, B, chunk_size=4)
    with pytest.raises(ValueError, match=r"^abar has shape \(3, 5\)"):
        plain.state_passing(abar[:, :1].repeat(5, axis=1), S)
    with pytest.raises(ValueError, match=r"^initial_state has shape \(3, 2\)"):
        plain.state_passing(abar, S, initial_state=h0.T)
    with pytest.raises(ValueError, match=r"^H_prev has shape \(2, 2, 3\).*J = ceil\(T / chunk_size"
                                         r"\) = 3"):
        plain.chunk_output(a, C, S[:2], chunk_size=4)
    with pytest.raises(ValueError, match=r"^a has shape \(9, 3\)"):
        plain.intra_chunk(x, np.ones((9, 3)), B, C, chunk_size=4)


def test_bench_has_plain_rows_next_to_the_numba_rows():
    from ssd_edu import bench
    rows = bench.run_bench(T=8, N=2, P=2, batch=1, repeats=1, dtypes=("float64",),
                           backends=("plain", "numba"), families=("scalar",),
                           forms=("chunked",))
    assert [r["name"] for r in rows] == ["plain.scalar.chunked", "numba.scalar.chunked"]
    assert all(r["status"] == "ok" for r in rows), rows
    assert "plain.scalar.chunked" in bench.format_table(rows)
    import inspect
    assert "plain" in inspect.signature(bench.run_bench).parameters["backends"].default
