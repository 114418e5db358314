"""numba.cuda GPU kernels: scan, masked matmul (attention) and chunked forms, same signature.

    y, h = ssd_edu.gpu.scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None)

Names and shapes are those of :mod:`ssd_edu.reference` (``{family}_{form}`` with family in
scalar, diagonal and form in scan, attention, chunked); every function returns
``(y, final_state)`` and is registered as ``"cuda.{family}.{form}"`` when CUDA can run here.
Inputs may be NumPy arrays or numba device arrays; device arrays in give device arrays out
(see :mod:`._launch`).

Without a GPU: set ``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported and everything
runs on numba's CUDA simulator (every thread in Python: keep sizes tiny; the default tile is
then 4 instead of 16, see :func:`tile_size`). Without a GPU and without the simulator, or
without numba-cuda, the functions still exist and raise :class:`CudaUnavailableError` saying
so; ``ssd_edu.MISSING_BACKENDS["cuda"]`` gives the same reason; ``import ssd_edu`` always works.

Modules mirror ``ssd_edu/cpu/``: ``scan`` (the recurrence parallel over T), ``chunked`` (the
four steps intra_chunk, chunk_states, state_passing, chunk_output, their kernels and the
chunked form), ``attention`` (the chunked form with one chunk); each holds its launchers
and kernel bodies (naive loop, thread/block mapping and shared memory in each docstring).
``_launch`` (validation, upload, tile size, reshape back), ``_device`` (the kernel factory that
compiles tile, family and dtype in, and the inline device helpers the tiled kernels share), ``_cuda`` (the guarded import and the one availability
probe), ``_backward`` (the VJP launchers' host side, on :mod:`ssd_edu.vjp`). The tools that
time, read and check these kernels live in :mod:`ssd_edu.bench`: ``gpu_timing``,
``gpu_report`` (``python -m ssd_edu gpu-report``), ``gpu_check`` (``python -m ssd_edu gpu-check``).
"""
from __future__ import annotations

from ._cuda import CudaUnavailableError, cuda_available, simulator_enabled, unavailable_reason
from ._launch import DEFAULT_TILE, SIMULATOR_TILE, default_tile, get_tile, tile_size
from .attention import diagonal_attention, scalar_attention
from .chunked import diagonal_chunked, scalar_chunked
from .scan import diagonal_scan, scalar_scan

__all__ = [
    "CudaUnavailableError", "simulator_enabled", "cuda_available", "unavailable_reason",
    "tile_size", "get_tile", "default_tile", "DEFAULT_TILE",
    "SIMULATOR_TILE",
    "scalar_scan", "scalar_attention", "scalar_chunked",
    "diagonal_scan", "diagonal_attention", "diagonal_chunked",
]
