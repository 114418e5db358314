"""The one place that imports numba.cuda: a guarded import, the availability probe
(:func:`unavailable_reason`), and the decorators ``kernel`` and ``device``.

Without numba-cuda the kernel bodies stay plain Python, never launched (every launcher calls
:func:`require_cuda` first). With ``NUMBA_ENABLE_CUDASIM=1`` set before numba is first imported,
every CUDA thread runs in Python on numba's simulator, with a locked shared-array allocator
(:func:`fix_simulator_shared_arrays`).
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

try:  # numba-cuda is optional: the rest of ssd_edu works without it
    from numba import cuda
    from numba import config as _numba_config
    from numba import uint64
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    cuda = None
    _numba_config = None
    uint64 = int                # the kernels' unsigned counters; never launched without numba
    _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
else:
    _IMPORT_ERROR = None


class CudaUnavailableError(RuntimeError):
    """No CUDA device, no CUDA simulator, or no numba-cuda: a GPU function cannot run here."""


_HOW_TO = ("To run the GPU kernels without a GPU, use the numba CUDA simulator: set the "
           "environment variable NUMBA_ENABLE_CUDASIM=1 before numba is first imported (e.g. "
           "`NUMBA_ENABLE_CUDASIM=1 python ...`); it runs every CUDA thread in Python, so keep "
           "sizes tiny.")


def simulator_enabled() -> bool:
    """True when numba runs CUDA kernels on its CPU simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return cuda is not None and bool(getattr(_numba_config, "ENABLE_CUDASIM", 0))


def unavailable_reason() -> str | None:
    """Why GPU functions cannot run here (None when they can: a device or the simulator)."""
    if cuda is None:
        return (f"numba-cuda is not installed ({_IMPORT_ERROR}); install it with "
                f"`pip install numba-cuda`. " + _HOW_TO)
    if simulator_enabled() or cuda.is_available():
        return None
    env = os.environ.get("NUMBA_ENABLE_CUDASIM")
    late = (f" (NUMBA_ENABLE_CUDASIM={env!r} is set now, but numba read its configuration "
            f"before that)" if env not in (None, "", "0") else "")
    return "no CUDA GPU is available to numba" + late + ". " + _HOW_TO


def cuda_available() -> bool:
    """True on a machine with a CUDA GPU numba can use, or under the CUDA simulator."""
    return unavailable_reason() is None


def require_cuda() -> None:
    """Raise :class:`CudaUnavailableError` unless a CUDA device or the simulator can run kernels."""
    reason = unavailable_reason()
    if reason is not None:
        raise CudaUnavailableError(reason)


def fix_simulator_shared_arrays() -> bool:
    """Make the simulator's ``FakeCUDAShared.array`` thread-safe (once); True when simulating.

    The threads of a block share one allocation table keyed by the (file, line) of
    ``cuda.shared.array``, looked up and filled without a lock (two arrays for one line under
    load); here under one lock. Shape 0 and ``alignment`` requests go to ``array.original``.
    """
    if not simulator_enabled():
        return False
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support
    shared = kernelapi.FakeCUDAShared
    if hasattr(shared.array, "original"):
        return True
    original, lock = shared.array, threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:
            return original(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            found = self._allocations.get(key)
            if found is None:
                np_dtype = (numpy_support.as_dtype(dtype) if isinstance(dtype, types.Type)
                            else np.dtype(dtype))
                found = self._allocations[key] = np.empty(shape, np_dtype)
        return found

    array.original = original
    shared.array = array
    return True


def kernel(fn):
    """``cuda.jit(cache=True)``, or ``fn`` without numba-cuda; no fastmath (docs/theory.md#fma)."""
    if cuda is None:
        return fn
    return cuda.jit(cache=True)(fn)


def device(fn):
    """``cuda.jit(device=True, inline="always")`` (Numba IR inlining: closure constants stay
    constants), or ``fn`` without numba-cuda."""
    if cuda is None:
        return fn
    return cuda.jit(device=True, inline="always")(fn)


def is_device_array(obj) -> bool:
    """True for a numba device array (real or simulated) or, on a GPU, any CUDA-array object."""
    if cuda is None:
        return False
    if getattr(obj, "__cuda_ndarray__", False):
        return True
    return not simulator_enabled() and hasattr(obj, "__cuda_array_interface__")


def as_device_array(obj):
    """A numba device array viewing ``obj`` (already one, or via ``__cuda_array_interface__``)."""
    if getattr(obj, "__cuda_ndarray__", False):
        return obj
    return cuda.as_cuda_array(obj)


fix_simulator_shared_arrays()
