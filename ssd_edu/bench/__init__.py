"""Benchmark: every timing helper of the package; the NumPy reference, the Numba CPU kernels and the numba.cuda kernels, side by side.

``python -m ssd_edu bench`` (options: ``--help``), or as a library::

    from ssd_edu.bench import run_bench, format_table, sweep, format_sweep, matmul_rate
    results = run_bench(T=512, batch=2, dtypes=("float64",), backends=("numpy", "numba"))
    print(format_table(results))

What is measured, for every registered implementation ``{backend}.{family}.{form}``:

* seconds per call, median and min over ``repeats`` calls after one untimed warm-up call
  (so JIT compilation is never timed);
* GFLOP/s = flops / min seconds, with the flop count of :func:`flop_count` (per sequence,
  times the number of sequences):

  - scan:      5 T N P  (h = a h + B x: 3 flops, y += C h: 2 flops, per (t, n, p));
  - attention: T (T + 1) (N + P) + 4 T N P  (scores C_t . B_s and the sum over s of
    M[t, s] x_s, on the lower triangle only, plus the initial- and final-state terms);
  - chunked:   sum over chunks of q (q + 1) (N + P) + 4 q N P + 2 N P  (intra-chunk masked
    matmul, state output and chunk state, state passing);
  - associative_scan: 3 T N P + 2 N P per composed step, summed over the ceil(log2 T)
    passes (U = B x^T and the output, then A U + U at the T - d later steps of pass d);

  mask products and rescalings (O(T N) or O(T^2)) are not counted;
* ``% matmul``: GFLOP/s over the rate of a NumPy (BLAS) matrix multiply of the same dtype,
  measured in the same run: the machine's practical peak (for cuda rows: the device matmul
  rate of :mod:`.gpu_timing`);
* speedup over the NumPy reference of the same family, form and dtype (ratio of min times);
* ``checks``: the time of the shared argument validation alone (``check_ssm``: shapes, dtypes
  and a finiteness scan of every input), which every call of every backend includes;
* peak extra memory: the peak of Python/NumPy allocations during one call (tracemalloc; this
  includes the outputs), plus for numba rows the analytic workspace the kernels allocate
  outside Python (per-thread tiles, see :func:`numba_workspace_bytes`); ``mem`` says which.

NumPy attention forms build (T, T) matrices: they are skipped, with the reason, when that
would pass the package's quadratic-memory limit, or when a probe at T = 256 predicts one call
longer than ``reference_cap`` seconds (the prediction scales as T^2 and can be low: cache
effects grow with T); the repeats of every NumPy row are cut to fit the cap.

Timings on a shared machine vary by tens of percent from run to run; the matmul rate is
measured once per dtype, before that dtype's rows (best of 10, then a pause that lets the
BLAS threads sleep), so compare rows of one run.

Layout: :mod:`.timing` (every clock and best-of helper, log-log slopes; also used by the
figures), :mod:`.run` (one workload, flop counts, workspace), :mod:`.report` (tables),
:mod:`.cli` (the command line), :mod:`.scaling` (``--scaling``: time against T of the forms
whose flops ``verify`` counts, min / median, an illustration), :mod:`.breakdown`
(``--breakdown``: the four steps of the Numba chunked forms timed apart), :mod:`.crossover`
(``--sweep T.. --sweep-N N..``: the fastest form at each T and N, table and figure),
:mod:`.peers` and :mod:`.torch_chunked` (the rows ``torch.{family}.chunked``: the same chunked
algorithm in the package's own torch code, timed when PyTorch is installed, skipped with the
reason otherwise). The GPU tools:
:mod:`.gpu_timing` (kernel-only timing, device peaks; its matmul in :mod:`._gpu_matmul`),
:mod:`.gpu_report` (``python -m ssd_edu gpu-report``: the kernels compiled for sm_90 without a
GPU) and :mod:`.gpu_check` (``python -m ssd_edu gpu-check``: the prepared run on a GPU).
"""
from __future__ import annotations

from .cli import add_arguments, main, run_from_args
from .report import format_sweep, format_table
from .run import (DEFAULTS, SWEEP_T, cuda_timing, flop_count, numba_workspace_bytes, run_bench,
                  sweep)
from .timing import (best_time, best_times, loglog_slope, matmul_rate, timed,
                     traced_peak)

__all__ = ["DEFAULTS", "SWEEP_T", "add_arguments", "best_time", "best_times", "cuda_timing",
           "flop_count", "format_sweep", "format_table", "loglog_slope", "main", "matmul_rate",
           "numba_workspace_bytes", "run_bench", "run_from_args", "sweep",
           "timed", "traced_peak"]
