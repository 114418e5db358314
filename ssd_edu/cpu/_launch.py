"""What every public Numba launcher does around its kernels: validate, flatten, reshape back.

A launcher validates and flattens with :func:`ssd_edu.validation.flatten`, the record shared
with the gpu launchers (the leading axes broadcast to ``batch`` and flattened into nb
sequences, C-contiguous, one dtype; real dtypes only: the kernels are real). Every input
reaches the kernels read-only, copied or not, so one compiled signature per dtype and family
serves every call (Numba types a read-only array apart from a writable one). The kernels
write only into fresh outputs: y, and the record's state ``h0`` (a fresh array that enters as
h_{-1} and leaves as h_{T-1}), so the caller's arrays are never modified. The state stays
(nb, N, P) from here to the kernels and back; :func:`ssd_edu.validation.unflatten` reshapes.
The finiteness pass of the validation is the compiled one of ``_finite`` (large inputs are
read once, with no temporary). The VJP launchers do the same with :func:`flatten_vjp` and sum
the gradients back with :func:`ssd_edu.vjp.finish`.
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
    """The size of a chunked call (forward or VJP) for ``_jit.threads_for``: the state updates
    and the intra-chunk mask entries times widths, nb T (N P + Q (N + P))."""
    return f.nb * f.T * (f.N * f.P + Q * (f.N + f.P))


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


def channel_width(nb: int, P: int) -> int:
    """Channels per job of the scan's backward: all P when there are sequences enough for every
    thread, else P split so that every thread gets a block (blocks write partial dB, dC, da)."""
    threads = num_threads()
    if nb >= threads or P == 1:
        return P
    blocks = min(-(-threads // nb), P)
    return -(-P // blocks)
