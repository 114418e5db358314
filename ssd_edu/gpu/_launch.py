"""What every GPU launcher does around its kernels: validate, upload, allocate, reshape back.

Shapes: x (..., T, P); a (..., T) or (..., T, N); B, C (..., T, N); initial_state and the
final state (..., N, P); y (..., T, P); float32 or float64 (complex refused); inputs never
modified. NumPy or numba device arrays (on a GPU any ``__cuda_array_interface__``), mixed; any
device input gives device outputs; one of another dtype, or strided, goes through the host.
"""
from __future__ import annotations

import contextlib
import math
from collections import namedtuple

import numpy as np

from ..validation import (_STEP_LAYOUTS, as_array, check_chunk_size, check_positive_int,
                          check_ssm, check_step)
from ._cuda import as_device_array, cuda, is_device_array, simulator_enabled
from ._device import count_nonfinite_kernel

#: Default tile on a GPU: blocks of (16, 16) threads (what gpu-report's targets are for).
DEFAULT_TILE = 16
SIMULATOR_TILE = 4          # the simulator runs every thread of a block in Python
MAX_TILE = 16

_settings = {"tile": None}  # None: the default of the machine (see default_tile)

_NAMES = ("x", "a", "B", "C", "initial_state")


def default_tile() -> int:
    """``DEFAULT_TILE`` on a GPU, ``SIMULATOR_TILE`` on the CUDA simulator."""
    return SIMULATOR_TILE if simulator_enabled() else DEFAULT_TILE


def get_tile() -> int:
    """The tile size the launchers use now (blocks of (tile, tile) threads)."""
    return _settings["tile"] or default_tile()


@contextlib.contextmanager
def tile_size(tile: int):
    """Use ``tile`` (1..16) for the kernels launched inside the ``with`` block: blocks of
    (tile, tile) threads, the tile compiled in (a new tile compiles). Else :func:`default_tile`."""
    if check_positive_int("tile", tile) > MAX_TILE:
        raise ValueError(f"tile must be an integer in 1..{MAX_TILE}, got {tile}")
    old, _settings["tile"] = _settings["tile"], int(tile)
    try:
        yield int(tile)
    finally:
        _settings["tile"] = old


#: Validated inputs on the device, as the kernels read them: x (nx, T, P), a (na, T, 1 | N),
#: B, C (nB | nC, T, N), h0 (nh, N, P) (a (1, 1, 1) placeholder unless has_h0), idx (5, nb)
#: int64 (the row of x, a, B, C, h0 that sequence b reads); on_device: return device arrays.
Launch = namedtuple("Launch", "x a B C h0 has_h0 idx batch nb T N P dtype on_device")


