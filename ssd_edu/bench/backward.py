"""``python -m ssd_edu bench --backward``: every VJP timed next to its forward.

Each selected key of ``ssd_edu.VJPS`` (plus the torch autograd rows) on the forward bench's
workload and random dy, dh: forward and backward warmed up, then timed round-robin; reported
with backward / forward, GFLOP/s (:func:`backward_flop_count`) and % of the matmul rate.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from functools import partial

import numpy as np

from ..registry import FAMILIES, FORMS, IMPLEMENTATIONS, VJPS
from ..testing import make_inputs
from .report import label, preamble, timed_rows
from .peers import torch_reason
from .run import DEFAULTS, PEER_ROWS, chunk_lengths, flop_count, selected
from .timing import best_times, matmul_rate

NUMPY_ATTENTION_MAX_T = 512


def backward_flop_count(form: str, T: int, N: int, P: int, chunk_size: int = 64) -> int:
    """Flops of one sequence's backward (mask products not counted): scan 14 T N P; chunked
    sum_c q (q + 1) (3 N + 2 P) + 10 q N P + 4 N P (attention: one chunk); associative_scan
    twice the forward's passes + 10 T N P."""
    if form == "scan":
        return 14 * T * N * P
    if form == "associative_scan":
        passes = flop_count(form, T, N, P) - 3 * T * N * P        # the forward's passes alone
        return 2 * passes + 10 * T * N * P
    if form in ("attention", "chunked"):
        return sum(q * (q + 1) * (3 * N + 2 * P) + 10 * q * N * P + 4 * N * P
                   for q in chunk_lengths(T, max(T, 1) if form == "attention" else chunk_size))
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def time_pair(key, d, dy, dh, chunk_size, repeats):
    """(forward seconds, backward seconds) of ``key``: warm-up, then best of round-robin calls.
    A torch row times ``peers.numpy_chunked`` (no grad) and its VJP by torch's autograd."""
    backend, family, form = key.split(".")
    kwargs = {"chunk_size": chunk_size} if form == "chunked" else {}
    if backend == "torch":
        from .peers import numpy_chunked, numpy_chunked_vjp, torch_threads
        fwd, bwd = partial(numpy_chunked, family), partial(numpy_chunked_vjp, family)
        context = torch_threads()
    else:
        fwd, bwd, context = IMPLEMENTATIONS[key], VJPS[key], nullcontext()
    forward, backward = partial(fwd, **d, **kwargs), partial(bwd, **d, dy=dy, dh=dh, **kwargs)
    with context:
        forward(), backward()                                   # compile / load / warm-up
        return tuple(best_times([forward, backward], repeats, clock=time.perf_counter))


def run_backward(T: int = DEFAULTS["T"], N: int = DEFAULTS["N"], P: int = DEFAULTS["P"],
                 batch: int = DEFAULTS["batch"], dtypes=("float64", "float32"),
                 backends=("numpy", "numba", "torch"), families=FAMILIES, forms=FORMS,
                 repeats: int = DEFAULTS["repeats"], chunk_size: int = DEFAULTS["chunk_size"],
                 seed: int = 0, progress=None, **ignored) -> list[dict]:
    """One row per (key, dtype): forward and backward seconds, ratio, GFLOP/s, % matmul; the
    torch rows (autograd) last. Other bench options (``reference_cap``) are ignored."""
    rows, progress = [], progress or (lambda row: None)
    for dtype in [np.dtype(d) for d in dtypes]:
        rate = matmul_rate(dtype)
        for key in selected(backends, families, forms, [*sorted(VJPS), *PEER_ROWS]):
            backend, family, form = key.split(".")
            row = dict(name=key, dtype=str(dtype), T=T, N=N, P=P, batch=batch,
                       flops=backward_flop_count(form, T, N, P, chunk_size) * batch,
                       forward_flops=flop_count(form, T, N, P, chunk_size) * batch,
                       matmul_flops=rate, status="ok", reason="")
            reason = (torch_reason() if backend == "torch" else
                      "this table times host calls against the CPU matmul rate; the GPU VJPs "
                      "are checked (tests, simulator), not timed here" if backend == "cuda" else
                      f"T > {NUMPY_ATTENTION_MAX_T}: the mask gradient is a (T + 2)^3 matmul "
                      "per mode" if (backend, form) == ("numpy", "attention")
                      and T > NUMPY_ATTENTION_MAX_T else None)
            if reason is not None:
                row.update(status="skipped", reason=reason)
            else:
                try:
                    d = make_inputs(family, T, N, P, (batch,), dtype=dtype, seed=seed)
                    rng = np.random.default_rng(seed + 1)
                    dy, dh = (rng.standard_normal((batch, *s)).astype(dtype)
                              for s in ((T, P), (N, P)))
                    reps = min(repeats, 2) if backend == "numpy" else repeats
                    fwd_s, bwd_s = time_pair(key, d, dy, dh, chunk_size, reps)
                    row.update(forward_s=fwd_s, backward_s=bwd_s, ratio=bwd_s / fwd_s,
                               gflops=row["flops"] / bwd_s / 1e9,
                               pct_matmul=100.0 * row["flops"] / bwd_s / rate)
                except Exception as exc:  # a failing entry is reported, the others still run
                    row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            progress(row)
    return rows


def format_backward(rows: list[dict]) -> str:
    """The table of :func:`run_backward` rows."""
    lines = preamble("backward vs forward", rows, "best of round-robin calls (wall clock)",
                     "backward, scan 14TNP; chunked sum_c q(q+1)(3N+2P)+10qNP+4NP; attention: "
                     "one chunk; associative_scan: 2 x forward + 8TNP")
    head = (f"{label('implementation', 'dtype')}{'forward ms':>11}{'backward ms':>13}"
            f"{'bwd/fwd':>9}{'GFLOP/s':>9}{'%matmul':>9}")
    return "\n".join(lines + timed_rows(head, rows, "backward_s", lambda r: (
        f"{label(r['name'], r['dtype'])}{r['forward_s'] * 1e3:>11.2f}"
        f"{r['backward_s'] * 1e3:>13.2f}{r['ratio']:>8.2f}x{r['gflops']:>9.2f}"
        f"{r['pct_matmul']:>8.1f}%")))
