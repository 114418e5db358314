"""From flash-linear-attention (fla) to SSD: ``chunk_simple_gla`` and ``chunk_gla`` conventions.

    q, k (batch, T, H, K)   v (batch, T, H, V)   state S (batch, H, K, V)
    g (batch, T, H): simple_gla, a log-decay per head;  gk (batch, T, H, K): gla, per key dim

    S_t = exp(g_t) S_{t-1} + k_t v_t^T         (gla: diag(exp(gk_t)) S_{t-1} + k_t v_t^T)
    o_t = S_t^T (scale q_t),                   scale = K^-1/2 unless given

The package's recurrence with x = v, B = k, C = scale q, a = exp(g), the state as is
(:func:`to_ssd`): simple_gla the scalar family, gla the diagonal one; a gate of -inf is a zero
decay. Time-first layouts only (head-first shapes pass the checks with H and T swapped: transpose
them first). Not covered: g_gamma, cu_seqlens, state_v_first.
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ..validation import as_array, check_scale as real_scale, common_dtype
from ._forms import (check_chunk_size, check_flag, expect_shape, heads_first, registered_form,
                     time_first)


@keyword_only
def check_inputs(q, k, v, g, *, initial_state=None, g_name="g", family=None):
    """Validate fla's arguments; ``g`` of shape (batch, T, H) or (batch, T, H, K) decides the
    family (or must fit ``family`` when given: "scalar" for simple_gla, "diagonal" for gla).
    Returns (q, k, v, g, initial_state, family) in one dtype; errors name the argument."""
    q, k, v = (as_array(name, val) for name, val in (("q", q), ("k", k), ("v", v)))
    g = as_array(g_name, g, allow_minus_inf=True)        # exp(-inf) = 0: a zero decay
    h0 = None if initial_state is None else as_array("initial_state", initial_state)
    if q.ndim != 4:
        raise ValueError(f"q has shape {tuple(q.shape)}; expected (batch, T, H, K)")
    batch, T, H, K = q.shape
    expect_shape("k", k, q.shape, "(batch, T, H, K)", "as q")
    if v.ndim != 4 or v.shape[:3] != (batch, T, H):
        raise ValueError(f"v has shape {tuple(v.shape)}; expected (batch, T, H, V) with "
                         f"(batch, T, H) = {(batch, T, H)} (as in q)")
    V = v.shape[3]
    if K < 1 or V < 1:
        raise ValueError(f"K (q: {tuple(q.shape)}) and V (v: {tuple(v.shape)}) must be >= 1")
    per_head = f"(batch, T, H) = {(batch, T, H)} (a log-decay per head)"
    per_key = f"(batch, T, H, K) = {(batch, T, H, K)} (a log-decay per key dimension)"
    accepted = {None: ((batch, T, H), (batch, T, H, K)), "scalar": ((batch, T, H),),
                "diagonal": ((batch, T, H, K),)}[family]
    if g.shape not in accepted:
        want = {None: f"{per_head} or {per_key}", "scalar": per_head, "diagonal": per_key}[family]
        raise ValueError(f"{g_name} has shape {tuple(g.shape)}; expected {want}, from q")
    expect_shape("initial_state", h0, (batch, H, K, V), "(batch, H, K, V)", "from q and v")
    dtype = common_dtype(q, k, v, g, h0)
    q, k, v, g = (arr.astype(dtype, copy=False) for arr in (q, k, v, g))
    h0 = None if h0 is None else h0.astype(dtype, copy=False)
    return q, k, v, g, h0, "scalar" if g.ndim == 3 else "diagonal"


def check_scale(scale, K: int) -> float:
    """fla's scale: K^-1/2 when None, else a finite real number (a 0-d array is read as one)."""
    return K ** -0.5 if scale is None else real_scale(scale)


def _to_ssd(q, k, v, g, h0, scale, g_name):
    with np.errstate(over="ignore", under="ignore"):
        # a_t = exp(g_t): the log-decay made a decay (underflow to exactly 0 is fine)
        a = np.exp(g)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{g_name} has entries whose exp overflows; {g_name} is a log-decay "
                         f"(<= 0 for a contracting state, e.g. logsigmoid)")
    # x = v, B = k, C = scale q, a = exp(g): heads in front of time; the state (K, V) = (N, P)
    return dict(x=heads_first(v), a=heads_first(a), B=heads_first(k),
                C=heads_first(scale * q), initial_state=h0)


@keyword_only
def to_ssd(q, k, v, g, scale=None, *, initial_state=None) -> dict:
    """fla's arguments -> ``dict(x, a, B, C, initial_state)``, heads before time: x = v, B = k,
    C = scale q, a = exp(g) (batch, H, T) for a per-head g (scalar family) or (batch, H, T, K)
    for a per-key gk (diagonal family), initial_state (batch, H, K, V) as is."""
    q, k, v, g, h0, _ = check_inputs(q, k, v, g, initial_state=initial_state)
    return _to_ssd(q, k, v, g, h0, check_scale(scale, q.shape[-1]), "g")


def from_ssd(y, final_state=None):
    """The package's outputs -> fla's: o (batch, T, H, V) and the state (batch, H, K, V) as is."""
    y = as_array("y", y)
    if y.ndim != 4:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected (batch, H, T, V)")
    return time_first(y), None if final_state is None else as_array("final_state", final_state)


def _gla(family, g_name, q, k, v, g, scale, initial_state, output_final_state, backend, form,
         chunk_size):
    q, k, v, g, h0, _ = check_inputs(q, k, v, g, initial_state=initial_state, g_name=g_name,
                                     family=family)
    scale = check_scale(scale, q.shape[-1])
    output_final_state = check_flag("output_final_state", output_final_state)
    # a bad backend or form fails before work
    run = registered_form(backend, family, form, check_chunk_size(chunk_size))
    y, h = run(**_to_ssd(q, k, v, g, h0, scale, g_name))
    return time_first(y), (h if output_final_state else None)


@keyword_only
def simple_gla(q, k, v, g, scale=None, *, initial_state=None, output_final_state=False,
               backend="numpy", form="chunked", chunk_size=64):
    """fla's ``chunk_simple_gla``, g (batch, T, H), run by
    ``IMPLEMENTATIONS[f"{backend}.scalar.{form}"]``: o (batch, T, H, V) and final_state
    (batch, H, K, V), or None unless ``output_final_state``."""
    return _gla("scalar", "g", q, k, v, g, scale, initial_state, output_final_state, backend,
                form, chunk_size)


@keyword_only
def gla(q, k, v, gk, scale=None, *, initial_state=None, output_final_state=False,
        backend="numpy", form="chunked", chunk_size=64):
    """fla's ``chunk_gla``, gk (batch, T, H, K), run by
    ``IMPLEMENTATIONS[f"{backend}.diagonal.{form}"]``; as :func:`simple_gla`."""
    return _gla("diagonal", "gk", q, k, v, gk, scale, initial_state, output_final_state, backend,
                form, chunk_size)
