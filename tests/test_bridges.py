"""The Mamba-2 and fla bridges against their layers' formulas, written out here as plain loops.

The loops below are the tests' own reading of Mamba-2's ``mamba_chunk_scan_combined`` and fla's
``chunk_simple_gla`` / ``chunk_gla`` (one batch entry, one head, one step at a time, in Mamba's
(headdim, dstate) and fla's (K, V) state layouts); they share no code with ssd_edu. Every
registered backend (numpy, numba, cuda on the simulator) and every form is compared with them:
float64 to 1e-12 (``TOLERANCES``), float32 to the float32 tolerance. The planted-defect tests swap
one convention for a plausible wrong one and show that the comparison catches it.
"""
import math
import sys

import numpy as np
import pytest

import ssd_edu
from ssd_edu import gpu
from ssd_edu.bridges import _forms, fla, mamba2
from ssd_edu.testing import assert_close

INF = math.inf
NO_CUDA = pytest.mark.skipif(not gpu.cuda_available(),
                             reason="no CUDA device and no CUDA simulator")
#: cuda (on the simulator) carries the `cuda` marker (setup.cfg)
BACKENDS = [pytest.param(b, marks=[NO_CUDA, pytest.mark.cuda] if b == "cuda" else [])
            for b in ssd_edu.BACKENDS if f"{b}.scalar.scan" in ssd_edu.IMPLEMENTATIONS]
#: the float32 runs: the compiled backends' (a second compilation of each kernel) carry `slow`
BACKENDS_F32 = [b if b.values[0] in ("numpy", "cuda") else
                pytest.param(*b.values, marks=pytest.mark.slow) for b in BACKENDS]
#: every registered (backend, form) of the scalar family (the diagonal family has the same keys)
BACKEND_FORMS = [pytest.param(b.values[0], form, marks=b.marks, id=f"{b.values[0]}-{form}")
                 for b in BACKENDS for form in ssd_edu.FORMS
                 if f"{b.values[0]}.scalar.{form}" in ssd_edu.IMPLEMENTATIONS]
CHUNK = 3  # never a divisor of the sequence lengths below


@pytest.fixture(autouse=True)
def fast_simulator(request):
    """On the CUDA simulator, a short GIL switch interval (as tests/test_gpu.py: its block
    manager polls its threads, so the default 5 ms makes every barrier slow)."""
    cuda = "cuda" in request.node.name and gpu.simulator_enabled()
    old = sys.getswitchinterval()
    if cuda:
        sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


# ---------------------------------------------------------------- the tests' own formulas

def mamba_loop(x, dt, A, B, C, D=None, z=None, dt_bias=None, initial_states=None,
               dt_softplus=False, dt_limit=(0.0, INF)):
    """Mamba-2, one head and one step at a time, state (headdim, dstate), float64."""
    f64 = lambda arr: None if arr is None else np.asarray(arr, dtype=np.float64)
    x, dt, A, B, C, D, z, dt_bias, h0 = map(f64, (x, dt, A, B, C, D, z, dt_bias, initial_states))
    batch, T, H, P = x.shape
    G, N = B.shape[2:]
    out = np.zeros((batch, T, H, P))
    final = np.zeros((batch, H, P, N))
    for b in range(batch):
        for hd in range(H):
            g = hd * G // H                              # heads are split evenly over groups
            state = np.zeros((P, N)) if h0 is None else h0[b, hd].copy()
            for t in range(T):
                d = dt[b, t, hd] + (0.0 if dt_bias is None else dt_bias[hd])
                if dt_softplus and d <= 20.0:
                    d = math.log1p(math.exp(d))
                d = min(max(d, dt_limit[0]), dt_limit[1])
                state = math.exp(d * A[hd]) * state + d * np.outer(x[b, t, hd], B[b, t, g])
                y = state @ C[b, t, g]
                if D is not None:
                    y = y + D[hd] * x[b, t, hd]          # D[hd]: a number or a (P,) row
                if z is not None:
                    y = y * z[b, t, hd] / (1.0 + np.exp(-z[b, t, hd]))
                out[b, t, hd] = y
            final[b, hd] = state
    return out, final


