"""Helpers of the chunked (block) algorithm: cutting time into chunks, and state passing.

Chunk c covers steps ``[c Q, min(c Q + Q, T))``; there are ``J = ceil(T / Q)`` chunks. A short
last chunk is padded to Q steps with ``x = 0, a = 1, B = C = 0``: a padded step computes
``h_t = h_{t-1}`` and outputs 0, so neither the outputs kept nor the final state change
(padding ``a`` with 0 would erase the state; THEORY.md section 4).
"""
from __future__ import annotations

import numpy as np


def to_chunks(arr: np.ndarray, Q: int, fill: float, *, scalar: bool = False) -> np.ndarray:
    """Pad the time axis to a multiple of Q with ``fill`` and split it into chunks.

    arr: (..., T, K) -> (..., J, Q, K); with ``scalar=True`` (a scalar-family decay) the time
    axis is the last one: (..., T) -> (..., J, Q).
    """
    if scalar:
        return to_chunks(arr[..., None], Q, fill)[..., 0]
    T = arr.shape[-2]
    J = -(-T // Q)
    pad = [(0, 0)] * (arr.ndim - 2) + [(0, J * Q - T), (0, 0)]
    return np.pad(arr, pad, constant_values=fill).reshape(*arr.shape[:-2], J, Q, arr.shape[-1])


def from_chunks(arr: np.ndarray, T: int) -> np.ndarray:
    """(..., J, Q, P) -> (..., T, P): merge the chunk axes and drop the padded steps."""
    J, Q = arr.shape[-3], arr.shape[-2]
    return arr.reshape(*arr.shape[:-3], J * Q, arr.shape[-1])[..., :T, :]


def state_passing(abar: np.ndarray, S: np.ndarray, initial_state: np.ndarray):
    """The inter-chunk scan ``H_c = diag(abar_c) H_{c-1} + S_c`` with ``H_{-1} = h_{-1}``.

    abar: the decay across each chunk, (..., J, N) (the scalar family passes (..., J, 1): one
    decay for every mode); S: (..., J, N, P) chunk states from a zero start; initial_state:
    (..., N, P). Leading axes broadcast. Returns ``(H_prev, H_last)``: H_prev (..., J, N, P) is
    the state entering chunk c (``H_{c-1}``), and H_last (..., N, P) is the final state.
    (The shapes say which axis is which: nothing is guessed from the number of axes, which
    differs when one input has fewer leading axes than another.)
    """
    J, N = S.shape[-3], S.shape[-2]
    if np.ndim(abar) < 2 or np.shape(abar)[-2] != J or np.shape(abar)[-1] not in (1, N):
        raise ValueError(f"abar has shape {np.shape(abar)}; expected (..., J, N) = (..., {J}, "
                         f"{N}) or (..., {J}, 1) for the scalar family (one decay per chunk "
                         f"for every mode: pass abar[..., None])")
    abar = abar[..., None]                               # (..., J, N, 1): scales rows n
    H = initial_state
    H_prev = np.empty(np.broadcast_shapes(S.shape, abar.shape, H[..., None, :, :].shape),
                      dtype=np.result_type(S, H, abar))
    for c in range(S.shape[-3]):
        H_prev[..., c, :, :] = H
        # H_c = diag(abar_c) H_{c-1} + S_c
        H = abar[..., c, :, :] * H + S[..., c, :, :]
    return H_prev, H
