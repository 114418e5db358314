"""What every public Numba launcher does around its kernels: validate, flatten, reshape back.

A launcher validates and flattens with :func:`ssd_edu.validation.flatten` (the record shared
with the gpu launchers: the leading axes broadcast to ``batch`` and flattened into nb
sequences, C-contiguous, one dtype; real dtypes only: the kernels are real). Every input then
reaches the kernels as a read-only view, copy or not, so one compiled signature per dtype and
family serves every call (Numba types a read-only array apart from a writable one). The
kernels write only into fresh outputs (y, and the state ``h0`` of the record, a fresh
array that enters as h_{-1} and leaves as h_{T-1}), so the caller's arrays are never
modified. The state stays (nb, N, P) from here to the kernels and back.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_chunk_size
from ._jit import num_threads

try:
    from ..validation import Flat
    from ..validation import flatten as _flatten
except ImportError:       # until main's validation.flatten is merged (issue 10, item 4)
    from typing import NamedTuple

    from ..validation import check_ssm

    class Flat(NamedTuple):
        x: np.ndarray
        a: np.ndarray
        B: np.ndarray
        C: np.ndarray
        h0: np.ndarray
        batch: tuple
        nb: int
        T: int
        N: int
        P: int
        dtype: np.dtype

    def _flatten(family, x, a, B, C, initial_state):
        v = check_ssm(family, x, a, B, C, initial_state)
        nb = int(np.prod(v.batch, dtype=np.int64))

        def flat(arr, tail):
            return np.ascontiguousarray(np.broadcast_to(arr, (*v.batch, *tail)).reshape(nb, *tail))

        h0 = np.zeros((nb, v.N, v.P), dtype=v.dtype)
        if v.initial_state is not None:
            h0[...] = np.broadcast_to(v.initial_state, (*v.batch, v.N, v.P)).reshape(nb, v.N, v.P)
        a_tail = (v.T,) if family == "scalar" else (v.T, v.N)
        return Flat(flat(v.x, (v.T, v.P)), flat(v.a, a_tail), flat(v.B, (v.T, v.N)),
                    flat(v.C, (v.T, v.N)), h0, v.batch, nb, v.T, v.N, v.P, v.dtype)


def _read_only(arr: np.ndarray) -> np.ndarray:
    out = arr.view()
    out.flags.writeable = False        # one Numba type whether or not it was copied
    return out


def flatten(family: str, x, a, B, C, initial_state) -> Flat:
    """Validate and flatten to nb sequences (:func:`ssd_edu.validation.flatten`); the inputs
    x, a, B, C read-only, the state h0 (nb, N, P) fresh and writable."""
    f = _flatten(family, x, a, B, C, initial_state)
    return f._replace(x=_read_only(f.x), a=_read_only(f.a), B=_read_only(f.B),
                      C=_read_only(f.C))


def chunk(chunk_size) -> int:
    """The shared chunk-size check (an integer >= 1; any value works for any T)."""
    return check_chunk_size(chunk_size)


def unflatten(f: Flat, y: np.ndarray, h: np.ndarray):
    """(nb, T, P), (nb, N, P) -> y (*batch, T, P), h (*batch, N, P)."""
    return y.reshape(*f.batch, f.T, f.P), h.reshape(*f.batch, f.N, f.P)


def channel_blocks(nb: int, P: int, multiple: int = 2) -> int:
    """Channel-block width for ``prange`` over (sequence, block): the whole P when there are
    enough sequences for every thread, else P split so that every thread gets work (the
    recurrence is independent across channels). The width is a multiple of ``multiple``."""
    threads = num_threads()
    if nb >= 2 * threads or P <= multiple:
        return max(P, 1)
    blocks = min(-(-2 * threads // nb), max(P // multiple, 1))
    width = -(-P // blocks)
    return max(multiple, -(-width // multiple) * multiple)