def fla_loop(q, k, v, g, scale=None, initial_state=None):
    """fla's gated linear attention, one head and one step at a time, state (K, V), float64.
    g (batch, T, H): simple_gla; (batch, T, H, K): gla (one gate per key dimension)."""
    q, k, v, g = (np.asarray(arr, dtype=np.float64) for arr in (q, k, v, g))
    batch, T, H, K = q.shape
    V = v.shape[-1]
    scale = K ** -0.5 if scale is None else scale
    o = np.zeros((batch, T, H, V))
    final = np.zeros((batch, H, K, V))
    for b in range(batch):
        for hd in range(H):
            S = np.zeros((K, V)) if initial_state is None else np.array(initial_state[b, hd],
                                                                       dtype=np.float64)
            for t in range(T):
                gate = np.exp(g[b, t, hd])
                S = (gate[:, None] if gate.ndim else gate) * S + np.outer(k[b, t, hd], v[b, t, hd])
                o[b, t, hd] = (scale * q[b, t, hd]) @ S
            final[b, hd] = S
    return o, final


# ---------------------------------------------------------------- Mamba-2 cases

def mamba_case(name, dtype=np.float64, seed=0, batch=2, T=7, H=4, P=3, G=2, N=2):
    """Keyword arguments of chunk_scan_combined (without chunk_size) for one named case."""
    rng = np.random.default_rng(seed)
    if name == "one_group":
        G = 1
    if name == "group_per_head":
        G = H
    if name == "seqlen_1":
        T = 1
    if name == "square_state":
        N = P
    kw = dict(x=rng.standard_normal((batch, T, H, P)), dt=rng.uniform(0.05, 1.0, (batch, T, H)),
              A=-rng.uniform(0.2, 2.0, H), B=rng.standard_normal((batch, T, G, N)),
              C=rng.standard_normal((batch, T, G, N)))
    D_head, D_chan = rng.standard_normal(H), rng.standard_normal((H, P))
    z = rng.standard_normal((batch, T, H, P))
    h0 = rng.standard_normal((batch, H, P, N))
    raw_dt = 2.0 * rng.standard_normal((batch, T, H))    # negative ones too
    extra = {
        "one_group": {}, "groups": {}, "group_per_head": {}, "seqlen_1": {"initial_states": h0},
        "D_per_head": {"D": D_head}, "D_per_channel": {"D": D_chan},
        "z_only": {"z": z}, "D_and_z": {"D": D_chan, "z": z},
        # a bias of 22 puts dt + dt_bias on both sides of softplus's threshold 20
        "dt_bias_softplus": {"dt": raw_dt, "dt_bias": np.array([0.0, 1.0, 22.0, -3.0])[:H],
                             "dt_softplus": True},
        "softplus_then_limit": {"dt": raw_dt, "dt_softplus": True, "dt_limit": (0.2, 0.6)},
        "limit_without_softplus": {"dt": raw_dt, "dt_limit": (0.1, 0.3)},
        "negative_dt_clamped_to_0": {"dt": raw_dt},    # the default (0, inf) still clamps
        "initial_states": {"initial_states": h0}, "square_state": {"initial_states": h0},
        "underflow": {},
        "everything": {"D": D_chan, "z": z, "dt": raw_dt, "dt_bias": rng.uniform(-1, 1, H),
                       "dt_softplus": True, "dt_limit": (0.01, 2.0), "initial_states": h0},
    }[name]
    kw.update(extra)
    if name == "underflow":
        # dt A = -800 at some steps: exp underflows to exactly 0 in float64 (and float32)
        kw["A"] = -np.ones(H)
        kw["dt"] = np.where(rng.random((batch, T, H)) < 0.3, 800.0, kw["dt"])
        kw["dt"][:, -1] = 800.0
        kw["initial_states"] = h0
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


MAMBA_CASES = ["one_group", "groups", "group_per_head", "seqlen_1", "D_per_head",
               "D_per_channel", "z_only", "D_and_z", "dt_bias_softplus", "softplus_then_limit",
               "limit_without_softplus", "negative_dt_clamped_to_0", "initial_states",
               "square_state", "underflow", "everything"]


