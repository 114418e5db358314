"""numba.cuda GPU kernels: scan, masked matmul (attention) and chunked forms, same signature.

    y, h = ssd_edu.gpu.scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None)

Names and shapes are those of :mod:`ssd_edu.reference` (``{family}_{form}`` with family in
scalar, diagonal and form in scan, attention, chunked); every function returns
``(y, final_state)`` and is registered as ``"cuda.{family}.{form}"``. Inputs may be NumPy
arrays or numba device arrays; device arrays in give device arrays out (see :mod:`.forms`).

Without a GPU: set ``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported and everything
runs on numba's CUDA simulator (every thread in Python: keep sizes tiny; the default tile is
then 4 instead of 16, see :func:`tile_size`). Without a GPU and without the simulator, or
without numba-cuda, the functions still exist and raise :class:`CudaUnavailableError` saying
so; ``import ssd_edu`` always works.

Modules: ``kernels`` (the @cuda.jit bodies: naive loop, thread/block mapping and shared
memory in each docstring), ``forms`` (launchers: validation, allocation, grid), ``timing``
(benchmark helpers: ``cuda_available``, ``time_cuda``, ``device_matmul_rate``).
"""
from __future__ import annotations

from ._cuda import CudaUnavailableError, simulator_enabled
from .forms import (DEFAULT_TILE, SIMULATOR_TILE, default_tile, diagonal_attention,
                    diagonal_chunked, diagonal_scan, get_tile, scalar_attention, scalar_chunked,
                    scalar_scan, tile_size)
from .timing import cuda_available, device_matmul_rate, time_cuda

__all__ = [
    "CudaUnavailableError", "simulator_enabled", "cuda_available", "time_cuda",
    "device_matmul_rate", "tile_size", "get_tile", "default_tile", "DEFAULT_TILE",
    "SIMULATOR_TILE",
    "scalar_scan", "scalar_attention", "scalar_chunked",
    "diagonal_scan", "diagonal_attention", "diagonal_chunked",
]
