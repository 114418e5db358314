"""Masked attention on the GPU: the chunked algorithm (``chunked.py``) with one chunk, Q = T.

    y_t = sum_{s <= t} (C_t . (delta_t / delta_s) B_s) x_s + (delta_t o C_t)^T h_{-1}

The tiled output kernel over the tiles on or below the diagonal (steps 1 and 4), the final
state from the chunk state passed on from h_{-1} (steps 2 and 3); no T x T array is stored.
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from .chunked import blocked


@keyword_only
def scalar_attention(x, a, B, C, *, initial_state=None):
    """Masked attention on the GPU, ``y = (1SS(a) o C B^T) x + delta_t C_t^T h_{-1}``, and h:
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P)."""
    return blocked("scalar", x, a, B, C, chunk_size=None, initial_state=initial_state)


@keyword_only
def diagonal_attention(x, a, B, C, *, initial_state=None):
    """The sum of N 1-SS masked attentions on the GPU (one per mode), plus the initial state;
    shapes as :func:`scalar_attention` with a (..., T, N)."""
    return blocked("diagonal", x, a, B, C, chunk_size=None, initial_state=initial_state)