def check_mamba(kw, backend="numpy", form="chunked", chunk_size=CHUNK, dtype=np.float64):
    """Run the bridge and compare out and final_states with mamba_loop; return the errors."""
    out, final = mamba2.chunk_scan_combined(**kw, chunk_size=chunk_size, backend=backend,
                                            form=form, return_final_states=True)
    out0, final0 = mamba_loop(**kw)
    assert out.dtype == final.dtype == np.dtype(dtype)
    return (assert_close("out", out0, out, dtype=dtype),
            assert_close("final_states", final0, final, dtype=dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", MAMBA_CASES)
def test_mamba2_matches_the_loop(case, backend):
    check_mamba(mamba_case(case), backend)


@pytest.mark.parametrize("backend, form", BACKEND_FORMS)
def test_mamba2_every_form(form, backend):
    check_mamba(mamba_case("everything", seed=1), backend, form)


@pytest.mark.parametrize("backend", BACKENDS_F32)
def test_mamba2_float32(backend):
    check_mamba(mamba_case("everything", np.float32, seed=2), backend, dtype=np.float32)


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 7, 64])
def test_mamba2_any_chunk_size(chunk_size):
    check_mamba(mamba_case("everything", seed=3, T=7), chunk_size=chunk_size)


def test_mamba2_underflow_is_exact():
    kw = mamba_case("underflow")
    ssd = mamba2.to_ssd(kw["x"], kw["dt"], kw["A"], kw["B"], kw["C"],
                        initial_states=kw["initial_states"])
    assert np.count_nonzero(ssd["a"] == 0.0) > 0          # the decay is exactly 0 there
    out, final = mamba2.chunk_scan_combined(**kw, chunk_size=CHUNK, return_final_states=True)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(final))
    # the last step has a zero decay: the final state is its input term alone, nothing of the past
    batch, T, H, P = kw["x"].shape
    for b in range(batch):
        for hd in range(H):
            g = hd * kw["B"].shape[2] // H
            np.testing.assert_allclose(final[b, hd], np.outer(800.0 * kw["x"][b, -1, hd],
                                                              kw["B"][b, -1, g]), rtol=1e-15)
    check_mamba(kw)


def test_mamba2_returns_out_alone_by_default():
    """The default call (no final states) computes the same out: skip, gate, initial states."""
    kw = mamba_case("everything")
    out = mamba2.chunk_scan_combined(**kw, chunk_size=CHUNK)
    assert isinstance(out, np.ndarray) and out.shape == kw["x"].shape
    assert_close("out", mamba_loop(**kw)[0], out)


def test_mamba2_form_of_another_backend_is_named():
    kw = mamba_case("groups")
    with pytest.raises(ValueError, match="form 'associative_scan' is not registered for backend "
                                         "'numba'"):
        mamba2.chunk_scan_combined(**kw, chunk_size=CHUNK, backend="numba", form="associative_scan")


def test_to_ssd_is_the_crosswalk():
    """to_ssd's arrays, entry by entry: x -> dt x, a = exp(dt A), head h reads its group, h0^T."""
    kw = mamba_case("everything", seed=4)
    ssd = mamba2.to_ssd(kw["x"], kw["dt"], kw["A"], kw["B"], kw["C"],
                        initial_states=kw["initial_states"], dt_bias=kw["dt_bias"],
                        dt_softplus=True, dt_limit=kw["dt_limit"])
    batch, T, H, P = kw["x"].shape
    G = kw["B"].shape[2]
    for b in range(batch):
        for hd in range(H):
            g = hd * G // H
            for t in range(T):
                d = min(max(math.log1p(math.exp(kw["dt"][b, t, hd] + kw["dt_bias"][hd])),
                            kw["dt_limit"][0]), kw["dt_limit"][1])
                assert ssd["a"][b, hd, t] == pytest.approx(math.exp(d * kw["A"][hd]), rel=1e-14)
                np.testing.assert_allclose(ssd["x"][b, hd, t], d * kw["x"][b, t, hd], rtol=1e-14)
                np.testing.assert_array_equal(ssd["B"][b, hd, t], kw["B"][b, t, g])
                np.testing.assert_array_equal(ssd["C"][b, hd, t], kw["C"][b, t, g])
            np.testing.assert_array_equal(ssd["initial_state"][b, hd],
                                          kw["initial_states"][b, hd].T)


def test_to_ssd_then_any_form_then_from_ssd_is_the_layer():
    kw = mamba_case("everything", seed=5)
    ssd = mamba2.to_ssd(kw["x"], kw["dt"], kw["A"], kw["B"], kw["C"],
                        initial_states=kw["initial_states"], dt_bias=kw["dt_bias"],
                        dt_softplus=True, dt_limit=kw["dt_limit"])
    y, h = ssd_edu.oracle("scalar")(**ssd)
    out, final = mamba2.from_ssd(y, h, x=kw["x"], D=kw["D"], z=kw["z"])
    out0, final0 = mamba_loop(**kw)
    assert_close("out", out0, out)
    assert_close("final_states", final0, final)


