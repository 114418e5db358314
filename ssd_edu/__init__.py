"""ssd_edu: structured state-space duality (SSD), made to run, agree and be measured.

Letters: T length, N state size, P channels, H heads, Q chunk length (J = ceil(T / Q) chunks);
t, s time, n state, p channel, c chunk. Arrays: x (..., T, P); a (..., T) scalar family or
(..., T, N) diagonal; B, C (..., T, N); h (..., N, P); y (..., T, P); kernel M (..., T, T).
h_t = A_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t, A_t = a_t I or diag(a_t). Every form is
``y, h = f(x, a, B, C, *[, chunk_size], initial_state=None)``, registered in
:data:`IMPLEMENTATIONS` as ``"{backend}.{family}.{form}"``; Numba and CUDA load on first use.
"""
from __future__ import annotations

import importlib

from . import reference
from .reference import (diagonal_attention, diagonal_chunked, diagonal_heads, diagonal_kernel,
                        diagonal_scan, diagonal_single_mask, general_kernel, general_scan,
                        one_ss_mask, scalar_attention, scalar_chunked, scalar_kernel, scalar_scan,
                        segsum, segsum_naive)
from .registry import (BACKENDS, FAMILIES, FORMS, IMPLEMENTATIONS, MISSING_BACKENDS, VJPS,
                       oracle)
from .validation import QuadraticMemoryError, QuadraticWorkError
from .vjp import Grads

__version__ = "0.1.0"

#: Subpackages and modules loaded on first attribute access (``ssd_edu.cpu`` imports Numba).
_LAZY = ("cpu", "gpu", "bench", "bridges", "exact", "exercises", "figures",
         "softmax", "structure", "testing", "theorems", "training", "validation", "vjp")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["IMPLEMENTATIONS", "FAMILIES", "FORMS", "BACKENDS", "MISSING_BACKENDS", "oracle",
           "VJPS", "Grads", "reference", "QuadraticMemoryError", "QuadraticWorkError",
           "one_ss_mask", "segsum", "segsum_naive", "scalar_scan", "scalar_attention",
           "scalar_chunked", "scalar_kernel", "diagonal_scan", "diagonal_attention",
           "diagonal_chunked", "diagonal_kernel", "diagonal_heads", "diagonal_single_mask",
           "general_kernel", "general_scan"]
