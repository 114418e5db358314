"""Test data with named decay regimes, the tolerance table, ``assert_close`` and the harness that
checks any registered implementation (docs/theory.md#checks, #precision, #exact-data).
"""
from __future__ import annotations

import numpy as np

from .registry import IMPLEMENTATIONS, MISSING_BACKENDS, VJPS, oracle

#: Decay regimes of :func:`make_inputs` (docs/theory.md#checks, "hard decays").
REGIMES = ("random", "zero", "negative", "near_one", "strong", "mixed", "complex", "dyadic")

#: Max-norm relative tolerance against the float64 oracle, per computation dtype
#: (docs/theory.md#precision: tau64 = 1e-12 across forms, tau32 = 2e-5 against the oracle).
TOLERANCES = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5,
              np.dtype(np.complex128): 1e-12, np.dtype(np.complex64): 2e-5}


#: Gradients (ssd_edu.testing.check_vjp): a VJP against central finite differences of the
#: float64 oracle, and the VJPs of the forms of one family against each other (float64).
GRADIENT_TOLERANCES = {"finite_differences": 1e-6, "across_forms": 1e-10}


def tolerance(dtype) -> float:
    """The tolerance of :data:`TOLERANCES` for ``dtype``."""
    return TOLERANCES[np.dtype(dtype)]


def _decays(rng, regime: str, shape: tuple) -> np.ndarray:
    """Decays of ``shape`` (..., T[, N]) for one regime; the time axis is shape[-1] or [-2]."""
    if regime == "random":
        return rng.uniform(0.5, 1.0, shape)
    if regime == "zero":
        # about 15 % exact zeros (make_inputs adds zeros at t = 0, 1, T // 2 and T - 1)
        a = rng.uniform(0.5, 1.0, shape)
        a[rng.random(shape) < 0.15] = 0.0
        return a
    if regime == "negative":
        return rng.uniform(0.5, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    if regime == "near_one":
        a = 1.0 - rng.uniform(0.0, 1e-4, shape)
        a[rng.random(shape) < 0.3] = 1.0
        return a
    if regime == "strong":
        a = rng.uniform(1e-3, 0.1, shape)
        a[rng.random(shape) < 0.1] = 1e-300
        return a
    if regime == "mixed":
        return rng.choice(np.array([0.0, 1.0, -0.7, 1e-300, 0.9999, 0.5, -1.0]), shape)
    if regime == "complex":
        radius = rng.uniform(0.5, 1.0, shape)
        return radius * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
    if regime == "dyadic":
        return rng.choice(np.array([0.0, 1.0, -1.0, 0.5, -0.5, 0.25, -0.25]), shape)
    raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")


def make_inputs(family: str, T: int, N: int, P: int, batch: tuple = (), *,
                regime: str = "random", dtype=np.float64, seed: int = 0,
                initial_state: bool = True) -> dict:
    """Random SSM inputs {x, a (A for "general"), B, C, initial_state} with leading ``batch``.

    a: (*batch, T) scalar, (*batch, T, N) diagonal; A (*batch, T, N, N) general (diagonal plus a
    small full part). Values N(0, 1); regime "dyadic": integers in [-4, 4] and decays in
    {0, +-1, +-1/2, +-1/4}, exact for T <= 8; "complex" (diagonal only): complex a, B, C, state.
    """
    if family not in ("scalar", "diagonal", "general"):
        raise ValueError(f"family must be 'scalar', 'diagonal' or 'general', got {family!r}")
    if regime == "complex" and family != "diagonal":
        raise ValueError("regime 'complex' is for the diagonal family only")
    batch = tuple(batch)
    for name, size in (("T", T), ("N", N), ("P", P), *((f"batch[{i}]", s)
                                                       for i, s in enumerate(batch))):
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"{name} must be an integer >= 0, got {size!r}")
        if size < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {size!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64 (the dtypes every form takes), got "
                        f"{dtype}")
    rng = np.random.default_rng(seed)

    def normal(*shape):
        if regime == "dyadic":
            return rng.integers(-4, 5, shape).astype(np.float64)
        out = rng.standard_normal(shape)
        if regime == "complex":
            out = out + 1j * rng.standard_normal(shape)
        return out

    a = _decays(rng, regime, (*batch, T) if family == "scalar" else (*batch, T, N))
    if regime == "zero" and T > 0:
        forced = sorted({0, min(1, T - 1), T // 2, T - 1})
        if family == "scalar":
            a[..., forced] = 0.0
        else:
            a[..., forced, 0] = 0.0  # mode 0 only, so the other modes carry state across
    if family == "general":
        # A_t = diag(a_t) + a small full part: a genuinely non-diagonal state matrix
        a = np.einsum("...tn,nm->...tnm", a, np.eye(N)) + 0.1 * rng.standard_normal(
            (*batch, T, N, N)) / max(N, 1)
    x = rng.standard_normal((*batch, T, P)) if regime != "dyadic" else normal(*batch, T, P)
    out = {"x": x, "A" if family == "general" else "a": a,
           "B": normal(*batch, T, N), "C": normal(*batch, T, N),
           "initial_state": normal(*batch, N, P) if initial_state else None}
    cdtype = np.result_type(dtype, np.complex64)
    return {k: None if v is None else v.astype(cdtype if np.iscomplexobj(v) else dtype)
            for k, v in out.items()}


def as_float64(inputs: dict) -> dict:
    """The same inputs in double precision (complex128 for complex ones): the oracle's inputs."""
    return {k: None if v is None else v.astype(np.complex128 if np.iscomplexobj(v) else np.float64)
            for k, v in inputs.items()}


def error(expected, got) -> float:
    """``max|got - expected| / max(1, max|expected|)`` (docs/theory.md#checks); entries equal in
    both count 0 and any other non-finite difference makes it inf, never NaN."""
    expected, got = (_numeric(np.asarray(v)) for v in (expected, got))
    if expected.size == 0:
        return 0.0
    got, expected = np.broadcast_arrays(got.astype(np.result_type(got, expected)), expected)
    finite = np.isfinite(expected)
    scale = max(1.0, float(np.max(np.abs(expected), where=finite, initial=0.0)))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - expected)
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    diff = np.where(same, 0.0, diff)
    if not np.all(np.isfinite(diff)):
        return float("inf")
    return float(np.max(diff)) / scale


def _numeric(arr: np.ndarray) -> np.ndarray:
    """An object array (Python ints, Fractions, complex numbers) as float64 or complex128."""
    if arr.dtype != object:
        return arr
    try:
        return arr.astype(np.float64)
    except TypeError:
        return arr.astype(np.complex128)


def assert_close(name: str, expected, got, tol: float | None = None, dtype=None) -> float:
    """AssertionError naming ``name`` unless shapes match, no value is non-finite where the
    expected one is finite, and :func:`error` <= ``tol`` (default: :func:`tolerance` of
    ``dtype`` or of got's). Returns the error."""
    expected, got = np.asarray(expected), np.asarray(got)
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: shape {got.shape}, expected {expected.shape}")
    if tol is None:
        tol = tolerance(dtype if dtype is not None else got.dtype)
    bad = ~np.isfinite(got) & np.isfinite(expected)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{name}: {int(bad.sum())} non-finite values where the expected "
                             f"ones are finite, first at index {idx}")
    err = error(expected, got)
    if not err <= tol:
        diff = np.abs(got.astype(np.result_type(got, expected)) - expected)
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
        # relative RMS error ||got - expected||_2 / ||expected||_2
        rms = np.linalg.norm(diff) / (np.linalg.norm(expected) or 1.0)
        raise AssertionError(
            f"{name}: error {err:.3e} > tolerance {tol:.1e} (relative RMS {rms:.3e}); worst at "
            f"index {idx}: got {got[idx]!r}, expected {expected[idx]!r}")
    return err


