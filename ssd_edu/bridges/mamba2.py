"""From a Mamba-2 layer to SSD: ``mamba_chunk_scan_combined``'s conventions on NumPy arrays.

    x, z (batch, seqlen, nheads, headdim)   dt (batch, seqlen, nheads)   A, dt_bias (nheads,)
    B, C (batch, seqlen, ngroups, dstate)   D (nheads,) | (nheads, headdim)
    initial_states / final states (batch, nheads, headdim, dstate)

    dt_t  = clamp(softplus(dt_t + dt_bias), *dt_limit)        softplus only when dt_softplus
    h_t   = exp(dt_t A_h) h_{t-1} + x_t (dt_t B_t)^T          state (headdim, dstate) = (P, N)
    y_t   = h_t C_t + D_h x_t,    out_t = y_t * silu(z_t)

Head h reads group h // (nheads // ngroups) of B and C: the scalar family, one SSM per head
(:func:`to_ssd`: x <- dt x, a = exp(dt A), h = states^T); D and z act outside it (:func:`from_ssd`).
As in state-spaces/mamba: the bias before the softplus (identity above 20), the clamp after it
and always, the skip on the raw x before the gate. Not covered: seq_idx, cu_seqlens.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from .._keyword_only import keyword_only
from ..validation import as_array, common_dtype
from ._forms import (check_chunk_size, check_D, check_flag, expect_shape, heads_first,
                     registered_form, time_first)

@keyword_only
def check_inputs(x, dt, A, B, C, D=None, z=None, dt_bias=None, *,
                 initial_states=None) -> SimpleNamespace:
    """Validate Mamba-2's arguments (shapes in the module docstring), errors naming the argument:
    a namespace of the arrays in one dtype, with nheads, ngroups and dtype."""
    arr = dict(x=x, dt=dt, A=A, B=B, C=C, D=D, z=z, dt_bias=dt_bias, initial_states=initial_states)
    arr = {k: None if val is None and k in ("D", "z", "dt_bias", "initial_states")
           else as_array(k, val) for k, val in arr.items()}
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
    expect_shape("dt_bias", arr["dt_bias"], (nheads,), "(nheads,)", "from x")
    expect_shape("z", arr["z"], x.shape, "(batch, seqlen, nheads, headdim)", "as x")
    expect_shape("initial_states", arr["initial_states"], (batch, nheads, headdim, dstate),
                 "(batch, nheads, headdim, dstate)", "from x and B")
    check_D(arr["D"], nheads, headdim, "from x")
    dtype = common_dtype(*arr.values())
    arr = {k: None if val is None else val.astype(dtype, copy=False) for k, val in arr.items()}
    return SimpleNamespace(**arr, nheads=nheads, ngroups=ngroups, dtype=dtype)


def check_dt_limit(dt_limit) -> tuple:
    """``dt_limit`` as ``(low, high)`` with low <= high, or an error naming it."""
    try:
        low, high = (float(v) for v in dt_limit)
    except (TypeError, ValueError):
        raise TypeError(f"dt_limit must be a pair (low, high) of numbers, "
                        f"got {dt_limit!r}") from None
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"dt_limit must be (low, high) with low <= high, got {dt_limit!r}")
    return low, high


def softplus(u: np.ndarray) -> np.ndarray:
    """Mamba-2's softplus: log(1 + e^u) for u <= 20, u itself above (torch's threshold)."""
    # log(1 + e^u) = logaddexp(0, u), with no overflow for large u
    return np.where(u <= 20.0, np.logaddexp(0.0, u), u)


def step_sizes(dt, dt_bias=None, dt_softplus=False, dt_limit=(0.0, math.inf)) -> np.ndarray:
    """Mamba-2's step dt_t = clamp(softplus(dt_t + dt_bias), low, high): (batch, seqlen, nheads);
    softplus only when asked, the clamp always."""
    low, high = check_dt_limit(dt_limit)
    if dt_bias is not None:
        dt = dt + dt_bias                               # bias per head
    if dt_softplus:
        dt = softplus(dt)
    return np.clip(dt, low, high)


def _to_ssd(v: SimpleNamespace, dt_softplus: bool, dt_limit: tuple) -> dict:
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
    """Mamba-2's arguments -> ``dict(x, a, B, C, initial_state)`` for any scalar form: x = dt x
    (batch, nheads, T, P), a = exp(dt A) (batch, nheads, T), B, C (batch, nheads, T, N) of each
    head's group, initial_state = initial_states transposed (batch, nheads, N, P)."""
    v = check_inputs(x, dt, A, B, C, initial_states=initial_states, dt_bias=dt_bias)
    return _to_ssd(v, check_flag("dt_softplus", dt_softplus), check_dt_limit(dt_limit))


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
    """The package's y (batch, nheads, T, P), final_state (batch, nheads, N, P) -> Mamba-2's
    ``(out, final_states)``: out = (y + D x) silu(z) (batch, seqlen, nheads, headdim), x the
    layer's input; final_states (batch, nheads, headdim, dstate)."""
    y, h = as_array("y", y), as_array("final_state", final_state)
    if y.ndim != 4 or h.ndim != 4 or h.shape[:2] != y.shape[:2] or h.shape[-1] != y.shape[-1]:
        raise ValueError(f"y has shape {tuple(y.shape)} and final_state {tuple(h.shape)}; "
                         f"expected (batch, nheads, T, P) and (batch, nheads, N, P)")
    batch, nheads, seqlen, headdim = y.shape
    layer = (batch, seqlen, nheads, headdim)
    if D is not None and x is None:
        raise TypeError("x is None; from_ssd needs the layer's input x to add the skip D x")
    x, D, z = (None if val is None else as_array(name, val)
               for name, val in (("x", x), ("D", D), ("z", z)))
    expect_shape("x", x, layer, "(batch, seqlen, nheads, headdim)", "from y")
    expect_shape("z", z, layer, "(batch, seqlen, nheads, headdim)", "from y")
    check_D(D, nheads, headdim, "from y")
    return _from_ssd(y, h, x, D, z)


@keyword_only
def chunk_scan_combined(x, dt, A, B, C, *, chunk_size, D=None, z=None, dt_bias=None,
                        initial_states=None, dt_softplus=False, dt_limit=(0.0, math.inf),
                        return_final_states=False, backend="numpy", form="chunked"):
    """Mamba-2's ``mamba_chunk_scan_combined`` on NumPy arrays, run by
    ``ssd_edu.IMPLEMENTATIONS[f"{backend}.scalar.{form}"]`` (shapes: the module docstring).

    Returns out (batch, seqlen, nheads, headdim), or ``(out, final_states)`` with final_states
    (batch, nheads, headdim, dstate) when ``return_final_states``. Any seqlen and chunk_size >= 1.
    """
    v = check_inputs(x, dt, A, B, C, D, z, dt_bias, initial_states=initial_states)
    q = check_chunk_size(chunk_size)
    limit = check_dt_limit(dt_limit)
    softplus_on = check_flag("dt_softplus", dt_softplus)
    return_states = check_flag("return_final_states", return_final_states)
    run = registered_form(backend, "scalar", form, q)  # a bad backend or form fails before work
    y, h = run(**_to_ssd(v, softplus_on, limit))
    out, final_states = _from_ssd(y, h, v.x, v.D, v.z)
    return (out, final_states) if return_states else out
