"""Numba CPU kernels of every SSD form, with the reference signature (docs/theory.md#conventions).

    y, h = ssd_edu.cpu.scalar_scan(x, a, B, C, initial_state=None)
    y, h = ssd_edu.cpu.diagonal_attention(x, a, B, C, initial_state=None)
    y, h = ssd_edu.cpu.scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None)

Modules: ``plain`` (every form and the four chunked steps as the shortest loops: backend
"plain", the readable twin of each tuned kernel), ``scan`` (the recurrence), ``attention``
(the fused, tiled masked matmul), ``chunked`` (the block algorithm, its four steps numbered
as in the reference), ``_tiles`` (mask tiles
from direct products), ``_launch`` (validation and flattening shared by the launchers),
``_jit`` (compilation settings), ``_cache`` (Numba's disk cache stamped with every source
here), ``_finite`` (the validation's finiteness pass, compiled and parallel, that the
launchers pass to the validation); ``*_backward`` (the VJPs, on the shared :mod:`ssd_edu.vjp`).
Each public function validates and flattens with :func:`ssd_edu.validation.flatten` (float32
and float64 only; the kernels are real: the leading axes broadcast and flattened to nb
sequences, the state (nb, N, P) from there to the kernels and back), runs private
``@njit(parallel=True, cache=True)`` kernels and reshapes back; inputs are never modified.
Kernels compile on first call (then load from Numba's cache); importing compiles nothing.
"""
from .attention import diagonal_attention, scalar_attention
from .chunked import diagonal_chunked, scalar_chunked
from .scan import diagonal_scan, scalar_scan

__all__ = ["scalar_scan", "diagonal_scan", "scalar_attention", "diagonal_attention",
           "scalar_chunked", "diagonal_chunked"]
