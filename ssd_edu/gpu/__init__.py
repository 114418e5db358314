"""numba.cuda GPU kernels: scan, masked matmul (attention) and chunked forms, same signature.

    y, h = ssd_edu.gpu.scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None)

Names and shapes as :mod:`ssd_edu.reference`; registered as ``"cuda.{family}.{form}"`` when
CUDA can run here; NumPy or numba device arrays in (device in gives device out). Without a GPU,
``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) runs everything on numba's simulator
(tiny sizes, tile 4); without either, the functions raise :class:`CudaUnavailableError`.
Modules mirror ``ssd_edu/cpu/``: ``scan``, ``attention``, ``chunked`` (the four steps),
``_tiles`` (steps 1 and 4), ``backward``; ``_launch``, ``_device``, ``_cuda`` (the helpers).
"""
from __future__ import annotations

from ._cuda import CudaUnavailableError, cuda_available, simulator_enabled, unavailable_reason
from ._launch import DEFAULT_TILE, default_tile, get_tile, tile_size
from .attention import diagonal_attention, scalar_attention
from .chunked import diagonal_chunked, scalar_chunked
from .scan import diagonal_scan, scalar_scan

__all__ = ["CudaUnavailableError", "simulator_enabled", "cuda_available", "unavailable_reason",
           "tile_size", "get_tile", "default_tile", "DEFAULT_TILE", "scalar_scan",
           "scalar_attention", "scalar_chunked", "diagonal_scan", "diagonal_attention",
           "diagonal_chunked"]
