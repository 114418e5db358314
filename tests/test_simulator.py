"""The CUDA simulator's shared arrays, as ssd_edu runs it (``gpu._cuda.fix_simulator_shared_arrays``).

numba-cuda's simulator looks up and inserts a block's shared array in two unlocked steps, so a
thread switch between them gives two threads of a block two different arrays for one
``cuda.shared.array`` line. ssd_edu installs a locked allocator when the simulator is on. The
race is made certain here: with numba's own allocator, every thread of a block waits inside the
allocation (a barrier) until all have looked the key up, so each inserts its own array; with
ssd_edu's, a slow allocation (a sleep) still gives one array per line.
"""
import threading
import time
import types

import numpy as np
import pytest

from ssd_edu.gpu import _cuda

pytestmark = pytest.mark.skipif(not _cuda.simulator_enabled(),
                                reason="only the CUDA simulator allocates shared arrays in Python")

SIDE = 4
cuda = _cuda.cuda          # a module global: the simulator swaps it for its fake module


def _slow_numpy(monkeypatch, module, wait):
    """Make ``module.np.empty`` call ``wait()`` first, so that threads reach the look-up before
    any of them inserts."""
    def empty(*args, **kwargs):
        wait()
        return np.empty(*args, **kwargs)
    monkeypatch.setattr(module, "np", types.SimpleNamespace(**{**vars(np), "empty": empty}))


def _threads_seeing_other_arrays() -> int:
    """Launch SIDE x SIDE threads that each write their id into one shared tile, then count the
    threads that do not see every id after the barrier."""
    from numba import float64

    @cuda.jit
    def fill_and_check(out):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tile = cuda.shared.array((SIDE, SIDE), float64)
        tile[ty, tx] = ty * SIDE + tx
        cuda.syncthreads()
        wrong = 0
        for i in range(SIDE):
            for j in range(SIDE):
                if tile[i, j] != i * SIDE + j:
                    wrong += 1
        out[ty, tx] = wrong

    out = np.full((SIDE, SIDE), -1.0)
    fill_and_check[1, (SIDE, SIDE)](out)
    return int(np.count_nonzero(out))


def test_fix_is_installed():
    from numba.cuda.simulator import kernelapi
    assert hasattr(kernelapi.FakeCUDAShared.array, "original")
    assert _cuda.fix_simulator_shared_arrays()                     # idempotent
    assert not hasattr(kernelapi.FakeCUDAShared.array.original, "original")


def test_one_shared_array_per_line_even_when_threads_switch(monkeypatch):
    """ssd_edu's allocator holds its lock over look-up and insert: a slow allocation (a sleep
    that lets every other thread run) still gives one array per line."""
    _slow_numpy(monkeypatch, _cuda, lambda: time.sleep(0.01))
    assert _threads_seeing_other_arrays() == 0


def test_numbas_own_allocator_races(monkeypatch):
    """The planted mistake: without the fix the same launch gives threads private arrays."""
    from numba.cuda.simulator import kernelapi
    monkeypatch.setattr(kernelapi.FakeCUDAShared, "array", kernelapi.FakeCUDAShared.array.original)
    # every thread of the block waits inside the allocation until all have looked the key up
    # and found nothing: certain, whatever the load (a lock held there would never get past)
    everyone = threading.Barrier(SIDE * SIDE, timeout=30)
    _slow_numpy(monkeypatch, kernelapi, everyone.wait)
    assert _threads_seeing_other_arrays() > 0


def test_dynamic_and_separate_lines_are_unchanged():
    """Two ``shared.array`` lines give two arrays; shape 0 is the launch's dynamic memory."""
    from numba import float64

    @cuda.jit
    def two_tiles(out):
        t = cuda.threadIdx.x
        first = cuda.shared.array(SIDE, float64)
        second = cuda.shared.array(SIDE, float64)
        dyn = cuda.shared.array(0, float64)
        first[t] = t
        second[t] = 10 * t
        dyn[t] = 100 * t
        cuda.syncthreads()
        out[t] = first[SIDE - 1 - t] + second[SIDE - 1 - t] + dyn[SIDE - 1 - t]

    out = np.zeros(SIDE)
    two_tiles[1, SIDE, 0, SIDE * 8](out)
    np.testing.assert_array_equal(out, 111.0 * (SIDE - 1 - np.arange(SIDE)))
