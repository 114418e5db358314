"""From a Mamba-2 layer to SSD: ``mamba_chunk_scan_combined``'s conventions on NumPy arrays.

Mamba-2's SSD call takes the *continuous* parameters of every head and discretizes them::

    x  (batch, seqlen, nheads, headdim)     dt (batch, seqlen, nheads)     A (nheads,)
    B, C (batch, seqlen, ngroups, dstate)   D (nheads,) | (nheads, headdim)
    z  (batch, seqlen, nheads, headdim)     dt_bias (nheads,)
    initial_states / final states (batch, nheads, headdim, dstate)

    dt_t  = clamp(softplus(dt_t + dt_bias), *dt_limit)        softplus only when dt_softplus
    h_t   = exp(dt_t A_h) h_{t-1} + x_t (dt_t B_t)^T          state (headdim, dstate) = (P, N)
    y_t   = h_t C_t + D_h x_t,    out_t = y_t * silu(z_t)     silu(z) = z sigmoid(z)

Head h reads group g = h // (nheads // ngroups) of B and C. This is the package's scalar family
(A_t = a_t I), one SSM per head, once the arrays are mapped (:func:`to_ssd`):

==================  ================================  =====================================
ssd_edu             Mamba-2                           mapping
==================  ================================  =====================================
x (..., T, P)       x (batch, seqlen, nheads, P)      x <- dt_t x_t, heads moved before time
a (..., T)          dt, A                             a_t = exp(dt_t A_h) (zero-order decay)
B (..., T, N)       B (batch, seqlen, ngroups, N)     B <- B of head h's group (the "key")
C (..., T, N)       C (batch, seqlen, ngroups, N)     C <- C of head h's group (the "query")
N, P                dstate, headdim                   N = dstate, P = headdim
h (..., N, P)       states (..., headdim, dstate)     transposed: h = states^T
(none)              D, z                              added outside SSD (:func:`from_ssd`)
==================  ================================  =====================================

Everything else the package computes with its registered forms, so every backend and every form
answers a Mamba-2 call: ``chunk_scan_combined(..., backend="numba", form="attention")``.

Conventions checked against Mamba-2's own source (state-spaces/mamba, ``ssd_combined.py``,
``ssd_chunk_state.py``, ``ssd_chunk_scan.py``, ``ssd_minimal.py``): the bias is added before the
softplus, the clamp to ``dt_limit`` comes after it and is always applied (with the default
``(0, inf)`` a negative dt becomes 0), softplus is the identity above 20 (as torch's default),
the input enters as ``dt x``, the skip uses the raw ``x`` and is added *before* the gate.
Not covered: ``seq_idx`` / ``cu_seqlens`` (packed variable-length batches).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._keyword_only import keyword_only
from ..validation import as_array, common_dtype
from ._forms import check_chunk, expect_shape, heads_first, registered_form, run_form, time_first

#: Mamba-2's softplus is the identity above this input (torch's F.softplus threshold).
SOFTPLUS_THRESHOLD = 20.0


class MambaArrays(NamedTuple):
    """Validated Mamba-2 arguments in one dtype (views of the caller's arrays)."""

    x: np.ndarray                       # (batch, seqlen, nheads, headdim)
    dt: np.ndarray                      # (batch, seqlen, nheads)
    A: np.ndarray                       # (nheads,)
    B: np.ndarray                       # (batch, seqlen, ngroups, dstate)
    C: np.ndarray                       # (batch, seqlen, ngroups, dstate)
    D: np.ndarray | None                # (nheads,) or (nheads, headdim)
    z: np.ndarray | None                # (batch, seqlen, nheads, headdim)
    dt_bias: np.ndarray | None          # (nheads,)
    initial_states: np.ndarray | None   # (batch, nheads, headdim, dstate)
    nheads: int
    ngroups: int
    dtype: np.dtype


@keyword_only
def check_inputs(x, dt, A, B, C, D=None, z=None, dt_bias=None, *,
                 initial_states=None) -> MambaArrays:
    """Validate Mamba-2's arguments (shapes in the module docstring); errors name the argument."""
    given = dict(x=x, dt=dt, A=A, B=B, C=C, D=D, z=z, dt_bias=dt_bias,
                 initial_states=initial_states)
    arr = {k: None if val is None and k in ("D", "z", "dt_bias", "initial_states")
           else as_array(k, val) for k, val in given.items()}
    x, B = arr["x"], arr["B"]
    if x.ndim != 4:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (batch, seqlen, nheads, headdim)")
    batch, seqlen, nheads, headdim = x.shape
    if B.ndim != 4 or B.shape[:2] != (batch, seqlen):
        raise ValueError(f"B has shape {tuple(B.shape)}; expected (batch, seqlen, ngroups, dstate)"
                         f" with (batch, seqlen) = {(batch, seqlen)} (as in x)")
    ngroups, dstate = B.shape[2:]
    if ngroups < 1 or nheads % ngroups:
        raise ValueError(f"B has shape {tuple(B.shape)}: nheads = {nheads} (from x) must be a "
                         f"multiple of ngroups = {ngroups}; head h reads group "
                         f"h // (nheads // ngroups)")
    if dstate < 1 or headdim < 1:
        raise ValueError(f"dstate (B: {tuple(B.shape)}) and headdim (x: {tuple(x.shape)}) "
                         f"must be >= 1")
    expect_shape("C", arr["C"], B.shape, "(batch, seqlen, ngroups, dstate)", "as B")
    expect_shape("dt", arr["dt"], (batch, seqlen, nheads), "(batch, seqlen, nheads)", "from x")
    expect_shape("A", arr["A"], (nheads,), "(nheads,)", "from x")
    if arr["dt_bias"] is not None:
        expect_shape("dt_bias", arr["dt_bias"], (nheads,), "(nheads,)", "from x")
    if arr["z"] is not None:
        expect_shape("z", arr["z"], x.shape, "(batch, seqlen, nheads, headdim)", "as x")
    if arr["initial_states"] is not None:
        expect_shape("initial_states", arr["initial_states"], (batch, nheads, headdim, dstate),
                "(batch, nheads, headdim, dstate)", "from x and B")
    if arr["D"] is not None and arr["D"].shape not in ((nheads,), (nheads, headdim)):
        raise ValueError(f"D has shape {tuple(arr['D'].shape)}; expected (nheads,) = "
                         f"{(nheads,)} or (nheads, headdim) = {(nheads, headdim)} (from x)")
    dtype = common_dtype(*arr.values())
    arr = {k: None if val is None else val.astype(dtype, copy=False) for k, val in arr.items()}
    return MambaArrays(**arr, nheads=nheads, ngroups=ngroups, dtype=dtype)


def check_dt_limit(dt_limit) -> tuple:
    """``dt_limit`` is ``(low, high)`` with low <= high (high may be inf)."""
    try:
        low, high = (float(v) for v in dt_limit)
    except (TypeError, ValueError):
        raise TypeError(f"dt_limit must be a pair (low, high) of numbers, "
                        f"got {dt_limit!r}") from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"dt_limit must be (low, high) with low <= high, got {dt_limit!r}")
    return low, high


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def softplus(u: np.ndarray) -> np.ndarray:
    """Mamba-2's softplus: log(1 + e^u) for u <= 20, u itself above (torch's threshold)."""
    # log(1 + e^u) = logaddexp(0, u), with no overflow for large u
    return np.where(u <= SOFTPLUS_THRESHOLD, np.logaddexp(0.0, u), u)