def _checked(values: dict, check):
    """``(check(host values), device)``: device arrays (name -> array) checked through zero-stride
    host stand-ins, then counted for inf / NaN on the device (only a failing or strided array is
    copied to the host, to raise the shared message)."""
    device = {k: as_device_array(v) for k, v in values.items()
              if v is not None and is_device_array(v)}
    v = check({k: np.broadcast_to(np.zeros((), dtype=device[k].dtype), device[k].shape)
               if k in device else arr for k, arr in values.items()})
    if not device:
        return v, device
    names = list(device)
    count = cuda.to_device(np.zeros(len(names), dtype=np.int64))
    on_host = []
    for slot, name in enumerate(names):
        arr = device[name]
        if np.dtype(arr.dtype).kind != "f" or arr.size == 0:
            continue
        if not arr.is_c_contiguous():
            on_host.append(name)
            continue
        threads = min(256, arr.size)
        blocks = min(1024, -(-arr.size // threads))
        count_nonfinite_kernel[blocks, threads](arr.reshape(arr.size), count, slot)
    found = count.copy_to_host()
    for slot, name in enumerate(names):
        if found[slot] or name in on_host:
            as_array(name, device[name].copy_to_host())  # raises (or passes: all finite)
    return v, device


def _upload(value, host, shape3: tuple, dtype):
    """The (lead, T, K) device array of one input, in ``dtype``."""
    if is_device_array(value):
        dev = as_device_array(value)
        if np.dtype(dev.dtype) == dtype and dev.is_c_contiguous():
            return dev.reshape(*shape3)
        host = dev.copy_to_host()  # documented slow path: dtype change or strided array
    return cuda.to_device(np.ascontiguousarray(host, dtype=dtype).reshape(shape3))


def prepare(family: str, x, a, B, C, initial_state, chunk_size=None) -> Launch:
    """Validate, then move everything to the GPU: each input with its own leading axes, ``idx``
    mapping each flat sequence b to them (no broadcast copy)."""
    values = dict(zip(_NAMES, (x, a, B, C, initial_state)))
    v, device = _checked(values, lambda checked: check_ssm(
        family, *(checked[k] for k in _NAMES), allow_complex=False))
    if chunk_size is not None:
        check_chunk_size(chunk_size)
    nb = math.prod(v.batch)
    if nb == 0 or v.T == 0:
        return Launch(*(None,) * 5, v.initial_state is not None, None, v.batch, nb, v.T, v.N,
                      v.P, v.dtype, bool(device))
    Na = 1 if family == "scalar" else v.N
    tails = ((v.T, v.P), (v.T, Na), (v.T, v.N), (v.T, v.N), (v.N, v.P))
    dev, idx = {}, np.zeros((5, nb), dtype=np.int64)
    for row, (name, arr, tail) in enumerate(zip(_NAMES, (v.x, v.a, v.B, v.C, v.initial_state),
                                                tails)):
        if arr is not None:
            # this input's own leading axes (the scalar family's a has one trailing axis)
            lead = arr.shape[:arr.ndim - (1 if (name == "a" and family == "scalar") else 2)]
            dev[name] = _upload(values[name], arr, (math.prod(lead), *tail), v.dtype)
            # for each flat sequence b, the flat index into this input's leading axes
            idx[row] = np.broadcast_to(np.arange(math.prod(lead)).reshape(lead), v.batch).ravel()
    has_h0 = "initial_state" in dev
    h0 = dev["initial_state"] if has_h0 else cuda.to_device(np.zeros((1, 1, 1), v.dtype))
    return Launch(dev["x"], dev["a"], dev["B"], dev["C"], h0, has_h0, cuda.to_device(idx),
                  v.batch, nb, v.T, v.N, v.P, v.dtype, bool(device))


#: Validated arrays of a chunked step on the device: arrays (name -> (nb, *tail) in dtype,
#: leading axes broadcast and flattened), sizes (letter -> size); on_device as Launch.
Arrays = namedtuple("Arrays", "arrays batch nb sizes dtype on_device")


def prepare_arrays(values: dict) -> Arrays:
    """Validate (:func:`ssd_edu.validation.check_step`) and upload the named arrays of a chunked
    step, host or device; leading axes broadcast (through the host for a device array)."""
    v, device = _checked(values, lambda checked: check_step(**checked))
    nb = math.prod(v.batch)
    out = {}
    for name, arr in v.arrays.items():
        tail = arr.shape[arr.ndim - len(_STEP_LAYOUTS[name]):]
        if nb == 0:
            continue
        if (name in device and arr.shape[:arr.ndim - len(tail)] == v.batch
                and np.dtype(device[name].dtype) == v.dtype and device[name].is_c_contiguous()):
            out[name] = device[name].reshape(nb, *tail)
            continue
        host = device[name].copy_to_host() if name in device else arr
        host = np.broadcast_to(host.astype(v.dtype, copy=False), (*v.batch, *tail))
        out[name] = cuda.to_device(np.ascontiguousarray(host).reshape(nb, *tail))
    return Arrays(out, v.batch, nb, v.sizes, np.dtype(v.dtype), bool(device))


def zero_outputs(shapes: list, dtype, on_device: bool) -> tuple:
    """Zero arrays of ``shapes``, on the device if ``on_device``."""
    out = [np.zeros(shape, dtype=dtype) for shape in shapes]
    return tuple(cuda.to_device(arr) for arr in out) if on_device else tuple(out)


def empty_result(values, L: Launch):
    """y and the final state (the initial state, or zeros) when T = 0 or the batch is empty."""
    y, h = zero_outputs([(*L.batch, L.T, L.P), (*L.batch, L.N, L.P)], L.dtype, False)
    h0 = values[4]
    if h0 is not None and h.size:
        h[...] = as_device_array(h0).copy_to_host() if is_device_array(h0) else np.asarray(h0)
    return (cuda.to_device(y), cuda.to_device(h)) if L.on_device else (y, h)


def finish(arrays: list, batch: tuple, on_device: bool) -> tuple:
    """Flat (nb, ...) results -> (*batch, ...), on the host unless the inputs were not."""
    out = [arr.reshape(*batch, *arr.shape[1:]) for arr in arrays]
    return tuple(out if on_device else [arr.copy_to_host() for arr in out])
