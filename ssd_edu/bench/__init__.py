"""Benchmark: the NumPy reference, the plain and tuned Numba kernels and the numba.cuda kernels.

``python -m ssd_edu bench`` (``--help``) or ``run_bench(T=512, batch=2)``: per key and dtype the
median and min of ``repeats`` calls, GFLOP/s (:func:`flop_count`), ``% matmul`` against a matmul
of the same dtype measured in the same run, speedup over NumPy, the checks' time, extra memory.
Other modes: ``--sweep``, ``--sweep-N`` (crossover), ``--backward``, ``--breakdown``,
``--scaling``; ``gpu-report`` and ``gpu-check`` for the GPU kernels.
"""
from __future__ import annotations

from .cli import add_arguments, main, run_from_args
from .report import format_sweep, format_table
from .run import (DEFAULTS, SWEEP_T, cuda_timing, flop_count, numba_workspace_bytes, run_bench,
                  sweep)
from .timing import best_time, best_times, loglog_slope, matmul_rate, timed, traced_peak

__all__ = ["DEFAULTS", "SWEEP_T", "add_arguments", "best_time", "best_times", "cuda_timing",
           "flop_count", "format_sweep", "format_table", "loglog_slope", "main", "matmul_rate",
           "numba_workspace_bytes", "run_bench", "run_from_args", "sweep", "timed",
           "traced_peak"]