def step_sizes(dt, dt_bias=None, dt_softplus=False, dt_limit=(0.0, math.inf)) -> np.ndarray:
    """The step dt_t that Mamba-2 uses: (batch, seqlen, nheads).

    dt_t = clamp(softplus(dt_t + dt_bias), low, high): bias first, softplus only when asked, and
    the clamp always (so with the default ``(0, inf)`` a negative raw dt becomes 0).
    """
    low, high = check_dt_limit(dt_limit)
    if dt_bias is not None:
        dt = dt + dt_bias                               # bias per head
    if dt_softplus:
        dt = softplus(dt)
    return np.clip(dt, low, high)


def _to_ssd(v: MambaArrays, dt_softplus: bool, dt_limit: tuple) -> dict:
    """The mapping itself, on validated arrays (see :func:`to_ssd`)."""
    dt = step_sizes(v.dt, v.dt_bias, dt_softplus, dt_limit)        # (batch, T, H)
    with np.errstate(over="ignore", under="ignore"):
        # a_t = exp(dt_t A_h): the decay of head h at step t; underflow to exactly 0 is fine
        a = np.exp(dt * v.A)
        # x_t -> dt_t x_t: the input enters scaled by the step
        x = dt[..., None] * v.x
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(x))):
        raise ValueError("dt and A give a non-finite decay exp(dt * A) or input dt * x (an "
                         "overflow); Mamba-2's A is negative (A = -exp(A_log)) and dt >= 0")
    # head h reads group h // (nheads // ngroups) of B and C
    group = np.arange(v.nheads) // (v.nheads // v.ngroups)
    # state: Mamba's (headdim, dstate) = (P, N) is the transpose of the package's (N, P)
    h0 = None if v.initial_states is None else np.swapaxes(v.initial_states, -1, -2)
    return dict(x=heads_first(x), a=np.swapaxes(a, 1, 2), B=heads_first(v.B[:, :, group]),
                C=heads_first(v.C[:, :, group]), initial_state=h0)