def test_mamba2_inputs_are_not_modified():
    kw = mamba_case("everything", seed=6)
    before = {k: v.copy() for k, v in kw.items() if isinstance(v, np.ndarray)}
    mamba2.chunk_scan_combined(**kw, chunk_size=CHUNK, return_final_states=True)
    for k, v in before.items():
        np.testing.assert_array_equal(kw[k], v, err_msg=k)


def test_the_bridges_call_the_registered_forms(monkeypatch):
    """The bridges run IMPLEMENTATIONS[...]: a spy put in the registry sees the call."""
    calls = []
    for key in ("numpy.scalar.attention", "numpy.diagonal.scan"):
        real = ssd_edu.IMPLEMENTATIONS[key]
        spy = lambda *a, _real=real, _key=key, **k: calls.append(_key) or _real(*a, **k)
        monkeypatch.setitem(ssd_edu.IMPLEMENTATIONS, key, spy)
    kw = mamba_case("everything", seed=7)
    check_mamba(kw, form="attention")
    q, k, v, gk, _ = fla_case("gla")
    fla.gla(q, k, v, gk, form="scan")
    assert calls == ["numpy.scalar.attention", "numpy.diagonal.scan"]


# (case, what to break, how) -- each a plausible misreading of Mamba-2's conventions
def _wrong_to_ssd(how):
    real = mamba2._to_ssd

    def wrong(v, dt_softplus, dt_limit):
        ssd = real(v, dt_softplus, dt_limit)
        H, G = v.nheads, v.ngroups
        if how == "input not times dt":
            ssd["x"] = _forms.heads_first(v.x)
        elif how == "decay exp(A), no dt":
            ssd["a"] = np.broadcast_to(np.exp(v.A)[:, None], ssd["a"].shape)
        elif how == "head h reads group h % ngroups":
            ssd["B"] = _forms.heads_first(v.B[:, :, np.arange(H) % G])
            ssd["C"] = _forms.heads_first(v.C[:, :, np.arange(H) % G])
        elif how == "B and C swapped":
            ssd["B"], ssd["C"] = ssd["C"], ssd["B"]
        elif how == "initial state not transposed":
            ssd["initial_state"] = v.initial_states
        return ssd
    return wrong


def _wrong_from_ssd(how):
    def wrong(y, final_state, x, D, z):
        out = _forms.time_first(y)
        Dx = 0.0 if D is None else (D[:, None] if D.ndim == 1 else D) * x
        silu = z / (1.0 + np.exp(-z)) if z is not None else 1.0
        h = np.swapaxes(final_state, -1, -2)
        if how == "D added after the gate":
            return out * silu + Dx, h
        if how == "gate is sigmoid(z), not silu(z)":
            return (out + Dx) * (silu / z if z is not None else 1.0), h
        if how == "final state not transposed":
            return (out + Dx) * silu, final_state
        raise AssertionError(how)
    return wrong


def _clamp_before_softplus(dt, dt_bias=None, dt_softplus=False, dt_limit=(0.0, INF)):
    dt = np.clip(dt + (0.0 if dt_bias is None else dt_bias), *dt_limit)
    return mamba2.softplus(dt) if dt_softplus else dt


def _no_clamp_by_default(dt, dt_bias=None, dt_softplus=False, dt_limit=(0.0, INF)):
    dt = dt + (0.0 if dt_bias is None else dt_bias)
    dt = mamba2.softplus(dt) if dt_softplus else dt
    return dt if tuple(dt_limit) == (0.0, INF) else np.clip(dt, *dt_limit)


PLANTED_MAMBA = [
    ("everything", "_to_ssd", _wrong_to_ssd("input not times dt")),
    ("everything", "_to_ssd", _wrong_to_ssd("decay exp(A), no dt")),
    ("groups", "_to_ssd", _wrong_to_ssd("head h reads group h % ngroups")),
    ("one_group", "_to_ssd", _wrong_to_ssd("B and C swapped")),
    ("square_state", "_to_ssd", _wrong_to_ssd("initial state not transposed")),
    ("D_and_z", "_from_ssd", _wrong_from_ssd("D added after the gate")),
    ("z_only", "_from_ssd", _wrong_from_ssd("gate is sigmoid(z), not silu(z)")),
    ("initial_states", "_from_ssd", _wrong_from_ssd("final state not transposed")),
    ("softplus_then_limit", "step_sizes", _clamp_before_softplus),
    ("negative_dt_clamped_to_0", "step_sizes", _no_clamp_by_default),
    ("dt_bias_softplus", "softplus", lambda u: np.logaddexp(0.0, u)),   # no threshold at 20
    ("dt_bias_softplus", "softplus", lambda u: np.maximum(u, 0.0)),     # relu
]


