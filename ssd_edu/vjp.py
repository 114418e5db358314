"""What every VJP shares: the answer :class:`Grads` and its plumbing.

    g = vjp(x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size=64])

A broadcast input (a B shared across heads) gets one gradient, summed back to its shape
(:func:`finish`); the Numba and CUDA launchers flatten the batch first (:func:`flatten_vjp`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .validation import Flat, SSMInputs, check_cotangents, check_ssm, flat_inputs, read_only


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


class FlatVJP(NamedTuple):
    """A VJP's flattened arguments: the inputs, dy (nb, T, P), dh (nb, N, P), and the checked
    inputs ``v`` (their shapes are the caller's)."""

    f: Flat
    dy: np.ndarray
    dh: np.ndarray
    v: SSMInputs


def flatten_vjp(family: str, x, a, B, C, dy, dh, initial_state, *, finite=None) -> FlatVJP:
    """Validate everything, flatten the batch; dy and dh become C-contiguous read-only
    (nb, ...) arrays. ``finite``: a compiled finiteness test (see ``validation.all_finite``)."""
    v = check_ssm(family, x, a, B, C, initial_state, finite=finite)
    f = flat_inputs(family, v)
    dy, dh = check_cotangents(v, dy, dh, finite=finite)
    return FlatVJP(f, read_only(dy.reshape(f.nb, f.T, f.P)), read_only(dh.reshape(f.nb, f.N, f.P)),
                   v)


def finish(v, dx, da, dB, dC, dh0) -> Grads:
    """Gradients -> Grads summed back to the caller's input shapes (dinitial_state zeros when no
    initial state was given). ``v``: the ``check_ssm`` record (gradients in broadcast shapes)
    or a :class:`FlatVJP` (gradients (nb, ...), fresh arrays the kernels wrote: one that needs
    no summing is returned reshaped, with no copy)."""
    flat = isinstance(v, FlatVJP)
    s = v.v if flat else v

    def back(g, arr):
        if flat:
            g = g.reshape(*s.batch, *g.shape[1:])
            if g.shape == arr.shape and g.flags.c_contiguous:
                return g             # nothing to sum: the kernel's fresh array (no copy)
        return sum_to(np.asarray(g), arr.shape).astype(s.dtype, copy=False)

    if s.initial_state is None:
        dh0 = np.zeros((*s.batch, s.N, s.P), dtype=s.dtype)
    else:
        dh0 = back(dh0, s.initial_state)
    return Grads(back(dx, s.x), back(da, s.a), back(dB, s.B), back(dC, s.C), dh0)


def empty(v, dh=None) -> Grads:
    """T = 0 (or no sequence): zero gradients and dh_{-1} = dh (the final state is h_{-1}).
    ``v``: the ``check_ssm`` record with the checked ``dh``, or a :class:`FlatVJP`."""
    s, dh = (v.v, v.dh) if isinstance(v, FlatVJP) else (v, dh)
    zeros = [np.zeros(arr.shape, s.dtype) for arr in (s.x, s.a, s.B, s.C)]
    return finish(s, *zeros, np.array(dh).reshape(*s.batch, s.N, s.P))