@keyword_only
def to_ssd(x, dt, A, B, C, *, initial_states=None, dt_bias=None, dt_softplus=False,
           dt_limit=(0.0, math.inf)) -> dict:
    """Mamba-2's arguments -> the package's scalar-family arguments, heads in front of time.

    Returns ``dict(x, a, B, C, initial_state)`` for any ``ssd_edu.IMPLEMENTATIONS["*.scalar.*"]``:
    x (batch, nheads, T, P) = dt x, a (batch, nheads, T) = exp(dt A), B and C (batch, nheads, T, N)
    (each head its group's), initial_state (batch, nheads, N, P) = initial_states transposed.
    """
    v = check_inputs(x, dt, A, B, C, initial_states=initial_states, dt_bias=dt_bias)
    return _to_ssd(v, _check_flag("dt_softplus", dt_softplus), check_dt_limit(dt_limit))


def silu(z: np.ndarray) -> np.ndarray:
    """silu(z) = z sigmoid(z), with sigmoid(z) = exp(-log(1 + e^-z)) (no overflow)."""
    return z * np.exp(-np.logaddexp(0.0, -z))


def _from_ssd(y, final_state, x, D, z):
    out = time_first(y)                                 # (batch, seqlen, nheads, headdim)
    if D is not None:
        # out_t += D x_t: the skip uses the layer's x (not dt x), per head or per head and channel
        out = out + (D[:, None] if D.ndim == 1 else D) * x
    if z is not None:
        # out_t *= silu(z_t): the gate comes after the skip
        out = out * silu(z)
    # state (N, P) -> Mamba's (headdim, dstate)
    return out, np.ascontiguousarray(np.swapaxes(final_state, -1, -2))


def from_ssd(y, final_state, x=None, D=None, z=None):
    """The package's outputs -> Mamba-2's: ``(out, final_states)``.

    y (batch, nheads, T, P) and final_state (batch, nheads, N, P) from a scalar form on
    :func:`to_ssd`'s arrays; out (batch, seqlen, nheads, headdim) = y + D x, times silu(z) when z
    is given (x is the layer's input, needed with D); final_states (batch, nheads, headdim, dstate).
    """
    y, h = as_array("y", y), as_array("final_state", final_state)
    if y.ndim != 4 or h.ndim != 4 or h.shape[:2] != y.shape[:2] or h.shape[-1] != y.shape[-1]:
        raise ValueError(f"y has shape {tuple(y.shape)} and final_state {tuple(h.shape)}; "
                         f"expected (batch, nheads, T, P) and (batch, nheads, N, P)")
    batch, nheads, seqlen, headdim = y.shape
    layer = (batch, seqlen, nheads, headdim)
    if D is not None and x is None:
        raise TypeError("x is None; from_ssd needs the layer's input x to add the skip D x")
    x = None if x is None else as_array("x", x)
    D = None if D is None else as_array("D", D)
    z = None if z is None else as_array("z", z)
    if x is not None:
        expect_shape("x", x, layer, "(batch, seqlen, nheads, headdim)", "from y")
    if z is not None:
        expect_shape("z", z, layer, "(batch, seqlen, nheads, headdim)", "from y")
    if D is not None and D.shape not in ((nheads,), (nheads, headdim)):
        raise ValueError(f"D has shape {tuple(D.shape)}; expected (nheads,) or "
                         f"(nheads, headdim) = {(nheads, headdim)} (from y)")
    return _from_ssd(y, h, x, D, z)


@keyword_only
def chunk_scan_combined(x, dt, A, B, C, *, chunk_size, D=None, z=None, dt_bias=None,
                        initial_states=None, dt_softplus=False, dt_limit=(0.0, math.inf),
                        return_final_states=False, backend="numpy", form="chunked"):
    """Mamba-2's ``mamba_chunk_scan_combined`` on NumPy arrays, run by a registered SSD form.

    Shapes and formulas: the module docstring. Returns out (batch, seqlen, nheads, headdim), and
    ``(out, final_states)`` with final_states (batch, nheads, headdim, dstate) when
    ``return_final_states``. Any seqlen and any ``chunk_size >= 1`` (no seqlen % chunk_size
    requirement); ``backend`` in numpy, numba, cuda and ``form`` in scan, attention, chunked (and
    associative_scan, NumPy only) pick
    ``ssd_edu.IMPLEMENTATIONS[f"{backend}.scalar.{form}"]``. Computes in the common dtype of the
    inputs (float32 or float64). A decay exp(dt A) that underflows to 0 is exact (no log space).
    """
    v = check_inputs(x, dt, A, B, C, D, z, dt_bias, initial_states=initial_states)
    q = check_chunk(chunk_size)
    limit = check_dt_limit(dt_limit)
    softplus_on = _check_flag("dt_softplus", dt_softplus)
    return_states = _check_flag("return_final_states", return_final_states)
    registered_form(backend, "scalar", form)            # a bad backend or form fails before work
    y, h = run_form(backend, "scalar", form, _to_ssd(v, softplus_on, limit), chunk_size=q)
    out, final_states = _from_ssd(y, h, v.x, v.D, v.z)
    return (out, final_states) if return_states else out
