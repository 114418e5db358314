"""The plumbing every reference form shares, so that each form reads like its formula.

``@ssm_form(family)`` wraps ``f(x, a, B, C, *[, chunk_size], initial_state=None)``: refuses a
positional option by name, validates once (complex allowed), refuses (T, T) or (Q, Q) arrays
above the memory limit, answers T = 0 itself, calls the body with plain arrays in one dtype
(chunk_size at most T, initial_state a fresh (*batch, N, P) h_{-1}, zeros by default) and
broadcasts its y and h to the full leading shape. ``@kernel_form(family)`` does the same for
the kernel builders ``f(a, B, C)``.
"""
from __future__ import annotations

import functools

import numpy as np

from .._keyword_only import keyword_signature, refuse_positional
from ..validation import (check_chunk_size, check_chunks, check_kernel, check_quadratic,
                          check_ssm)


def _start_state(v) -> np.ndarray:
    """h_{-1}: a fresh (*batch, N, P) array, zeros by default (never the caller's array)."""
    h = np.zeros((*v.batch, v.N, v.P), dtype=v.dtype)
    if v.initial_state is not None:
        h[...] = v.initial_state
    return h


def check_chunk_blocks(name: str, family: str, v, Q: int) -> None:
    """Refuse a chunk's (Q, Q) masks and scores (per sequence, and per mode in the diagonal
    family) above the memory limit, before any work."""
    modes = v.N if family == "diagonal" else 1               # one mask per mode
    check_chunks(name, int(np.prod(v.batch, dtype=np.int64)) * modes, Q, v.dtype, copies=3)


def _full(arr: np.ndarray, shape: tuple) -> np.ndarray:
    return arr if arr.shape == shape else np.broadcast_to(arr, shape).copy()


def ssm_form(family: str, *, quadratic: int | None = None, per_mode: bool = False):
    """Decorator for a form of ``family``; ``quadratic=k`` guards k (T, T) arrays per sequence
    (per mode as well when ``per_mode``)."""
    def wrap(body):
        signature = keyword_signature(body)

        @functools.wraps(body)
        def form(*args, **kwargs):
            refuse_positional(body.__name__, signature, args)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            x, a, B, C = (given[k] for k in list(signature.parameters)[:4])
            v = check_ssm(family, x, a, B, C, given["initial_state"], allow_complex=True)
            if "chunk_size" in given:
                given["chunk_size"] = check_chunk_size(given["chunk_size"])
            h0 = _start_state(v)
            if v.T == 0:
                return np.zeros((*v.batch, 0, v.P), dtype=v.dtype), h0
            if quadratic:
                lead = (*v.batch, v.N) if per_mode else v.batch
                check_quadratic(body.__name__, lead, v.T, v.dtype, copies=quadratic)
            # a chunk longer than the sequence is one chunk of T steps (not Q padded ones)
            rest = {k: min(given[k], v.T) for k in given if k == "chunk_size"}
            if rest:
                check_chunk_blocks(body.__name__, family, v, rest["chunk_size"])
            y, h = body(v.x, v.a, v.B, v.C, **rest, initial_state=h0)
            return _full(y, (*v.batch, v.T, v.P)), _full(h, (*v.batch, v.N, v.P))

        return form
    return wrap


def kernel_form(family: str, *, quadratic: int, per_mode: bool = False):
    """Decorator for a kernel builder ``f(a, B, C) -> (..., T, T)`` (or (..., N, T, T))."""
    def wrap(body):
        @functools.wraps(body)
        def kernel(a, B, C):
            v = check_kernel(family, a, B, C, allow_complex=True)
            lead = (*v.batch, v.N) if per_mode else v.batch
            check_quadratic(body.__name__, lead, v.T, v.dtype, copies=quadratic)
            return body(v.a, v.B, v.C)

        return kernel
    return wrap
