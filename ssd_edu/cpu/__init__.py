"""Numba CPU kernels of every SSD form, with the reference signature (docs/theory.md#conventions).

    y, h = ssd_edu.cpu.scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None)

Modules: ``plain`` (every form and the four chunked steps as the shortest loops, backend
"plain"), the tuned ``scan``, ``attention``, ``chunked`` (the four steps by name) and their
``*_backward`` (the VJPs); helpers ``_tiles`` (mask tiles), ``_launch`` (validate, flatten the
leading axes to nb sequences, reshape back), ``_jit`` (compilation settings), ``_cache`` (the
disk cache stamped with every source here), ``_finite`` (the compiled finiteness check).
float32 and float64; inputs are never modified; kernels compile on first call (importing
compiles nothing), then load from Numba's cache.
"""
from .attention import diagonal_attention, scalar_attention
from .chunked import diagonal_chunked, scalar_chunked
from .scan import diagonal_scan, scalar_scan

__all__ = ["scalar_scan", "diagonal_scan", "scalar_attention", "diagonal_attention",
           "scalar_chunked", "diagonal_chunked"]
