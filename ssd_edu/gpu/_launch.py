"""What every GPU launcher does around its kernels: validate, upload, allocate, reshape back.

Shapes: x (..., T, P); a (..., T) (scalar family) or (..., T, N); B, C (..., T, N);
initial_state and the final state (..., N, P); y (..., T, P). float32 and float64 (integers and
booleans become float64); complex is refused. Inputs are never modified.

Host or device: inputs may be NumPy arrays or numba device arrays (on a GPU any object with
``__cuda_array_interface__``), mixed freely; any device input gives device outputs. Validation
uses the shared checks of :mod:`ssd_edu.validation` before any work, a device array taking part
through a zero-stride host stand-in of its shape and dtype (the same messages) and its
finiteness counted on the device. A device array of another dtype, or not C-contiguous, goes
through the host (a slow path). Tile size: see :func:`tile_size`.
"""
from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import numpy as np

from ..validation import (_STEP_LAYOUTS, Flat, as_array, check_chunk_size, check_ssm,
                          check_step, flatten)
from ._cuda import as_device_array, cuda, is_device_array, require_cuda, simulator_enabled
from ._device import count_nonfinite_kernel

#: Default tile on a GPU: blocks of (16, 16) threads, eight warps (gpu-report's target
#: occupancy and instruction counts are for this tile).
DEFAULT_TILE = 16
#: Default tile on the CUDA simulator, which runs every thread of a block in Python.
SIMULATOR_TILE = 4
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
    """Use ``tile`` (1..16) for the kernels launched inside the ``with`` block.

    Blocks are (tile, tile) threads; the tile is a compile-time constant of every tiled kernel,
    so the first launch at a new tile compiles its kernels (then they are cached for the
    process). Outside any ``with tile_size(...)`` the tile is
    :func:`default_tile`: 16 on a GPU, 4 on the CUDA simulator (each simulated thread runs in
    Python, so small blocks are much faster there).
    """
    if isinstance(tile, (bool, np.bool_)) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile must be an integer in 1..{MAX_TILE}, got {tile!r}")
    if not 1 <= tile <= MAX_TILE:
        raise ValueError(f"tile must be an integer in 1..{MAX_TILE}, got {tile}")
    old = _settings["tile"]
    _settings["tile"] = int(tile)
    try:
        yield int(tile)
    finally:
        _settings["tile"] = old


class Launch(NamedTuple):
    """Validated inputs on the device, as the kernels read them."""

    x: object                 # (nx, T, P)
    a: object                 # (na, T, 1) scalar family, (na, T, N) diagonal family
    B: object                 # (nB, T, N)
    C: object                 # (nC, T, N)
    h0: object                # (nh, N, P), or a (1, 1, 1) placeholder when has_h0 is False
    has_h0: bool
    idx: object               # (5, nb) int64: flat leading index of x, a, B, C, h0 per batch b
    batch: tuple
    nb: int
    T: int
    N: int
    P: int
    dtype: np.dtype
    on_device: bool           # return device arrays


def _stand_in(arr):
    """A zero-stride host array with the shape and dtype of device array ``arr``."""
    return np.broadcast_to(np.zeros((), dtype=arr.dtype), arr.shape)


def _check_device_finite(device: dict) -> None:
    """Raise the shared non-finite message if a float device array holds inf or NaN.

    ``device`` maps argument names to device arrays. The entries are counted on the device
    (one reduction per array, one copy of the counts); only an array found to hold inf or NaN,
    or a strided one, is copied to the host, where ``as_array`` raises the usual message.
    """
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
    found = count.copy_to_host() if names else []
    for slot, name in enumerate(names):
        if found[slot] or name in on_host:
            as_array(name, device[name].copy_to_host())  # raises (or passes: all finite)


def _leading_index(lead: tuple, batch: tuple) -> np.ndarray:
    """For each flat index b of ``batch``, the flat index into the leading axes ``lead``."""
    own = np.arange(math.prod(lead), dtype=np.int64).reshape(lead)
    return np.broadcast_to(own, batch).reshape(-1)


def _upload(value, host, shape3: tuple, dtype):
    """The (lead, T, K) device array of one input, in ``dtype``."""
    if is_device_array(value):
        dev = as_device_array(value)
        if np.dtype(dev.dtype) == dtype and dev.is_c_contiguous():
            return dev.reshape(*shape3)
        host = dev.copy_to_host()  # documented slow path: dtype change or strided array
    return cuda.to_device(np.ascontiguousarray(host, dtype=dtype).reshape(shape3))


def _from_flat(family: str, f: Flat, has_h0: bool) -> Launch:
    """Host inputs: the shared flattened record of :func:`ssd_edu.validation.flatten`, uploaded."""
    if f.nb == 0 or f.T == 0:
        return Launch(*(None,) * 5, has_h0, None, f.batch, f.nb, f.T, f.N, f.P, f.dtype, False)
    a3 = f.a.reshape(f.nb, f.T, 1 if family == "scalar" else f.N)
    idx = np.broadcast_to(np.arange(f.nb, dtype=np.int64), (5, f.nb))   # row b is sequence b
    dev = [cuda.to_device(np.ascontiguousarray(arr)) for arr in (f.x, a3, f.B, f.C, f.h0)]
    return Launch(*dev, has_h0, cuda.to_device(np.ascontiguousarray(idx)), f.batch, f.nb, f.T,
                  f.N, f.P, f.dtype, False)


