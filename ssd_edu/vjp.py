"""What every vector-Jacobian product (VJP) of every backend shares: the answer and its plumbing.

    g = vjp(x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size=64])
    g.dx, g.da, g.dB, g.dC, g.dinitial_state          # each with the shape of its input

:class:`Grads` is that answer. A broadcast input (a B shared across heads) gets one gradient:
the per-sequence gradients are summed back to its shape (:func:`sum_to`). The NumPy reference
works on broadcast arrays (:func:`finish_broadcast`, :func:`empty_broadcast`); the Numba and
CUDA launchers validate and flatten the batch to nb sequences (:func:`flatten_vjp`) and sum
the flat gradients back with :func:`finish` (:func:`empty` for T = 0).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .validation import Flat, check_cotangents, flatten


class Grads(NamedTuple):
    """Gradients of ``<dy, y> + <dh, h_{T-1}>``, each with the shape of its input."""

    dx: np.ndarray              # x's shape (..., T, P)
    da: np.ndarray              # a's shape (..., T) or (..., T, N)
    dB: np.ndarray              # B's shape (..., T, N)
    dC: np.ndarray              # C's shape (..., T, N)
    dinitial_state: np.ndarray  # initial_state's shape, or (*batch, N, P) zeros when none given


def sum_to(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back to an input's ``shape`` (leading and size-1 axes)."""
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def finish_broadcast(v, dx, da, dB, dC, dh0) -> Grads:
    """Gradients in broadcast shapes -> Grads summed back to the inputs of ``v`` (the
    ``validation.check_ssm`` record); zeros for dinitial_state when no initial state was given."""
    if v.initial_state is None:
        dh0 = np.zeros((*v.batch, v.N, v.P), dtype=v.dtype)
    else:
        dh0 = sum_to(dh0, v.initial_state.shape)
    return Grads(*(np.asarray(g, dtype=v.dtype) for g in (
        sum_to(dx, v.x.shape), sum_to(da, v.a.shape), sum_to(dB, v.B.shape),
        sum_to(dC, v.C.shape), dh0)))


def empty_broadcast(v, dh) -> Grads:
    """The gradients of a T = 0 call: empty dx, da, dB, dC, and dh_{-1} = dh (h_{T-1} = h_{-1})."""
    return finish_broadcast(v, np.zeros(v.x.shape, v.dtype), np.zeros(v.a.shape, v.dtype),
                            np.zeros(v.B.shape, v.dtype), np.zeros(v.C.shape, v.dtype), dh)


class FlatVJP(NamedTuple):
    """A VJP's flattened arguments: the inputs, dy (nb, T, P), dh (nb, N, P), input shapes."""

    f: Flat
    dy: np.ndarray
    dh: np.ndarray
    shapes: dict           # the caller's shapes of x, a, B, C, initial_state (None if absent)


def flatten_vjp(family: str, x, a, B, C, dy, dh, initial_state, *, finite=None) -> FlatVJP:
    """Validate everything, flatten the batch; dy and dh become C-contiguous read-only
    (nb, ...) arrays. ``finite``: a compiled finiteness test (see ``validation.all_finite``)."""
    f = flatten(family, x, a, B, C, initial_state, finite=finite)
    dy, dh = check_cotangents(f, dy, dh, finite=finite)
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
