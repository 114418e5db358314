"""Masked attention on the GPU: scalar_attention and diagonal_attention.

    y = (1SS(a) o C B^T) x + (delta_t C_t)^T h_{-1}                 (scalar family)
    y = sum_n (1SS(a[:, n]) o C[:, n] B[:, n]^T) x + ...            (diagonal family)

The attention form is the block algorithm of ``chunked.py`` with a single chunk (Q = T): its
output kernel is the tiled masked matmul over the tiles on or below the diagonal (step 1) plus
the initial-state term (step 4), and the final state is that chunk's state (step 2) passed on
from h_{-1} (step 3). One set of kernels serves both forms, so they cannot drift apart; no
T x T array is stored.
"""
from __future__ import annotations

from .chunked import blocked


def scalar_attention(x, a, B, C, initial_state=None):
    """Masked attention on the GPU, ``y = (1SS(a) o C B^T) x + delta_t C_t^T h_{-1}``.

    M[t, s] = a_{s+1} ... a_t (C_t . B_s) for t >= s, delta_t = a_0 ... a_t;
    h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}, gamma_s = a_{s+1} ... a_{T-1}.
    A tiled masked matmul over the tiles on or below the diagonal only; no T x T array is
    stored. Shapes as :func:`scalar_scan`.
    """
    return blocked("scalar", x, a, B, C, initial_state, chunk_size=None)


def diagonal_attention(x, a, B, C, initial_state=None):
    """The sum of N 1-SS masked attentions on the GPU (one head per mode), plus the initial state.

    y_t = sum_n C[t, n] (sum_{s <= t} a_n(t, s) B[s, n] x_s + delta[t, n] h_{-1}[n]),
    a_n(t, s) = a[s+1, n] ... a[t, n], delta[t, n] = a[0, n] ... a[t, n];
    h_{T-1}[n] = sum_s gamma[s, n] B[s, n] x_s + delta[T-1, n] h_{-1}[n].
    Tiled over the tiles on or below the diagonal; no T x T array is stored. Shapes as
    :func:`diagonal_scan`.
    """
    return blocked("diagonal", x, a, B, C, initial_state, chunk_size=None)
