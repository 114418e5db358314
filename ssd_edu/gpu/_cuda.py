"""The one place that imports numba.cuda: a guarded import, the one availability probe, decorators
(``kernel``, ``device``).

:func:`unavailable_reason` is the only answer in ssd_edu to "can CUDA kernels run here?":
:func:`cuda_available`, ``ssd_edu.MISSING_BACKENDS["cuda"]``, the benchmark and the figures all
ask it.

``import ssd_edu`` must work on a machine without numba-cuda and without a GPU. So numba.cuda
is imported here inside ``try``; when it is missing, the kernel bodies stay plain Python
functions that are never launched, because every launcher calls :func:`require_cuda` first
and that raises :class:`CudaUnavailableError`, which says how to run on the simulator.

Simulator: with ``NUMBA_ENABLE_CUDASIM=1`` set before numba is first imported, numba runs
every CUDA thread in Python on the CPU (slow; use tiny sizes). The same code then runs
unchanged on a real GPU. Importing this module with the simulator on also replaces the
simulator's shared-array allocator with a locked one (:func:`fix_simulator_shared_arrays`):
numba-cuda's races between the threads of a block and gives wrong results at random under load.
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
    if simulator_enabled():
        return None
    if cuda.is_available():
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


def _locked_shared_array(original):
    """A thread-safe replacement for the simulator's ``FakeCUDAShared.array``.

    The simulator runs the threads of a block as Python threads that share one allocation table
    per launch, keyed by the (file, line) that calls ``cuda.shared.array``. numba-cuda 0.30 looks
    the key up and inserts a new array in two steps without a lock, so when the interpreter
    switches threads between them (more often on a loaded machine), two threads of the first
    block create two arrays for the same line: one thread then writes and reads a private copy
    that the others never see, and its outputs are wrong (intermittently, in the first tile).
    Here the look-up and the insert happen under one lock, keyed the same way; dynamic shared
    memory (shape 0) needs no key and goes to ``original``, as does any request with an
    ``alignment`` (which the simulator rejects).
    """
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:
            return original(self, shape, dtype, alignment)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            found = self._allocations.get(key)
            if found is None:
                found = self._allocations[key] = np.empty(shape, _numpy_dtype(dtype))
        return found

    array.original = original
    return array


def _numpy_dtype(dtype):
    """The NumPy dtype of a numba scalar type or of anything ``np.dtype`` accepts."""
    from numba.core import types
    from numba.np import numpy_support
    return numpy_support.as_dtype(dtype) if isinstance(dtype, types.Type) else np.dtype(dtype)


def fix_simulator_shared_arrays() -> bool:
    """Install :func:`_locked_shared_array` in the simulator (once); True when it is installed.

    Applied on import of this module whenever the simulator is on: without it, tests of the
    kernels fail at random under load (a race in numba-cuda, not in the kernels).
    """
    if not simulator_enabled():
        return False
    from numba.cuda.simulator import kernelapi
    shared = kernelapi.FakeCUDAShared
    if not hasattr(shared.array, "original"):
        shared.array = _locked_shared_array(shared.array)
    return True


def kernel(fn):
    """``cuda.jit(cache=True)`` when numba-cuda is importable; otherwise ``fn`` unchanged.

    No fastmath: it would flush subnormals to zero and change long mask tails (docs/theory.md#fma).
    numba still contracts multiply-adds into FMA on a device, so device results differ from
    NumPy at the ulp level; compare with tolerances (or dyadic data), never bitwise.
    """
    if cuda is None:
        return fn
    return cuda.jit(cache=True)(fn)


def device(fn):
    """An inline device function: ``cuda.jit(device=True, inline="always")``; ``fn`` unchanged
    without numba-cuda.

    ``inline="always"`` splices the body into the calling kernel at the Numba IR level, before
    typing, so the kernel compiles as if the helper were written out in it: closure constants
    stay compile-time constants, and the compile report still compiles without a GPU (a plain
    ``device=True`` function asks the CUDA driver for the device's compute capability when a
    kernel calling it is typed, which fails where no driver is installed). Not for ``cache=True``
    kernels: Numba keys their cache on the kernel's own file only.
    """
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
