"""What every public Numba launcher does around its kernel: validate, flatten, reshape back.

A launcher validates with :func:`ssd_edu.validation.check_ssm` (real dtypes only: the kernels
are real), broadcasts the leading axes to the common ``batch`` shape, flattens them into one
sequence axis S and makes C-contiguous arrays (copies only where needed: a broadcast, a
transposed or strided view). Every input reaches the kernels as a read-only view, copy or
not, so one compiled signature per dtype and family serves every call (Numba types a
read-only array apart from a writable one). The kernels write only into fresh outputs, so
the caller's arrays are never modified. The state travels transposed, ``hT (S, P, N)``, so a
state row of one channel is contiguous over n (the kernels reduce over n).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..validation import check_chunk_size, check_ssm
from ._jit import num_threads


class Flat(NamedTuple):
    """Validated inputs flattened to S sequences, C-contiguous, one dtype."""

    x: np.ndarray   # (S, T, P)
    a: np.ndarray   # (S, T) scalar family, (S, T, N) diagonal family
    B: np.ndarray   # (S, T, N)
    C: np.ndarray   # (S, T, N)
    hT: np.ndarray  # (S, P, N): initial state, transposed (a fresh array: kernels update it)
    batch: tuple
    S: int
    T: int
    N: int
    P: int
    dtype: np.dtype


def flatten(family: str, x, a, B, C, initial_state) -> Flat:
    """check_ssm, then broadcast the leading axes and flatten them to S sequences."""
    v = check_ssm(family, x, a, B, C, initial_state)
    S = int(np.prod(v.batch, dtype=np.int64))

    def flat(arr, tail):
        out = np.ascontiguousarray(np.broadcast_to(arr, (*v.batch, *tail)).reshape(S, *tail))
        out = out.view()
        out.flags.writeable = False        # one Numba type whether or not it was copied
        return out

    a_tail = (v.T,) if family == "scalar" else (v.T, v.N)
    hT = np.zeros((S, v.P, v.N), dtype=v.dtype)
    if v.initial_state is not None:
        h0 = np.broadcast_to(v.initial_state, (*v.batch, v.N, v.P)).reshape(S, v.N, v.P)
        hT[...] = np.swapaxes(h0, -1, -2)
    return Flat(flat(v.x, (v.T, v.P)), flat(v.a, a_tail), flat(v.B, (v.T, v.N)),
                flat(v.C, (v.T, v.N)), hT, v.batch, S, v.T, v.N, v.P, v.dtype)


def chunk(chunk_size) -> int:
    """The shared chunk-size check (an integer >= 1; any value works for any T)."""
    return check_chunk_size(chunk_size)


def unflatten(f: Flat, y: np.ndarray, hT: np.ndarray):
    """(S, T, P), (S, P, N) -> y (*batch, T, P), h (*batch, N, P)."""
    h = np.ascontiguousarray(np.swapaxes(hT, -1, -2))
    return y.reshape(*f.batch, f.T, f.P), h.reshape(*f.batch, f.N, f.P)


def channel_blocks(S: int, P: int, multiple: int = 2) -> int:
    """Channel-block width for ``prange`` over (sequence, block): the whole P when there are
    enough sequences for every thread, else P split so that every thread gets work (the
    recurrence is independent across channels). The width is a multiple of ``multiple``."""
    threads = num_threads()
    if S >= 2 * threads or P <= multiple:
        return max(P, 1)
    blocks = min(-(-2 * threads // S), max(P // multiple, 1))
    width = -(-P // blocks)
    return max(multiple, -(-width // multiple) * multiple)
