"""What every public Numba launcher does around its kernels: validate, flatten, reshape back.

:func:`ssd_edu.validation.flatten` (the record shared with the gpu launchers, real dtypes, with
the compiled finiteness pass of ``_finite``) broadcasts the leading axes into nb C-contiguous
read-only sequences (one compiled signature per dtype and family); kernels write only fresh
outputs (y, and ``h0``: h_{-1} in, h_{T-1} out); :func:`ssd_edu.validation.unflatten` reshapes.
The VJP launchers use :func:`flatten_vjp` and :func:`ssd_edu.vjp.finish`.
"""
from __future__ import annotations

from .. import validation, vjp
from ..validation import check_chunk_size, unflatten  # noqa: F401  (the launchers')
from ._finite import all_finite
from ._jit import num_threads


def flatten(family: str, x, a, B, C, initial_state=None) -> validation.Flat:
    """:func:`ssd_edu.validation.flatten` with the compiled finiteness pass."""
    return validation.flatten(family, x, a, B, C, initial_state, finite=all_finite)


def flatten_vjp(family: str, x, a, B, C, dy, dh, initial_state) -> vjp.FlatVJP:
    """:func:`ssd_edu.vjp.flatten_vjp` with the compiled finiteness pass."""
    return vjp.flatten_vjp(family, x, a, B, C, dy, dh, initial_state, finite=all_finite)


def chunk(chunk_size) -> int:
    """The shared chunk-size check (an integer >= 1; any value works for any T)."""
    return check_chunk_size(chunk_size)


def chunked_work(f, Q: int) -> int:
    """The work of a chunked call (forward or VJP) for ``threads_for``: nb T (N P + Q (N + P))."""
    return f.nb * f.T * (f.N * f.P + Q * (f.N + f.P))


def channel_blocks(nb: int, P: int, multiple: int = 2) -> int:
    """Channel-block width (a multiple of ``multiple``) of the scan: all P when there are
    sequences enough for every thread, else P split so that every thread gets work."""
    threads = num_threads()
    if nb >= 2 * threads or P <= multiple:
        return max(P, 1)
    blocks = min(-(-2 * threads // nb), max(P // multiple, 1))
    width = -(-P // blocks)
    return max(multiple, -(-width // multiple) * multiple)


def channel_width(nb: int, P: int) -> int:
    """Channels per job of the scan's backward: all P when there are sequences enough for every
    thread, else P split so that every thread gets a block."""
    threads = num_threads()
    if nb >= threads or P == 1:
        return P
    blocks = min(-(-threads // nb), P)
    return -(-P // blocks)
