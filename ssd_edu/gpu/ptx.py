"""Compile every kernel to PTX without a GPU: a check that the device code builds as written.

The CUDA simulator runs kernels as Python, so it cannot catch code that numba.cuda will not
compile, nor a float32 kernel that silently computes in float64. :func:`compile_all` compiles
each kernel of ``scan``, ``chunked``, ``_device`` and ``_matmul`` for both dtypes with the argument types the launchers pass and
reports, for float32, every PTX line with a double-precision (``.f64``) operation. It needs
numba-cuda with NVVM and NVRTC present (a CUDA toolkit or the nvidia-* wheels), but no device,
and must run in a process without ``NUMBA_ENABLE_CUDASIM=1``::

    python -c "from ssd_edu.gpu.ptx import compile_all; print(compile_all())"
"""
from __future__ import annotations

import re

from . import _device, _matmul, chunked, scan
from ._cuda import cuda, require_cuda, simulator_enabled


def signatures(dtype) -> dict:
    """Kernel name -> argument types, as the launchers and ``timing`` launch them."""
    from numba import types as nt

    def arr(dt, ndim):
        return nt.Array(dt, ndim, "C")

    a3, a4, i2, flag, i = arr(dtype, 3), arr(dtype, 4), arr(nt.int64, 2), nt.boolean, nt.int64
    return {
        "_scan_kernel": (a3, a3, a3, a3, a3, flag, i2, i, flag, a3, a3),
        "_chunk_states_kernel": (a3, a3, a3, i, i2, i, a4, a3),
        "_state_passing_kernel": (a4, a3, a3, flag, i2, a4, a3),
        "_scalar_output_kernel": (a3, a3, a3, a3, a4, flag, i, i2, i, a3),
        "_diagonal_output_kernel": (a3, a3, a3, a3, a4, flag, i, i2, i, a3),
        "fill_kernel": (arr(dtype, 1), dtype),
        "count_nonfinite_kernel": (arr(dtype, 1), arr(nt.int64, 1), i),
        "matmul_kernel": (arr(dtype, 2), arr(dtype, 2), arr(dtype, 2), i),
    }


def compile_all(cc=(9, 0)) -> dict:
    """Compile every kernel for compute capability ``cc`` in float32 and float64.

    Returns ``{(name, dtype_name): [PTX lines with .f64 operations]}``: empty lists for
    float32 mean it computes in single precision throughout (float64 entries are empty by
    construction). Raises whatever numba raises when a kernel does not compile.
    """
    if cuda is None or simulator_enabled():
        require_cuda()
        raise RuntimeError("compile_all needs the real numba.cuda compiler: run it in a "
                           "process without NUMBA_ENABLE_CUDASIM=1")
    from numba import types as nt

    modules = (scan, chunked, _device, _matmul)
    report = {}
    for dtype in (nt.float32, nt.float64):
        for name, sig in signatures(dtype).items():
            fn = next(getattr(m, name) for m in modules if hasattr(m, name))
            ptx, _ = cuda.compile_ptx(fn.py_func, sig, cc=cc)
            f64 = [line.strip() for line in ptx.splitlines() if re.search(r"\.f64\b", line)]
            report[(name, str(dtype))] = f64 if dtype == nt.float32 else []
    return report