# One harness for every registered implementation


def keys(backend: str | None = None, family: str | None = None, form: str | None = None) -> list:
    """Registered keys whose backend can run here, sorted, filtered by any part given."""
    want = (backend, family, form)
    found = [k for k in IMPLEMENTATIONS
             if all(w is None or w == part for w, part in zip(want, k.split(".")))]
    missing = {b for b in {k.split(".")[0] for k in found} if b in MISSING_BACKENDS}
    return sorted(k for k in found if k.split(".")[0] not in missing)


def call(key: str, inputs: dict, *, chunk_size: int | None = None, **override):
    """Call ``key`` on ``inputs`` (entries replaced by ``override``); ``chunk_size`` goes only to
    the forms that take one. Returns ``(y, h)``."""
    import inspect

    fn = IMPLEMENTATIONS[key]
    args = {**inputs, **override}
    kwargs = {}
    if chunk_size is not None and "chunk_size" in inspect.signature(fn).parameters:
        kwargs["chunk_size"] = chunk_size
    return fn(args["x"], args["a"], args["B"], args["C"], initial_state=args["initial_state"],
              **kwargs)


def check_against_oracle(key: str, inputs: dict, *, chunk_size: int | None = None,
                         label: str = "") -> float:
    """Assert ``key`` matches the float64 recurrence of its family on y and the final state, at
    the tolerance of the inputs' dtype, in that dtype. Returns the larger error."""
    y, h = call(key, inputs, chunk_size=chunk_size)
    y, h = np.asarray(y), np.asarray(h)
    y0, h0 = oracle(key.split(".")[1])(**as_float64(inputs))
    dtype = np.result_type(*[v for v in inputs.values() if v is not None])
    where = f"{key} {label}".strip()
    if y.dtype != dtype or h.dtype != dtype:
        raise AssertionError(f"{where}: returned y {y.dtype}, h {h.dtype}; expected {dtype}")
    return max(assert_close(f"{where} y", y0, y, dtype=dtype),
               assert_close(f"{where} final state", h0, h, dtype=dtype))


