"""Compilation settings and small compile-time helpers shared by every Numba CPU kernel.

* ``JIT``: ``cache=True`` (compiled once per signature, then loaded from disk),
  ``error_model='numpy'`` (no Python division checks in inner loops), ``boundscheck=False``.
* ``FASTMATH = {'contract', 'reassoc'}``: allows fused multiply-add and reordering of sums
  (needed to vectorize the sums over n). It never flushes subnormals to zero and never assumes
  finite values, so tiny decays (1e-300) and long mask tails keep their values (THEORY.md 5.9).
* ``decay(a, t)`` / ``at(row, n)``: one kernel source for both families. In the scalar family a
  sequence's decays ``a`` are (T,) and ``decay(a, t)`` is the number a_t; in the diagonal family
  they are (T, N) and ``decay(a, t)`` is the row a_t. ``at(row, n)`` is then a_t or a[t, n].
  Numba picks the branch from the argument types at compile time.
* ``stack_array(K, dtype)``: a length-K array on the stack, for a state tile that the compiler
  keeps in registers across the time loop.
"""
from __future__ import annotations

import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

JIT = dict(cache=True, error_model="numpy", boundscheck=False, nogil=True)
FASTMATH = {"contract", "reassoc"}


def decay(a, t):
    """a_t of one sequence: a number (scalar family, a (T,)) or a row (diagonal, a (T, N))."""
    return a[t]


def decay_slice(a, t, n0, n1):
    """a_t restricted to modes [n0, n1): the number a_t (scalar) or the view a[t, n0:n1]."""
    return a[t] if a.ndim == 1 else a[t, n0:n1]


def at(row, n):
    """Mode n of a decay row: the row itself for the scalar family, row[n] for the diagonal."""
    return row[n] if getattr(row, "ndim", 0) else row


@overload(decay, inline="always")
def _decay_ol(a, t):
    return lambda a, t: a[t]


@overload(decay_slice, inline="always")
def _decay_slice_ol(a, t, n0, n1):
    if a.ndim == 1:
        return lambda a, t, n0, n1: a[t]
    return lambda a, t, n0, n1: a[t, n0:n1]


@overload(at, inline="always")
def _at_ol(row, n):
    if isinstance(row, types.Array):
        return lambda row, n: row[n]
    return lambda row, n: row


@intrinsic
def stack_array(typingctx, size, dtype):
    """An uninitialized C-contiguous 1-D array of literal length ``size`` on the stack."""
    if not isinstance(size, types.IntegerLiteral) or not isinstance(dtype, types.DTypeSpec):
        return None
    arrty = types.Array(dtype.dtype, 1, "C")

    def codegen(context, builder, signature, args):
        count = size.literal_value
        ll_type = context.get_data_type(arrty.dtype)
        itemsize = context.get_abi_sizeof(ll_type)
        data = cgutils.alloca_once(builder, ll_type, size=count)
        ary = make_array(arrty)(context, builder)
        populate_array(ary, data=data,
                       shape=[context.get_constant(types.intp, count)],
                       strides=[context.get_constant(types.intp, itemsize)],
                       itemsize=context.get_constant(types.intp, itemsize), meminfo=None)
        return ary._getvalue()

    return arrty(size, dtype), codegen


def num_threads() -> int:
    """Threads Numba's parallel loops use."""
    return numba.get_num_threads()
