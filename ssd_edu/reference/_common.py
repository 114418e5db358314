"""Small pieces every reference form shares: the starting state and the empty sequence."""
from __future__ import annotations

import numpy as np

from ..validation import SSMInputs


def start_state(v: SSMInputs) -> np.ndarray:
    """h_{-1}: a fresh (*batch, N, P) array, zeros by default (never the caller's array)."""
    h = np.zeros((*v.batch, v.N, v.P), dtype=v.dtype)
    if v.initial_state is not None:
        h[...] = v.initial_state
    return h


def empty_output(v: SSMInputs) -> np.ndarray:
    """y for T = 0: shape (*batch, 0, P)."""
    return np.zeros((*v.batch, 0, v.P), dtype=v.dtype)