@pytest.mark.parametrize("case, target, wrong", PLANTED_MAMBA,
                         ids=[f"{c}-{t}-{i}" for i, (c, t, _) in enumerate(PLANTED_MAMBA)])
def test_planted_mamba_defects_are_caught(case, target, wrong, monkeypatch):
    kw = mamba_case(case)
    check_mamba(kw)                                        # the real bridge passes ...
    monkeypatch.setattr(mamba2, target, wrong)
    with pytest.raises(AssertionError):                    # ... the misreading does not
        check_mamba(kw)


def test_planted_wrong_registered_form_is_caught(monkeypatch):
    """A wrong form in the registry (the shifted recurrence h_t = a_t h_{t-1} + B_{t-1} x_{t-1}^T
    would be a plausible one; here: the first step's input dropped) shows up in the comparison."""
    real = ssd_edu.IMPLEMENTATIONS["numpy.scalar.chunked"]

    def dropped_first_input(x, a, B, C, chunk_size=64, initial_state=None):
        x = x.copy()
        x[..., 0, :] = 0.0
        return real(x, a, B, C, chunk_size=chunk_size, initial_state=initial_state)
    monkeypatch.setitem(ssd_edu.IMPLEMENTATIONS, "numpy.scalar.chunked", dropped_first_input)
    with pytest.raises(AssertionError):
        check_mamba(mamba_case("everything"))


def _bad(kw, **change):
    kw = dict(kw)
    kw.update(change)
    return kw


BAD_MAMBA = [
    ("ngroups does not divide nheads", dict(B="groups3", C="groups3"), ValueError,
     "B has shape (2, 7, 3, 2): nheads = 4 (from x) must be a multiple of ngroups = 3"),
    ("dt of the wrong shape", dict(dt="dt_PH"), ValueError,
     "dt has shape (2, 7, 4, 1); expected (batch, seqlen, nheads) = (2, 7, 4)"),
    ("A per time", dict(A="A_T"), ValueError, "A has shape (7,); expected (nheads,) = (4,)"),
    ("C unlike B", dict(C="C_N3"), ValueError, "C has shape (2, 7, 2, 3)"),
    ("D of the wrong length", dict(D="D5"), ValueError, "D has shape (5,)"),
    ("z unlike x", dict(z="z_short"), ValueError, "z has shape (2, 6, 4, 3)"),
    ("dt_bias per time", dict(dt_bias="bias_T"), ValueError, "dt_bias has shape (7,)"),
    ("initial_states in (N, P)", dict(initial_states="h0_NP"), ValueError,
     "initial_states has shape (2, 4, 2, 3); expected (batch, nheads, headdim, dstate)"),
    ("x without heads", dict(x="x3"), ValueError, "x has shape (2, 7, 12)"),
    ("B of the wrong length", dict(B="B_T6"), ValueError, "B has shape (2, 6, 2, 2)"),
    ("NaN in dt", dict(dt="dt_nan"), ValueError, "dt has 1 non-finite entries"),
    ("float16 x", dict(x="x16"), TypeError, "x has dtype float16"),
    ("chunk_size 0", dict(chunk_size=0), ValueError, "chunk_size must be an integer >= 1"),
    ("dt_limit upside down", dict(dt_limit=(1.0, 0.0)), ValueError, "dt_limit must be"),
    ("dt_softplus not a flag", dict(dt_softplus="yes"), TypeError, "dt_softplus must be"),
    ("unknown backend", dict(backend="tpu"), ValueError, "backend must be one of"),
    ("unknown form", dict(form="kernel"), ValueError, "form must be one of"),
    ("growing decay overflows", dict(A="A_pos", dt="dt_big"), ValueError, "exp(dt * A)"),
    ("return_final_states not a flag", dict(return_final_states="yes"), TypeError,
     "return_final_states must be"),
    ("dstate 0", dict(B="B_N0", C="B_N0"), ValueError, "dstate (B: (2, 7, 2, 0))"),
    ("headdim 0", dict(x="x_P0"), ValueError, "headdim (x: (2, 7, 4, 0))"),
]


@pytest.mark.parametrize("what, change, error, message", BAD_MAMBA,
                         ids=[b[0] for b in BAD_MAMBA])
