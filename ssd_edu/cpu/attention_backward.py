"""The attention form's VJP in Numba: scalar_attention_vjp, diagonal_attention_vjp.

The gradient is the masked matmul with the mask transposed: the chunk backward of
``chunked_backward`` with one chunk of T steps (h_{-1} its initial state, dh its final-state
gradient). O(T^2 (N + P)) time, O(T^2) memory per thread, refused above the quadratic limit.
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from ..validation import check_quadratic, check_ssm
from .chunked_backward import chunked_backward


def _attention_vjp(family, x, a, B, C, dy, dh, initial_state):
    v = check_ssm(family, x, a, B, C, initial_state)
    check_quadratic(f"{family}_attention_vjp", v.batch, v.T, v.dtype, copies=5, pad=2)
    return chunked_backward(family, x, a, B, C, dy, dh, initial_state, max(v.T, 1))


@keyword_only
def scalar_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar attention form. x, dy (..., T, P), a (..., T), B, C (..., T, N), dh,
    initial_state (..., N, P). Returns Grads."""
    return _attention_vjp("scalar", x, a, B, C, dy, dh, initial_state)


@keyword_only
def diagonal_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the diagonal attention form; a (..., T, N), else as scalar_attention_vjp."""
    return _attention_vjp("diagonal", x, a, B, C, dy, dh, initial_state)


__all__ = ["scalar_attention_vjp", "diagonal_attention_vjp"]