def prepare(family: str, x, a, B, C, initial_state, chunk_size=None) -> Launch:
    """Validate, then move everything to the GPU.

    Host inputs go through :func:`ssd_edu.validation.flatten` (the record the Numba launchers
    use too). Device inputs are validated through host stand-ins and stay where they are: their
    own leading axes are kept and ``idx`` maps each flat sequence b to them (no broadcast copy).
    """
    values = dict(zip(_NAMES, (x, a, B, C, initial_state)))
    device = {k: as_device_array(v) for k, v in values.items()
              if v is not None and is_device_array(v)}
    if not device:
        f = flatten(family, x, a, B, C, initial_state)
        if chunk_size is not None:
            check_chunk_size(chunk_size)
        return _from_flat(family, f, initial_state is not None)
    checked = {k: _stand_in(device[k]) if k in device else v for k, v in values.items()}
    v = check_ssm(family, *(checked[k] for k in _NAMES), allow_complex=False)
    if chunk_size is not None:
        check_chunk_size(chunk_size)
    _check_device_finite(device)
    nb = math.prod(v.batch)
    Na = 1 if family == "scalar" else v.N
    arrays = {"x": v.x, "a": v.a, "B": v.B, "C": v.C, "initial_state": v.initial_state}
    tails = {"x": (v.T, v.P), "a": (v.T, Na), "B": (v.T, v.N), "C": (v.T, v.N),
             "initial_state": (v.N, v.P)}
    leads = {}
    for name, arr in arrays.items():
        if arr is not None:
            leads[name] = arr.shape[:arr.ndim - (1 if (name == "a" and family == "scalar") else 2)]
    if nb == 0 or v.T == 0:
        return Launch(*(None,) * 5, v.initial_state is not None, None, v.batch, nb, v.T, v.N,
                      v.P, v.dtype, True)
    dev = {}
    for name, arr in arrays.items():
        if arr is None:
            continue
        shape3 = (math.prod(leads[name]), *tails[name])
        dev[name] = _upload(values[name], arr, shape3, v.dtype)
    idx = np.zeros((5, nb), dtype=np.int64)
    for row, name in enumerate(_NAMES):
        if name in leads:
            idx[row] = _leading_index(leads[name], v.batch)
    has_h0 = "initial_state" in dev
    h0 = dev["initial_state"] if has_h0 else cuda.to_device(np.zeros((1, 1, 1), v.dtype))
    return Launch(dev["x"], dev["a"], dev["B"], dev["C"], h0, has_h0, cuda.to_device(idx),
                  v.batch, nb, v.T, v.N, v.P, v.dtype, True)


class Arrays(NamedTuple):
    """Validated arrays of a chunked step on the device, leading axes broadcast and flattened."""

    arrays: dict              # name -> (nb, *tail) device array in dtype
    batch: tuple
    nb: int
    sizes: dict               # letter -> size (T, J, N, P)
    dtype: np.dtype
    on_device: bool           # return device arrays


def prepare_arrays(values: dict) -> Arrays:
    """Validate the named arrays of a chunked step with ``validation.check_step`` (device arrays
    through host stand-ins; None skipped) and upload them, leading axes broadcast and flattened;
    a broadcast device array, or one of another dtype, goes through the host."""
    device = {k: as_device_array(v) for k, v in values.items()
              if v is not None and is_device_array(v)}
    v = check_step(**{k: _stand_in(device[k]) if k in device else val
                      for k, val in values.items()})
    arrays, batch, dtype = v.arrays, v.batch, v.dtype
    tails = {k: arr.shape[arr.ndim - len(_STEP_LAYOUTS[k]):] for k, arr in arrays.items()}
    if device:
        _check_device_finite(device)
    nb = math.prod(batch)
    out = {}
    for name, arr in arrays.items():
        tail = tails[name]
        if nb == 0:
            continue
        if (name in device and arr.shape[:arr.ndim - len(tail)] == batch
                and np.dtype(device[name].dtype) == dtype and device[name].is_c_contiguous()):
            out[name] = device[name].reshape(nb, *tail)
            continue
        host = device[name].copy_to_host() if name in device else arr
        host = np.broadcast_to(host.astype(dtype, copy=False), (*batch, *tail))
        out[name] = cuda.to_device(np.ascontiguousarray(host).reshape(nb, *tail))
    return Arrays(out, batch, nb, v.sizes, np.dtype(dtype), bool(device))


def empty_result(values, L: Launch):
    """y and the final state when there is nothing to compute (T = 0 or an empty batch)."""
    y = np.zeros((*L.batch, L.T, L.P), dtype=L.dtype)
    h = np.zeros((*L.batch, L.N, L.P), dtype=L.dtype)
    h0 = values[4]
    if h0 is not None and h.size:
        h0 = as_device_array(h0).copy_to_host() if is_device_array(h0) else np.asarray(h0)
        h[...] = h0
    if L.on_device:
        return cuda.to_device(y), cuda.to_device(h)
    return y, h


def finish(L: Launch, y, h):
    """Reshape the flat-batch outputs; device arrays stay on the device only if inputs were."""
    y = y.reshape(*L.batch, L.T, L.P)
    h = h.reshape(*L.batch, L.N, L.P)
    if L.on_device:
        return y, h
    return y.copy_to_host(), h.copy_to_host()
