"""The backward of the attention form as a Numba kernel: scalar_attention_vjp, diagonal_attention_vjp.

The attention form's gradient is the masked matmul with the mask transposed (``dx = M^T dy +
...``, ``reference.scalar_backward``): exactly the chunk backward of ``chunked_backward`` with a
single chunk covering the sequence, whose initial state is h_{-1} and whose final-state
gradient is dh. O(T^2 (N + P)) time (scalar family; O(N T^2 + T^2 P) diagonal) and O(T^2)
memory per thread, refused above the quadratic memory limit.
"""
from __future__ import annotations


from .._keyword_only import keyword_only
from ..validation import check_quadratic, check_ssm
from .chunked_backward import chunked_backward


def _attention_vjp(family, name, x, a, B, C, dy, dh, initial_state):
    v = check_ssm(family, x, a, B, C, initial_state)
    check_quadratic(name, v.batch, v.T, v.dtype, copies=5, pad=2)
    return chunked_backward(family, x, a, B, C, dy, dh, initial_state, max(v.T, 1))


@keyword_only
def scalar_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the scalar attention form, compiled: the chunk backward with one chunk of T steps.

    x, dy (..., T, P), a (..., T), B, C (..., T, N), dh, initial_state (..., N, P). Returns Grads.
    """
    return _attention_vjp("scalar", "scalar_attention_vjp", x, a, B, C, dy, dh, initial_state)


@keyword_only
def diagonal_attention_vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
    """VJP of the diagonal attention form, compiled: one chunk of T steps, a mask per mode.

    x, dy (..., T, P), a, B, C (..., T, N), dh, initial_state (..., N, P). Returns Grads.
    """
    return _attention_vjp("diagonal", "diagonal_attention_vjp", x, a, B, C, dy, dh,
                          initial_state)


__all__ = ["scalar_attention_vjp", "diagonal_attention_vjp"]
