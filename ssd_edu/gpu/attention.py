"""Masked attention on the GPU: scalar_attention and diagonal_attention.

    y_t = sum_{s <= t} (C_t . (delta_t / delta_s) B_s) x_s + (delta_t o C_t)^T h_{-1},
    delta_t = a_0 ... a_t (scalar family; diagonal family: per mode, the sum of N 1-SS heads).

The attention form is the chunked algorithm (``chunked.py``) with one chunk, Q = T: the tiled
output kernel over the tiles on or below the diagonal (steps 1 and 4, h_{-1} as the entering
state) and the final state from the chunk state (step 2) passed on from h_{-1} (step 3). One
set of kernels serves both forms; no T x T array is stored.
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from .chunked import blocked


@keyword_only
def scalar_attention(x, a, B, C, *, initial_state=None):
    """Masked attention on the GPU, ``y = (1SS(a) o C B^T) x + delta_t C_t^T h_{-1}``.

    M[t, s] = a_{s+1} ... a_t (C_t . B_s) for t >= s, delta_t = a_0 ... a_t;
    h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}, gamma_s = a_{s+1} ... a_{T-1}.
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); returns y and h.
    """
    return blocked("scalar", x, a, B, C, chunk_size=None, initial_state=initial_state)


@keyword_only
def diagonal_attention(x, a, B, C, *, initial_state=None):
    """The sum of N 1-SS masked attentions on the GPU (one head per mode), plus the initial state.

    y_t = sum_n C[t, n] (sum_{s <= t} a_n(t, s) B[s, n] x_s + delta[t, n] h_{-1}[n]),
    a_n(t, s) = a[s+1, n] ... a[t, n], delta[t, n] = a[0, n] ... a[t, n]. Shapes as
    :func:`scalar_attention` with a (..., T, N).
    """
    return blocked("diagonal", x, a, B, C, chunk_size=None, initial_state=initial_state)
