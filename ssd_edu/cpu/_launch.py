"""What every public Numba launcher does around its kernels: validate and flatten the leading
axes into nb C-contiguous read-only sequences, the finiteness test as one compiled pass with no
temporary, finite(v) <=> sum_i (v_i - v_i) == 0 (inf - inf and NaN - NaN are NaN), on every
thread from ``PARALLEL_MIN_SIZE`` entries on; and size the work and the channel blocks."""
from __future__ import annotations

from numba import njit, prange

from .. import validation, vjp
from ._jit import JIT, num_threads

PARALLEL_MIN_SIZE = 1 << 20


@njit(parallel=True, fastmath={"reassoc"}, **JIT)
def _parallel(v):
    acc = v.dtype.type(0)
    for i in prange(v.shape[0]):
        acc += v[i] - v[i]                  # 0 for a finite entry, NaN for inf or NaN
    return acc == 0


@njit(fastmath={"reassoc"}, **JIT)          # its own function: Numba's disk cache tells
def _serial(v):                             # compiled code apart by function, not by flags
    acc = v.dtype.type(0)
    for i in range(v.shape[0]):
        acc += v[i] - v[i]
    return acc == 0


def all_finite(v) -> bool:
    """v (n,) float32/float64: True when every entry is finite."""
    return bool((_parallel if v.shape[0] >= PARALLEL_MIN_SIZE else _serial)(v))


def flatten(family: str, x, a, B, C, initial_state=None) -> validation.Flat:
    return validation.flatten(family, x, a, B, C, initial_state, finite=all_finite)


def flatten_vjp(family: str, x, a, B, C, dy, dh, initial_state) -> vjp.FlatVJP:
    return vjp.flatten_vjp(family, x, a, B, C, dy, dh, initial_state, finite=all_finite)


def chunked_work(f, Q: int) -> int:
    """The work of a chunked call (forward or VJP) for ``threads_for``: nb T (N P + Q (N + P))."""
    return f.nb * f.T * (f.N * f.P + Q * (f.N + f.P))


def channel_width(nb: int, P: int, multiple: int = 1, per_thread: int = 1) -> int:
    """Channels per job (a multiple of ``multiple``): all P when there are ``per_thread`` jobs
    per thread from the sequences alone, else P split so that every thread gets work."""
    jobs = per_thread * num_threads()
    if nb >= jobs or P <= multiple:
        return max(P, 1)
    blocks = min(-(-jobs // nb), max(P // multiple, 1))
    width = -(-P // blocks)
    return max(multiple, -(-width // multiple) * multiple)
