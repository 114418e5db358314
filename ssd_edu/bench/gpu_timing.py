"""The GPU benchmark: kernel time alone, with the device's own peaks as denominators.

:func:`time_kernels` times one form's kernels on uploaded inputs (CUDA events; on the simulator
wall clock around ``cuda.synchronize()``). :func:`peaks`: flop/s = SMs x clock x FMA units x 2,
bandwidth = 2 x memory clock x bus width. :func:`device_matmul_rate` times ``_gpu_matmul``.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from ..gpu._cuda import cuda, require_cuda, simulator_enabled
from ..gpu._launch import get_tile, prepare
from ._gpu_matmul import MATMUL_TILE, launch_matmul

#: FMA units per SM, (float32, float64), by compute capability (CUDA programming guide).
FMA_PER_SM = {(6, 0): (64, 32), (7, 0): (64, 32), (7, 5): (64, 2), (8, 0): (64, 32),
              (8, 6): (128, 2), (8, 7): (128, 2), (8, 9): (128, 2), (9, 0): (128, 64),
              (10, 0): (128, 64), (12, 0): (128, 2)}


class DeviceSpec(NamedTuple):
    """What the peaks are computed from (numba device attributes)."""
    name: str
    cc: tuple
    sms: int
    clock_hz: float       # SM clock
    memory_clock_hz: float
    bus_bits: int


def device_spec() -> DeviceSpec:
    """The current device's properties (needs a real GPU)."""
    require_cuda()
    if simulator_enabled():
        raise RuntimeError("device_spec needs a real GPU, not the CUDA simulator")
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return DeviceSpec(name, tuple(dev.compute_capability), int(dev.MULTIPROCESSOR_COUNT),
                      1e3 * dev.CLOCK_RATE, 1e3 * dev.MEMORY_CLOCK_RATE,
                      int(dev.GLOBAL_MEMORY_BUS_WIDTH))


def peaks(spec: DeviceSpec) -> dict:
    """{"float32": flop/s, "float64": flop/s, "bandwidth": bytes/s} of ``spec``."""
    units = FMA_PER_SM.get(tuple(spec.cc), (None, None))
    out = {dtype: None if u is None else 2.0 * spec.sms * spec.clock_hz * u    # FMA: 2 flops
           for dtype, u in zip(("float32", "float64"), units)}
    return dict(out, bandwidth=2.0 * spec.memory_clock_hz * spec.bus_bits / 8)


def device_peaks() -> dict:
    """:func:`peaks` of the current device; ``{}`` on the simulator (no device to ask)."""
    return {} if simulator_enabled() else peaks(device_spec())


def bytes_moved(form: str, family: str, T: int, N: int, P: int, nb: int, itemsize: int) -> int:
    """Bytes every implementation must move at least: read x, a, B, C, h0, write y, h, once."""
    na = 1 if family == "scalar" else N
    return nb * (2 * T * P + T * na + 2 * T * N + 2 * N * P) * itemsize


