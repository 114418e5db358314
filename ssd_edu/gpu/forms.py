"""GPU launchers: the reference signature around the numba.cuda kernels of ``kernels``.

Every public function here has the signature of its NumPy reference and returns
``(y, final_state)``::

    y, h = scalar_scan(x, a, B, C, initial_state=None)
    y, h = diagonal_chunked(x, a, B, C, chunk_size=64, initial_state=None)

Shapes: x (..., T, P); a (..., T) (scalar family) or (..., T, N) (diagonal family); B, C
(..., T, N); initial_state and the final state (..., N, P); y (..., T, P). float32 and float64
(integers and booleans are promoted to float64, as everywhere in ssd_edu); complex is refused.

Host or device: inputs may be NumPy arrays or numba device arrays (on a real GPU also any
object with ``__cuda_array_interface__``), mixed freely. If any input is a device array the
outputs are numba device arrays, so a caller can keep data on the GPU; otherwise they are
NumPy arrays. Inputs are never modified.

Validation: the shared checks of :mod:`ssd_edu.validation` (``check_ssm`` with
``allow_complex=False``, ``check_chunk_size``) run before any work. A device array takes part
through a zero-stride host stand-in of its shape and dtype, so the messages are the same
words; the stand-in costs a host boolean temporary of one byte per element inside the
finiteness check, never a copy of the data. Finiteness of a float device array is counted on
the device by a reduction kernel; only when it finds inf or NaN is the array copied to the
host, to raise the usual message. A device array whose dtype differs from the computation
dtype, or that is not C-contiguous, is converted through the host (a slow path; pass
contiguous arrays of one dtype to avoid it).

Algorithms (THEORY.md 1.2, 3.1, 3.2, 4): the scan is one kernel; the attention form is the
block algorithm with a single chunk (Q = T), whose masked matmul visits only tiles on or
below the diagonal; the chunked form runs the chunk states in parallel, the inter-chunk scan,
then the masked matmul inside each chunk plus the entering state. Tile size: see
:func:`tile_size`.
"""
from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import numpy as np

from ..validation import as_array, check_chunk_size, check_ssm
from . import kernels as K
from ._cuda import as_device_array, cuda, is_device_array, require_cuda, simulator_enabled

#: Default tile on a GPU: blocks of (16, 16) threads; shared memory stays below the 48 KiB
#: that a kernel may use without opting in (the scan needs tile**3 elements: 32 KiB in float64).
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

    Blocks are (tile, tile) threads and every shared buffer is sized from it at launch, so no
    recompilation happens. Outside any ``with tile_size(...)`` the tile is
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


class _Launch(NamedTuple):
    """Validated inputs on the device, as the kernels read them (see ``kernels``)."""

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
    names = [k for k in _NAMES if k in device]
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
        K._count_nonfinite_kernel[blocks, threads](arr.reshape(arr.size), count, slot)
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


def _prepare(family: str, x, a, B, C, initial_state, chunk_size=None) -> _Launch:
    """Validate (host rules, device arrays through stand-ins), then move everything to the GPU."""
    values = dict(zip(_NAMES, (x, a, B, C, initial_state)))
    device = {k: as_device_array(v) for k, v in values.items()
              if v is not None and is_device_array(v)}
    checked = {k: _stand_in(device[k]) if k in device else v for k, v in values.items()}
    v = check_ssm(family, *(checked[k] for k in _NAMES), allow_complex=False)
    if chunk_size is not None:
        check_chunk_size(chunk_size)
    if device:
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
    on_device = bool(device)
    if nb == 0 or v.T == 0:
        return _Launch(*(None,) * 5, v.initial_state is not None, None, v.batch, nb, v.T, v.N,
                       v.P, v.dtype, on_device)
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
    return _Launch(dev["x"], dev["a"], dev["B"], dev["C"], h0, has_h0, cuda.to_device(idx),
                   v.batch, nb, v.T, v.N, v.P, v.dtype, on_device)


def _empty_result(values, L: _Launch):
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


def _finish(L: _Launch, y, h):
    """Reshape the flat-batch outputs; device arrays stay on the device only if inputs were."""
    y = y.reshape(*L.batch, L.T, L.P)
    h = h.reshape(*L.batch, L.N, L.P)
    if L.on_device:
        return y, h
    return y.copy_to_host(), h.copy_to_host()


def _shared_bytes(elements: int, dtype) -> int:
    return elements * np.dtype(dtype).itemsize


