"""Host side of every CUDA VJP: validate and flatten (``ssd_edu.vjp.flatten_vjp``), allocate the
zeroed gradients the kernels accumulate into, sum back (``ssd_edu.vjp.finish``).
"""
from __future__ import annotations

import numpy as np

from ..vjp import FlatVJP, Grads, finish, flatten_vjp
from ._cuda import cuda, require_cuda


def flatten_device_vjp(family: str, x, a, B, C, dy, dh, initial_state):
    """``(fv, a3)``: the flattened VJP arguments (raises first if CUDA is unavailable) and the
    decays as (nb, T, 1 | N), one layout for both families."""
    require_cuda()
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    a3 = fv.f.a[..., None] if family == "scalar" else fv.f.a
    return fv, a3


def zero_gradients(rows: int, steps: int, fv: FlatVJP, Na: int) -> list:
    """Device zeros for dx (rows, steps, P), da (rows, steps, Na), dB and dC (rows, steps, N)."""
    f = fv.f
    return [cuda.to_device(np.zeros(shape, dtype=f.dtype)) for shape in (
        (rows, steps, f.P), (rows, steps, Na), (rows, steps, f.N), (rows, steps, f.N))]


def finish_modes(fv: FlatVJP, family: str, dx, da, dB, dC, dh0) -> Grads:
    """Host gradients of the nb sequences -> Grads; the scalar family's da loses its mode axis."""
    da = da[..., 0] if family == "scalar" else da
    return finish(fv, dx, da, dB, dC, dh0)