def _pad(n: int, m: int) -> int:
    return -(-n // m) * m


def executed_flops(form: str, family: str, T: int, N: int, P: int, nb: int, tile: int,
                   chunk_size: int = 64, initial_state: bool = True) -> int:
    """Flops the kernels execute, padded tiles included (masks not counted): chunk states
    2 Tq Np Pw, state passing 2 J N P, then scan 5 T Np P, or per visited (row, column) tile
    pair 2 tile^2 (Np + Pw) plus the entering state 2 T Np Pw. Tq, Np, Pw: T, N, P padded."""
    from ..gpu.chunked import channel_width
    from ..gpu.scan import SCAN_CHUNK_TILES

    Np, Pw = _pad(N, tile), _pad(P, tile * channel_width(P, tile))
    Q = {"scan": SCAN_CHUNK_TILES * tile, "attention": T}.get(form, min(chunk_size, T))
    qs = [min(Q, T - t0) for t0 in range(0, T, Q)]                   # the chunk lengths
    states = 2 * sum(_pad(q, tile) for q in qs) * Np * Pw + 2 * len(qs) * N * P
    if form == "scan":
        return nb * (states + 5 * T * Np * P)
    # row tile rt visits the column tiles from the one of its chunk's start to itself
    pairs = sum(rt - ((rt * tile) // Q) * Q // tile + 1 for rt in range(-(-T // tile)))
    blocks = pairs * (2 * tile * tile * Np + 2 * tile * tile * Pw)
    entering = 2 * T * Np * Pw if (len(qs) > 1 or initial_state) else 0
    return nb * (states + blocks + entering)


def _times(call, repeats: int = 1) -> list:
    """Seconds of each of ``repeats`` calls of ``call()``: CUDA events, or wall clock around
    ``cuda.synchronize()`` on the simulator."""
    out = []
    for _ in range(repeats):
        if simulator_enabled():
            cuda.synchronize()
            begin = time.perf_counter()
            call()
            cuda.synchronize()
            out.append(time.perf_counter() - begin)
        else:
            begin, end = cuda.event(), cuda.event()
            begin.record()
            call()
            end.record()
            end.synchronize()
            out.append(cuda.event_elapsed_time(begin, end) / 1e3)
    return out


def time_kernels(family: str, form: str, x, a, B, C, *, initial_state=None, chunk_size=64,
                 repeats: int = 5) -> dict:
    """Time the kernels of ``cuda.{family}.{form}`` alone: ``kernel_s`` (``repeats`` seconds
    on uploaded inputs, outputs reused), ``host_s`` (validation and upload), ``d2h_s`` (copying
    y and h back), ``timer`` and ``simulator``."""
    from ..gpu import chunked, scan

    require_cuda()
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    Q, plan = chunk_size if form == "chunked" else None, []
    host = _times(lambda: plan.append(prepare(family, x, a, B, C, initial_state, chunk_size=Q)))[0]
    L = plan[0]
    tile = get_tile()
    if L.nb == 0 or L.T == 0:
        raise ValueError("nothing to time: the batch or T is empty")
    if form == "scan":
        run, y, h = scan.plan(family, L, tile)
    else:
        Q = L.T if form == "attention" else min(int(chunk_size), L.T)
        run, y, h = chunked.plan(family, L, Q, tile)
    run()                                           # warm-up: compiles the kernels
    cuda.synchronize()
    kernel_s = _times(run, int(repeats))
    d2h = _times(lambda: (y.copy_to_host(), h.copy_to_host()))[0]
    sim = simulator_enabled()
    return {"kernel_s": kernel_s, "host_s": host, "d2h_s": d2h, "simulator": sim,
            "timer": "perf_counter + synchronize (simulator)" if sim else "cuda events"}


def time_cuda(fn, args: tuple, kwargs: dict, repeats: int) -> dict:
    """:func:`time_kernels` of the launcher ``fn`` (a form of ``ssd_edu.gpu``), with
    ``transfer_s`` = ``h2d_s`` (validation and upload) + ``d2h_s``."""
    family, _, form = fn.__name__.partition("_")
    out = time_kernels(family, form, *args, repeats=repeats, **kwargs)
    out.update(h2d_s=out["host_s"], transfer_s=out["host_s"] + out["d2h_s"])
    return out


def device_matmul_rate(dtype, n: int = 4096) -> float:
    """flop/s of the device's tiled matmul ``_gpu_matmul`` in ``dtype``: 2 n^3 / best of 3
    runs after a warm-up (n capped at 16 on the simulator)."""
    require_cuda()
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(min(n, 16)) if simulator_enabled() else int(n)
    tile = min(MATMUL_TILE, n)
    rng = np.random.default_rng(0)
    A, B = (cuda.to_device(M) for M in rng.standard_normal((2, n, n)).astype(dtype))
    out = cuda.device_array((n, n), dtype=dtype)
    launch_matmul(A, B, out, tile)                   # warm-up: compiles the kernel
    return 2.0 * n**3 / min(_times(lambda: launch_matmul(A, B, out, tile), 3))