def _zeros(shape, dtype):
    """A zero-filled device array (filled on the device; no host transfer)."""
    arr = cuda.device_array(shape, dtype=dtype)
    size = math.prod(shape)
    if size:
        threads = min(256, size)
        K._fill_kernel[min(1024, -(-size // threads)), threads](arr.reshape(size),
                                                                np.dtype(dtype).type(0))
    return arr


def _scan(family, x, a, B, C, initial_state):
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = _prepare(family, *values)
    if L.nb == 0 or L.T == 0:
        return _empty_result(values, L)
    tile = get_tile()
    n_pt, n_nt = -(-L.P // tile), -(-L.N // tile)
    atomic = n_nt > 1
    y = _zeros((L.nb, L.T, L.P), L.dtype) if atomic else cuda.device_array(
        (L.nb, L.T, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    K._scan_kernel[L.nb * n_nt * n_pt, (tile, tile), 0,
                   _shared_bytes(K.shared_scan(tile), L.dtype)](
        L.x, L.a, L.B, L.C, L.h0, L.has_h0, L.idx, tile, atomic, y, h)
    return _finish(L, y, h)


def _blocked(family, x, a, B, C, initial_state, chunk_size):
    """The block algorithm on the device: states, inter-chunk scan, output (THEORY 4).

    ``chunk_size=None`` is the attention form: a single chunk of length T.
    """
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = _prepare(family, *values, chunk_size=chunk_size)
    if L.nb == 0 or L.T == 0:
        return _empty_result(values, L)
    tile = get_tile()
    # one chunk covers everything when Q >= T (and in the attention form)
    Q = L.T if chunk_size is None else min(check_chunk_size(chunk_size), L.T)
    J = -(-L.T // Q)
    Na = L.a.shape[2]
    n_pt, n_nt, n_rt = -(-L.P // tile), -(-L.N // tile), -(-L.T // tile)
    # 2. chunk states S_c and chunk decays abar_c, all chunks in parallel
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    K._chunk_states_kernel[L.nb * J * n_nt * n_pt, (tile, tile), 0,
                           _shared_bytes(K.shared_chunk_states(tile), L.dtype)](
        L.x, L.a, L.B, Q, L.idx, tile, S, abar)
    # 3. inter-chunk scan H_c = abar_c H_{c-1} + S_c
    H_prev = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    lanes = L.nb * L.N * L.P
    threads = min(128, lanes)
    K._state_passing_kernel[-(-lanes // threads), threads](S, abar, L.h0, L.has_h0, L.idx,
                                                           H_prev, h)
    # 1 + 4. masked matmul inside each chunk, plus the state entering it
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    use_hin = J > 1 or L.has_h0
    if family == "scalar":
        K._scalar_output_kernel[L.nb * n_rt * n_pt, (tile, tile), 0,
                                _shared_bytes(K.shared_scalar_output(tile), L.dtype)](
            L.x, L.a, L.B, L.C, H_prev, use_hin, Q, L.idx, tile, y)
    else:
        K._diagonal_output_kernel[L.nb * n_rt * n_pt, (tile, tile), 0,
                                  _shared_bytes(K.shared_diagonal_output(tile), L.dtype)](
            L.x, L.a, L.B, L.C, H_prev, use_hin, Q, L.idx, tile, y)
    return _finish(L, y, h)


def scalar_scan(x, a, B, C, initial_state=None):
    """The scalar recurrence on the GPU, one thread per (sequence, state, channel) lane.

    h_t = a_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P). Kernel: ``_scan_kernel``.
    """
    return _scan("scalar", x, a, B, C, initial_state)


def diagonal_scan(x, a, B, C, initial_state=None):
    """The diagonal recurrence on the GPU, one thread per (sequence, state, channel) lane.

    h_t = diag(a_t) h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P). Kernel: ``_scan_kernel``.
    """
    return _scan("diagonal", x, a, B, C, initial_state)


def scalar_attention(x, a, B, C, initial_state=None):
    """Masked attention on the GPU, ``y = (1SS(a) o C B^T) x + delta_t C_t^T h_{-1}``.

    M[t, s] = a_{s+1} ... a_t (C_t . B_s) for t >= s, delta_t = a_0 ... a_t;
    h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}, gamma_s = a_{s+1} ... a_{T-1}.
    A tiled masked matmul over the tiles on or below the diagonal only; no T x T array is
    stored. Shapes as :func:`scalar_scan`.
    """
    return _blocked("scalar", x, a, B, C, initial_state, chunk_size=None)


def diagonal_attention(x, a, B, C, initial_state=None):
    """The sum of N 1-SS masked attentions on the GPU (one head per mode), plus the initial state.

    y_t = sum_n C[t, n] (sum_{s <= t} a_n(t, s) B[s, n] x_s + delta[t, n] h_{-1}[n]),
    a_n(t, s) = a[s+1, n] ... a[t, n], delta[t, n] = a[0, n] ... a[t, n];
    h_{T-1}[n] = sum_s gamma[s, n] B[s, n] x_s + delta[T-1, n] h_{-1}[n].
    Tiled over the tiles on or below the diagonal; no T x T array is stored. Shapes as
    :func:`diagonal_scan`.
    """
    return _blocked("diagonal", x, a, B, C, initial_state, chunk_size=None)


def scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU: attention inside chunks of Q steps, the scan across them.

    Per chunk c (J = ceil(T / Q) chunks, any T and any Q >= 1; the last may be short):
      2. S_c = sum_{s in c} gamma_s B_s x_s^T   (all chunks in parallel)
      3. H_c = abar_c H_{c-1} + S_c             (inter-chunk scan; H_{J-1} is the final state)
      1+4. y_t = sum_{s in c(t), s <= t} M[t, s] x_s + delta_t C_t^T H_{c(t)-1}
    Shapes as :func:`scalar_scan`.
    """
    return _blocked("scalar", x, a, B, C, initial_state, chunk_size=chunk_size)


def diagonal_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU with per-mode decays (every step elementwise per mode).

    As :func:`scalar_chunked`, with per-mode gamma, abar and delta and the sum of N heads
    inside each chunk. Shapes as :func:`diagonal_scan`.
    """
    return _blocked("diagonal", x, a, B, C, initial_state, chunk_size=chunk_size)
