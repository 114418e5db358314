"""Timing helpers for the benchmark (``python -m ssd_edu bench --backend cuda``).

* :func:`time_cuda` - kernel time with the data already on the device, and transfer time.
* :func:`device_matmul_rate` - flop/s of a dense tiled shared-memory matmul on the device: a
  practical peak for the masked-matmul forms, NOT the vendor peak (numba.cuda has no cuBLAS,
  and a vendor BLAS with tensor cores is several times faster).

Timer: CUDA events on a real GPU. The simulator's events record nothing, so there the
helpers use ``time.perf_counter`` around ``cuda.synchronize()``; simulator times measure the
Python simulation, not a GPU, and say nothing about device speed (``"timer"`` says which).
"""
from __future__ import annotations

import time

import numpy as np

from ._cuda import cuda, is_device_array, require_cuda, simulator_enabled
from ._matmul import MATMUL_TILE, matmul_kernel, shared_matmul
#: Largest matmul size run on the simulator (each thread is simulated in Python).
SIMULATOR_MATMUL_N = 16


class _Timer:
    """Seconds between ``start()`` and ``stop()``: CUDA events on a GPU, synchronized wall clock
    on the simulator."""

    def __init__(self):
        self.events = not simulator_enabled()
        self.name = "cuda events" if self.events else "perf_counter + synchronize (simulator)"

    def start(self):
        if self.events:
            self._begin = cuda.event()
            self._begin.record()
        else:
            cuda.synchronize()
            self._begin = time.perf_counter()

    def stop(self) -> float:
        if self.events:
            end = cuda.event()
            end.record()
            end.synchronize()
            return cuda.event_elapsed_time(self._begin, end) / 1e3
        cuda.synchronize()
        return time.perf_counter() - self._begin


def _to_device(value):
    return cuda.to_device(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value


def _leaves(out):
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in _leaves(item)]
    return [out]


def time_cuda(fn, args: tuple, kwargs: dict, repeats: int) -> dict:
    """Time ``fn(*args, **kwargs)`` on the device.

    NumPy arrays among ``args`` and ``kwargs`` values are copied to the device first (timed);
    then one warm-up call (JIT compilation), then ``repeats`` timed calls with the data already
    on the device; then the outputs are copied back to the host (timed).

    Returns a dict:
      ``kernel_s``   list of ``repeats`` seconds per call on device-resident data (each call is
                     the launcher: validation, including its on-device finiteness count, and
                     every kernel of the form);
      ``transfer_s`` seconds of the host->device copies of the inputs plus the device->host
                     copies of the outputs;
      ``h2d_s``, ``d2h_s`` the two parts of ``transfer_s``;
      ``timer``      "cuda events", or the wall clock used on the simulator;
      ``simulator``  True when the CUDA simulator ran (times are then not GPU times).
    """
    require_cuda()
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    timer = _Timer()
    timer.start()
    dargs = tuple(_to_device(v) for v in args)
    dkwargs = {k: _to_device(v) for k, v in kwargs.items()}
    h2d = timer.stop()
    out = fn(*dargs, **dkwargs)                     # warm-up: compiles the kernels
    cuda.synchronize()
    kernel_s = []
    for _ in range(repeats):
        timer.start()
        out = fn(*dargs, **dkwargs)
        kernel_s.append(timer.stop())
    timer.start()
    for leaf in _leaves(out):
        if is_device_array(leaf):
            leaf.copy_to_host()
    d2h = timer.stop()
    return {"kernel_s": kernel_s, "transfer_s": h2d + d2h, "h2d_s": h2d, "d2h_s": d2h,
            "timer": timer.name, "simulator": simulator_enabled()}


def device_matmul_rate(dtype, n: int = 4096) -> float:
    """flop/s of an (n, n) @ (n, n) matmul in ``dtype`` on the device: 2 n**3 / best time.

    The kernel is the tiled shared-memory matmul ``_matmul.matmul_kernel`` (blocks of
    (16, 16) threads): a practical peak that a simple CUDA kernel reaches, not the vendor peak.
    Best of 3 timed runs after a warm-up. On the simulator n is capped at
    ``SIMULATOR_MATMUL_N`` (the number is then a simulator speed, not a GPU one).
    """
    require_cuda()
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(min(n, SIMULATOR_MATMUL_N)) if simulator_enabled() else int(n)
    tile = min(MATMUL_TILE, n)
    rng = np.random.default_rng(0)
    A = cuda.to_device(rng.standard_normal((n, n)).astype(dtype))
    B = cuda.to_device(rng.standard_normal((n, n)).astype(dtype))
    out = cuda.device_array((n, n), dtype=dtype)
    blocks = (-(-n // tile)) ** 2
    shared = shared_matmul(tile) * dtype.itemsize
    launch = matmul_kernel[blocks, (tile, tile), 0, shared]
    launch(A, B, out, tile)                          # warm-up: compiles the kernel
    timer = _Timer()
    best = float("inf")
    for _ in range(3):
        timer.start()
        launch(A, B, out, tile)
        best = min(best, timer.stop())
    return 2.0 * n**3 / best
