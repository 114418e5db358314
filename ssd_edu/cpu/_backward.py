"""What every Numba VJP launcher does around its kernels: validate, flatten, sum back.

A VJP launcher validates and flattens the inputs with :func:`ssd_edu.validation.flatten` and
the cotangents with :func:`ssd_edu.validation.check_cotangents` (before any work), runs its
kernels on the nb flattened sequences, and :func:`finish` reshapes the gradients to the
broadcast batch and sums them back to each input's own shape (``reference.backward.sum_to``),
so a B shared across heads gets one gradient.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from ..reference.backward import Grads, sum_to
from ..validation import Flat, check_cotangents, flatten


class FlatVJP(NamedTuple):
    """A VJP's flattened arguments: the inputs, dy (nb, T, P), dh (nb, N, P), input shapes."""

    f: Flat
    dy: np.ndarray
    dh: np.ndarray
    shapes: dict           # the caller's shapes of x, a, B, C, initial_state (None if absent)


def flatten_vjp(family: str, x, a, B, C, dy, dh, initial_state) -> FlatVJP:
    """Validate everything, flatten the batch; dy and dh become C-contiguous (nb, ...) arrays."""
    f = flatten(family, x, a, B, C, initial_state)
    dy, dh = check_cotangents(f, dy, dh)
    shapes = dict(x=np.shape(x), a=np.shape(a), B=np.shape(B), C=np.shape(C),
                  initial_state=None if initial_state is None else np.shape(initial_state))
    return FlatVJP(f, read_only(dy.reshape(f.nb, f.T, f.P)), read_only(dh.reshape(f.nb, f.N, f.P)),
                   shapes)


def read_only(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only view (a copy if needed): one Numba type for every kernel input,
    as ``validation.flatten`` gives the inputs, so each kernel compiles once per dtype."""
    out = np.ascontiguousarray(arr).view()
    out.flags.writeable = False
    return out


def finish(fv: FlatVJP, dx, da, dB, dC, dh0) -> Grads:
    """Gradients of the nb sequences -> Grads summed back to the caller's input shapes.

    A gradient that needs no summing is returned as it is (reshaped, no copy), so the arrays
    passed in must be fresh ones the kernels wrote, never views of an input or a cotangent."""
    f, shapes = fv.f, fv.shapes
    lead = f.batch

    def back(g, name):
        g = g.reshape(*lead, *g.shape[1:])
        if g.shape == shapes[name] and g.flags.c_contiguous:
            return g                 # nothing to sum: the kernel's fresh array (no copy)
        return sum_to(g, shapes[name]).astype(f.dtype, copy=False)

    if shapes["initial_state"] is None:
        dh0 = np.zeros((*lead, f.N, f.P), dtype=f.dtype)
    else:
        dh0 = back(dh0, "initial_state")
    return Grads(back(dx, "x"), back(da, "a"), back(dB, "B"), back(dC, "C"), dh0)


def empty(fv: FlatVJP) -> Grads:
    """T = 0: nothing to pull back through; dh_{-1} = dh (the final state is h_{-1})."""
    f = fv.f
    zeros = np.zeros
    return finish(fv, zeros(f.x.shape, f.dtype), zeros(f.a.shape, f.dtype),
                  zeros(f.B.shape, f.dtype), zeros(f.C.shape, f.dtype), np.array(fv.dh))


def channel_width(nb: int, P: int) -> int:
    """Channels per job of the scan's backward: all P when there are sequences enough for every
    thread, else P split so that every thread gets a block (blocks write partial dB, dC, da)."""
    threads = numba.get_num_threads()
    if nb >= threads or P == 1:
        return P
    blocks = min(-(-threads // nb), P)
    return -(-P // blocks)