def test_mamba2_bad_input_names_the_argument(what, change, error, message):
    kw = mamba_case("everything")
    kw.update(chunk_size=CHUNK)
    rng = np.random.default_rng(0)
    made = {"groups3": rng.standard_normal((2, 7, 3, 2)), "dt_PH": np.ones((2, 7, 4, 1)),
            "A_T": -np.ones(7), "C_N3": np.ones((2, 7, 2, 3)), "D5": np.ones(5),
            "z_short": np.ones((2, 6, 4, 3)), "bias_T": np.ones(7), "h0_NP": np.ones((2, 4, 2, 3)),
            "x3": np.ones((2, 7, 12)), "B_T6": np.ones((2, 6, 2, 2)),
            "dt_nan": np.where(np.arange(56).reshape(2, 7, 4) == 5, np.nan, 1.0),
            "x16": kw["x"].astype(np.float16), "A_pos": np.full(4, 10.0),
            "dt_big": np.full((2, 7, 4), 100.0), "B_N0": np.ones((2, 7, 2, 0)),
            "x_P0": np.ones((2, 7, 4, 0))}
    kw.update({k: made.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
    if "dt_big" in change.values():
        kw.update(dt_softplus=False, dt_limit=(0.0, INF))
    with pytest.raises(error) as exc:
        mamba2.chunk_scan_combined(**kw)
    assert message in str(exc.value), str(exc.value)


def test_from_ssd_needs_x_for_the_skip():
    y, h = np.zeros((1, 2, 3, 4)), np.zeros((1, 2, 5, 4))
    with pytest.raises(TypeError, match="x is None"):
        mamba2.from_ssd(y, h, D=np.ones(2))
    with pytest.raises(ValueError, match="D has shape"):
        mamba2.from_ssd(y, h, x=np.zeros((1, 3, 2, 4)), D=np.ones(3))
    out, final = mamba2.from_ssd(y, h)
    assert out.shape == (1, 3, 2, 4) and final.shape == (1, 2, 4, 5)


# ---------------------------------------------------------------- fla

def fla_case(kind, dtype=np.float64, seed=0, batch=2, T=7, H=3, K=2, V=3, underflow=False):
    """(q, k, v, g or gk, initial_state) for simple_gla (kind "simple") or gla (kind "gla")."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, batch, T, H, K))
    v = rng.standard_normal((batch, T, H, V))
    gshape = (batch, T, H) if kind == "simple" else (batch, T, H, K)
    g = np.log(rng.uniform(0.3, 1.0, gshape))           # log-decays, as logsigmoid gives
    if underflow:
        g = np.where(rng.random(gshape) < 0.3, -800.0, g)  # exp(-800) == 0.0 exactly
    h0 = rng.standard_normal((batch, H, K, V))
    return tuple(arr.astype(dtype) for arr in (q, k, v, g, h0))


def check_fla(kind, arrays, backend="numpy", form="chunked", scale=None, chunk_size=CHUNK,
              dtype=np.float64, use_initial_state=True):
    q, k, v, g, h0 = arrays
    h0 = h0 if use_initial_state else None
    fn = fla.simple_gla if kind == "simple" else fla.gla
    o, S = fn(q, k, v, g, scale=scale, initial_state=h0, output_final_state=True,
              backend=backend, form=form, chunk_size=chunk_size)
    o0, S0 = fla_loop(q, k, v, g, scale=scale, initial_state=h0)
    assert o.dtype == S.dtype == np.dtype(dtype)
    return assert_close("o", o0, o, dtype=dtype), assert_close("final_state", S0, S, dtype=dtype)


FLA_CASES = {
    "plain": dict(), "no_initial_state": dict(use_initial_state=False), "scale_1": dict(scale=1.0),
    "chunk_larger_than_T": dict(chunk_size=64), "chunk_1": dict(chunk_size=1),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(FLA_CASES))
@pytest.mark.parametrize("kind", ["simple", "gla"])
def test_fla_matches_the_loop(kind, case, backend):
    check_fla(kind, fla_case(kind), backend, **FLA_CASES[case])


@pytest.mark.parametrize("backend, form", BACKEND_FORMS)
@pytest.mark.parametrize("kind", ["simple", "gla"])
def test_fla_every_form_with_an_underflowing_gate(kind, form, backend):
    arrays = fla_case(kind, seed=1, underflow=True)
    assert np.count_nonzero(np.exp(arrays[3]) == 0.0) > 0
    check_fla(kind, arrays, backend, form)


@pytest.mark.parametrize("backend", BACKENDS_F32)
@pytest.mark.parametrize("kind", ["simple", "gla"])
def test_fla_float32(kind, backend):
    check_fla(kind, fla_case(kind, np.float32, seed=2), backend, dtype=np.float32)


@pytest.mark.parametrize("kind", ["simple", "gla"])
def test_fla_no_final_state_unless_asked(kind):
    """Without output_final_state the state is None, and o still starts from initial_state."""
    q, k, v, g, h0 = fla_case(kind)
    o, S = (fla.simple_gla if kind == "simple" else fla.gla)(q, k, v, g, initial_state=h0)
    assert S is None and o.shape == v.shape
    assert_close("o", fla_loop(q, k, v, g, initial_state=h0)[0], o)


@pytest.mark.parametrize("kind", ["simple", "gla"])
def test_fla_minus_inf_gate_is_a_zero_decay(kind):
    """A log-gate of -inf is exp(-inf) = 0 exactly, as a very negative one; NaN and +inf are not."""
    q, k, v, g, h0 = fla_case(kind, seed=5)
    g = np.where(np.random.default_rng(5).random(g.shape) < 0.3, -INF, g)
    check_fla(kind, (q, k, v, g, h0))
    fn = fla.simple_gla if kind == "simple" else fla.gla
    name = "g" if kind == "simple" else "gk"
    for bad in (np.nan, INF):
        g_bad = g.copy()
        g_bad.flat[3] = bad
        with pytest.raises(ValueError, match=f"{name} has 1 entries that are NaN or \\+inf"):
            fn(q, k, v, g_bad)


def test_fla_scale_as_a_0d_array():
    q, k, v, g, h0 = fla_case("simple", seed=6)
    o, _ = fla.simple_gla(q, k, v, g, scale=np.array(0.3), initial_state=h0)
    assert_close("o", fla_loop(q, k, v, g, scale=0.3, initial_state=h0)[0], o)
    ssd = fla.to_ssd(q, k, v, g, scale=0.3)
    np.testing.assert_allclose(ssd["C"], 0.3 * np.moveaxis(q, 2, 1), rtol=1e-15)


def test_torch_tensors_are_named():
    torch = pytest.importorskip("torch")
    kw = mamba_case("groups")
    x = torch.tensor(kw["x"], requires_grad=True)
    with pytest.raises(TypeError, match=r"x \(Tensor\) cannot be read as a NumPy array"):
        mamba2.chunk_scan_combined(**dict(kw, x=x), chunk_size=CHUNK)
    q, k, v, g, h0 = fla_case("simple")
    with pytest.raises(TypeError, match=r"q \(Tensor\) cannot be read"):
        fla.simple_gla(torch.tensor(q).to(torch.bfloat16), k, v, g)


def test_fla_to_ssd_is_the_crosswalk():
    q, k, v, gk, h0 = fla_case("gla", seed=3)
    ssd = fla.to_ssd(q, k, v, gk, initial_state=h0)
    K = q.shape[-1]
    np.testing.assert_array_equal(ssd["x"], np.moveaxis(v, 2, 1))
    np.testing.assert_array_equal(ssd["B"], np.moveaxis(k, 2, 1))
    np.testing.assert_allclose(ssd["C"], np.moveaxis(q, 2, 1) / math.sqrt(K), rtol=1e-15)
    np.testing.assert_array_equal(ssd["a"], np.exp(np.moveaxis(gk, 2, 1)))
    np.testing.assert_array_equal(ssd["initial_state"], h0)     # (K, V) = (N, P): no transpose
    y, h = ssd_edu.oracle("diagonal")(**ssd)
    o, S = fla.from_ssd(y, h)
    o0, S0 = fla_loop(q, k, v, gk, initial_state=h0)
    assert_close("o", o0, o)
    assert_close("final_state", S0, S)


def _fla_wrong_to_ssd(how):
    real = fla._to_ssd

    def wrong(q, k, v, g, h0, scale, g_name):
        ssd = real(q, k, v, g, h0, scale, g_name)
        if how == "gate used as the decay (no exp)":
            ssd["a"] = _forms.heads_first(g)
        elif how == "q and k swapped":
            ssd["B"], ssd["C"] = _forms.heads_first(scale * q), _forms.heads_first(k)
        elif how == "state taken as (V, K)":
            ssd["initial_state"] = np.swapaxes(h0, -1, -2)
        return ssd
    return wrong


PLANTED_FLA = [
    ("simple", "_to_ssd", _fla_wrong_to_ssd("gate used as the decay (no exp)"), {}),
    ("gla", "_to_ssd", _fla_wrong_to_ssd("q and k swapped"), {}),
    ("gla", "_to_ssd", _fla_wrong_to_ssd("state taken as (V, K)"), dict(V=2)),
    ("simple", "check_scale", lambda scale, K: K ** 0.5 if scale is None else scale, {}),
    ("gla", "check_scale", lambda scale, K: 1.0 if scale is None else scale, {}),
]


@pytest.mark.parametrize("kind, target, wrong, size", PLANTED_FLA,
                         ids=[f"{k}-{t}-{i}" for i, (k, t, _, _) in enumerate(PLANTED_FLA)])
def test_planted_fla_defects_are_caught(kind, target, wrong, size, monkeypatch):
    arrays = fla_case(kind, **size)
    check_fla(kind, arrays)
    monkeypatch.setattr(fla, target, wrong)
    with pytest.raises(AssertionError):
        check_fla(kind, arrays)


BAD_FLA = [
    ("simple", "g per key dimension", dict(g="g4"), ValueError, "g has shape (2, 7, 3, 2); "
     "expected (batch, T, H) = (2, 7, 3)"),
    ("gla", "gk per head", dict(g="g3"), ValueError, "gk has shape (2, 7, 3); "
     "expected (batch, T, H, K) = (2, 7, 3, 2)"),
    ("simple", "v of another length", dict(v="v_T6"), ValueError, "v has shape (2, 6, 3, 3)"),
    ("gla", "k unlike q", dict(k="k_K3"), ValueError, "k has shape (2, 7, 3, 3)"),
    ("simple", "state as (V, K)", dict(h0="h0_VK"), ValueError,
     "initial_state has shape (2, 3, 3, 2); expected (batch, H, K, V) = (2, 3, 2, 3)"),
    ("gla", "NaN scale", dict(scale=math.nan), ValueError, "scale must be finite"),
    ("simple", "gate overflows", dict(g="g_big"), ValueError, "g has entries whose exp overflows"),
    ("gla", "unknown backend", dict(backend="tpu"), ValueError, "backend must be one of"),
    # gla takes one shape of gate only, and says which
    ("gla", "gk of another K", dict(g="g_K5"), ValueError, "gk has shape (2, 7, 3, 5); expected "
     "(batch, T, H, K) = (2, 7, 3, 2) (a log-decay per key dimension), from q"),
    ("simple", "output_final_state not a flag", dict(output_final_state="yes"), TypeError,
     "output_final_state must be True or False"),
    ("simple", "K = 0", dict(q="q_K0", k="q_K0", g="g0"), ValueError, "K (q: (2, 7, 3, 0))"),
    ("gla", "V = 0", dict(v="v_V0"), ValueError, "V (v: (2, 7, 3, 0)) must be >= 1"),
]


@pytest.mark.parametrize("kind, what, change, error, message", BAD_FLA,
                         ids=[b[1] for b in BAD_FLA])
def test_fla_bad_input_names_the_argument(kind, what, change, error, message):
    q, k, v, g, h0 = fla_case(kind)
    made = {"g4": np.zeros((2, 7, 3, 2)), "g3": np.zeros((2, 7, 3)), "v_T6": np.ones((2, 6, 3, 3)),
            "k_K3": np.ones((2, 7, 3, 3)), "h0_VK": np.ones((2, 3, 3, 2)),
            "g_big": np.full((2, 7, 3), 1000.0), "g_K5": np.zeros((2, 7, 3, 5)),
            "q_K0": np.ones((2, 7, 3, 0)), "g0": np.zeros((2, 7, 3)), "v_V0": np.ones((2, 7, 3, 0))}
    args = dict(q=q, k=k, v=v, g=g, h0=h0, scale=None, backend="numpy", output_final_state=False)
    args.update({key: made.get(val, val) if isinstance(val, str) else val
                 for key, val in change.items()})
    fn = fla.simple_gla if kind == "simple" else fla.gla
    with pytest.raises(error) as exc:
        fn(args["q"], args["k"], args["v"], args["g"], scale=args["scale"],
           initial_state=args["h0"], backend=args["backend"],
           output_final_state=args["output_final_state"])
    assert message in str(exc.value), str(exc.value)