def finite_difference_grads(family: str, inputs: dict, dy, dh, eps: float = 1e-6, *,
                            method: str = "central") -> dict:
    """Finite differences of ``<dy, y> + <dh, h_{T-1}>`` of the float64 oracle: "central"
    (loss(+eps) - loss(-eps)) / (2 eps), or the "complex" step Im loss(i h) / h, h = 1e-30.
    Returns {"dx", "da", "dB", "dC"[, "dinitial_state"]}, each of its input's shape."""

    if method not in ("central", "complex"):
        raise ValueError(f"method must be 'central' or 'complex', got {method!r}")

    def loss(name, i, step):  # <dy, y> + <dh, h> with inputs[name][i] moved by step
        d = {**inputs, name: inputs[name].astype(complex if method == "complex" else float)}
        d[name][i] += step
        y, h = oracle(family)(d["x"], d["a"], d["B"], d["C"], initial_state=d["initial_state"])
        return np.sum(dy * y) + np.sum(dh * h)

    h = eps if method == "central" else 1e-30
    out = {}
    for name in ("x", "a", "B", "C", "initial_state"):
        if inputs[name] is None:
            continue
        grad = np.zeros(inputs[name].shape)
        for i in np.ndindex(grad.shape):
            if method == "central":
                # d loss / d input[i] = (loss(+eps) - loss(-eps)) / (2 eps)
                grad[i] = float(np.real(loss(name, i, h) - loss(name, i, -h))) / (2 * h)
            else:
                # d loss / d input[i] = Im loss(input + i h) / h
                grad[i] = float(np.imag(loss(name, i, 1j * h))) / h
        out["d" + name] = grad
    return out


def check_vjp(key: str, T: int = 5, N: int = 3, P: int = 3, batch: tuple = (2, 2), *,
              regime: str = "random", chunk_size: int = 2, initial_state: bool = True,
              broadcast: bool = True, seed: int = 0, vjp=None, tol: float | None = None) -> dict:
    """Check ``VJPS[key]`` (or ``vjp``) against finite differences in float64: shape, dtype, no
    input modified, zeros for no initial state, error <= ``tol`` for each gradient. With
    ``broadcast`` (two batch axes or more) B, C and the state are broadcast, so their gradients
    must be summed back. Returns {gradient: error}."""

    family, form = key.split(".")[1], key.split(".")[2]
    fn = VJPS[key] if vjp is None else vjp
    tol = GRADIENT_TOLERANCES["finite_differences"] if tol is None else tol
    d = make_inputs(family, T, N, P, batch, regime=regime, seed=seed,
                    initial_state=initial_state)
    if broadcast and len(batch) >= 2:
        d["B"], d["C"] = d["B"][..., :1, :, :], d["C"][..., :1, :, :]
        if initial_state:
            d["initial_state"] = d["initial_state"][0]
    rng = np.random.default_rng(seed + 1)
    dy = rng.standard_normal((*batch, T, P))
    dh = rng.standard_normal((*batch, N, P))
    kwargs = dict(chunk_size=chunk_size) if form == "chunked" else {}
    before = {k: None if v is None else v.copy() for k, v in d.items()}
    g = fn(d["x"], d["a"], d["B"], d["C"], dy, dh, initial_state=d["initial_state"], **kwargs)
    for k, v in d.items():
        if v is not None and not np.array_equal(v, before[k]):
            raise AssertionError(f"{key}: the VJP modified its input {k}")
    fd = finite_difference_grads(family, d, dy, dh)
    if not initial_state:
        assert_close(f"{key} dinitial_state (no initial state: zeros)",
                     np.zeros((*batch, N, P)), g.dinitial_state, tol=0.0)
    errors = {}
    for name, expected in fd.items():
        got = np.asarray(getattr(g, name))
        if got.dtype != np.float64:
            raise AssertionError(f"{key} {name}: dtype {got.dtype}, expected float64")
        errors[name] = assert_close(f"{key} {name} (regime {regime!r}, T = {T})", expected,
                                    got, tol=tol)
    return errors
