"""Numba CPU kernels of every SSD form, with the reference signature (docs/theory.md#conventions).

    y, h = ssd_edu.cpu.scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None)

``plain``: every form as the shortest loops; ``scan``, ``attention``, ``chunked``: the tuned
kernels, ``*_backward`` their VJPs. float32, float64; compiled on first call, then disk-cached.
"""
from .attention import diagonal_attention, scalar_attention
from .chunked import diagonal_chunked, scalar_chunked
from .scan import diagonal_scan, scalar_scan

__all__ = ["scalar_scan", "diagonal_scan", "scalar_attention", "diagonal_attention",
           "scalar_chunked", "diagonal_chunked"]
