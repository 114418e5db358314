"""One benchmark workload: every selected implementation timed, counted and measured."""
from __future__ import annotations

from functools import partial

import numpy as np

from ..registry import FAMILIES, FORMS, IMPLEMENTATIONS
from ..testing import make_inputs
from ..validation import QuadraticMemoryError, check_quadratic, check_ssm
from .peers import torch_reason
from .timing import matmul_rate, settle_blas, timed, traced_peak

#: The torch rows (``peers``), timed next to the package's; torch is optional, never registered.
PEER_ROWS = ("torch.scalar.chunked", "torch.diagonal.chunked")

DEFAULTS = dict(T=2048, N=64, P=64, batch=8, chunk_size=64, repeats=5, reference_cap=20.0)
SWEEP_T = (64, 128, 256, 512, 1024, 2048, 4096)


def chunk_lengths(T: int, chunk_size: int) -> list:
    """The lengths q of the chunks of ``chunk_size`` steps (the last one may be shorter)."""
    return [min(chunk_size, T - t0) for t0 in range(0, T, chunk_size)]


def flop_count(form: str, T: int, N: int, P: int, chunk_size: int = 64) -> int:
    """Flops of one sequence: scan 5 T N P; attention T (T + 1) (N + P) + 4 T N P; chunked
    sum_c q (q + 1) (N + P) + 4 q N P + 2 N P; associative_scan 3 T N P + 2 N P per composed
    step of its passes. Mask products and rescalings are not counted."""
    if form == "scan":
        return 5 * T * N * P
    if form == "attention":
        return T * (T + 1) * (N + P) + 4 * T * N * P
    if form == "chunked":
        return sum(q * (q + 1) * (N + P) + 4 * q * N * P + 2 * N * P
                   for q in chunk_lengths(T, chunk_size))
    if form == "associative_scan":
        # U_t = B_t x_t^T and y_t = h_t^T C_t (3 T N P), then per pass d = 1, 2, 4, ... < T
        # the T - d later steps each compose A U + U (2 N P; the products of A not counted)
        passes = sum(T - 2**k for k in range(max(T - 1, 0).bit_length()))
        return 3 * T * N * P + 2 * N * P * passes
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def numba_workspace_bytes(form: str, T: int, N: int, P: int, dtype, chunk_size: int = 64,
                          threads: int | None = None) -> int:
    """Bytes the Numba kernels allocate inside compiled code (unseen by tracemalloc): ``threads``
    times the per-thread workspaces (chunked: the larger of steps 1-2 and step 4)."""
    from ..cpu import attention, chunked, scan
    if threads is None:
        import numba
        threads = numba.get_num_threads()
    like = np.empty(0, dtype=dtype)
    if form == "scan":
        arrays = [scan.state_rows(P, N, like)]
    elif form == "attention":
        arrays = attention.tile_workspaces(attention.TILE, N, P, like)
    else:
        Q = min(chunk_size, max(T, 1))
        arrays = max(chunked.intra_workspaces(Q, N, P, like),
                     chunked.output_workspaces(Q, N, P, like),
                     key=lambda ws: sum(w.nbytes for w in ws))
    return threads * sum(int(w.nbytes) for w in arrays)


def cuda_timing():
    """``(timing module, None)`` when CUDA kernels can run here, else ``(None, reason)``."""
    from ..gpu import unavailable_reason  # the one CUDA probe (guards numba-cuda itself)
    from . import gpu_timing as timing
    reason = unavailable_reason()
    return (timing, None) if reason is None else (None, reason)


def selected(backends, families, forms, names) -> list:
    """The ``names`` "{backend}.{family}.{form}" with each part selected."""
    return [name for name in names if all(part in chosen for part, chosen in
                                          zip(name.split("."), (backends, families, forms)))]


def _reference_plan(fn, form, family, T, N, P, batch, dtype, cap, seed):
    """None if the NumPy reference may run, else the reason it is skipped (attention only)."""
    if form != "attention":
        return None
    try:
        check_quadratic(f"numpy {family}_attention", (batch,), T, dtype, copies=3)
    except QuadraticMemoryError as exc:
        return f"quadratic memory: {str(exc).split(';')[0]}"
    Tp = 256
    if T <= Tp:
        return None
    probe = make_inputs(family, Tp, N, P, (batch,), dtype=dtype, seed=seed)
    fn(**probe)
    predicted = min(timed(lambda: fn(**probe)) for _ in range(2)) * (T / Tp) ** 2
    return (f"predicted {predicted:.0f} s per call (from T = {Tp}) > reference cap {cap:g} s"
            if predicted > cap else None)


def run_bench(T: int = DEFAULTS["T"], N: int = DEFAULTS["N"], P: int = DEFAULTS["P"],
              batch: int = DEFAULTS["batch"], dtypes=("float64", "float32"),
              backends=("numpy", "plain", "numba", "cuda", "torch"), families=FAMILIES,
              forms=FORMS, repeats: int = DEFAULTS["repeats"],
              chunk_size: int = DEFAULTS["chunk_size"],
              reference_cap: float = DEFAULTS["reference_cap"], seed: int = 0,
              progress=None, rates: dict | None = None) -> list[dict]:
    """Time every selected implementation on ``batch`` sequences of ``make_inputs``: one dict
    per row, passed to ``progress`` when done (``status`` "skipped" and a ``reason`` if it did
    not run). ``rates`` caches the matmul rates between calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rates, progress = {} if rates is None else rates, progress or (lambda row: None)
    timing, cuda_reason = cuda_timing() if "cuda" in backends else (None, None)
    names = selected(backends, families, forms, [*IMPLEMENTATIONS, *PEER_ROWS])
    results = []
    for dtype in [np.dtype(d) for d in dtypes]:
        if ("cpu", str(dtype)) not in rates:
            rates["cpu", str(dtype)] = matmul_rate(dtype)
        data = {fam: make_inputs(fam, T, N, P, (batch,), dtype=dtype, seed=seed)
                for fam in families}
        previous = None
        for name in names:
            backend, family, form = name.split(".")
            if previous == "numpy" and backend != "numpy":
                settle_blas()          # the NumPy forms call BLAS; its threads spin after them
            previous = backend
            fn = IMPLEMENTATIONS.get(name)
            kwargs = {"chunk_size": chunk_size} if form == "chunked" else {}
            row = dict(name=name, backend=backend, family=family, form=form, dtype=str(dtype),
                       T=T, N=N, P=P, batch=batch, chunk_size=chunk_size if form == "chunked"
                       else None, flops=flop_count(form, T, N, P, chunk_size) * batch,
                       status="ok", reason="")
            skip = {"cuda": cuda_reason, "torch": backend == "torch" and torch_reason()}
            times = None
            try:
                if skip.get(backend):
                    row.update(status="skipped", reason=skip[backend])
                elif backend == "torch":
                    from .peers import numpy_chunked, torch_threads
                    call = partial(numpy_chunked, family, **data[family], **kwargs)
                    with torch_threads():
                        call()                                              # warm-up
                        times = [timed(call) for _ in range(repeats)]
                    row.update(mem_bytes=None, mem="torch (not traced)",
                               matmul_flops=rates["cpu", str(dtype)])
                elif backend == "cuda":
                    d, key = data[family], ("cuda", str(dtype))
                    out = timing.time_cuda(fn, (d["x"], d["a"], d["B"], d["C"]),
                                           dict(kwargs, initial_state=d["initial_state"]), repeats)
                    if key not in rates:
                        rates[key] = timing.device_matmul_rate(dtype)
                    row.update(transfer_s=float(out["transfer_s"]), timer=out["timer"],
                               simulator=bool(out["simulator"]), matmul_flops=rates[key],
                               mem_bytes=None, mem="", peak_flops=timing.device_peaks().get(
                                   str(dtype)))
                    times = [float(t) for t in out["kernel_s"]]
                else:
                    times = _run_host(row, fn, data[family], kwargs, repeats, reference_cap,
                                      seed)
                    row["matmul_flops"] = rates["cpu", str(dtype)]
            except Exception as exc:  # a failing entry is reported, the others still run
                row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
            if times:
                row.update(times=times, median_s=float(np.median(times)), min_s=min(times),
                           repeats=len(times))
                row["gflops"] = row["flops"] / row["min_s"] / 1e9
                row["pct_matmul"] = 100.0 * row["flops"] / row["min_s"] / row["matmul_flops"]
            results.append(row)
            progress(row)
    ref = {(r["family"], r["form"], r["dtype"]): r["min_s"] for r in results
           if r["backend"] == "numpy" and "min_s" in r}
    for r in results:
        base = ref.get((r["family"], r["form"], r["dtype"]))
        r["speedup"] = base / r["min_s"] if base is not None and "min_s" in r else None
    return results


def _run_host(row, fn, data, kwargs, repeats, cap, seed):
    """Warm-up, memory and timing of a NumPy or Numba implementation (fills ``row``)."""
    T, N, P, batch = row["T"], row["N"], row["P"], row["batch"]
    if row["backend"] == "numpy":
        reason = _reference_plan(fn, row["form"], row["family"], T, N, P, batch,
                                 np.dtype(row["dtype"]), cap, seed)
        if reason is not None:
            row.update(status="skipped", reason=reason)
            return None
        check_ssm(row["family"], **data)   # loads the compiled checks once, outside the trace
        seconds, peak = traced_peak(lambda: fn(**data, **kwargs))     # warm-up, traced
        row.update(mem_bytes=peak, mem="traced")
        if seconds * repeats > cap:
            repeats = max(1, int(cap // max(seconds, 1e-9)))
            row["reason"] = f"repeats cut to {repeats} by the reference cap ({cap:g} s)"
    else:
        fn(**data, **kwargs)                                              # compiles / loads
        _, peak = traced_peak(lambda: fn(**data, **kwargs))
        if row["backend"] == "plain":                  # no workspaces inside compiled code
            row.update(mem_bytes=peak, mem="traced")
        else:
            work = numba_workspace_bytes(row["form"], T, N, P, row["dtype"],
                                         row["chunk_size"] or 64)
            row.update(mem_bytes=peak + work, mem="traced+analytic")
    times = [timed(lambda: fn(**data, **kwargs)) for _ in range(repeats)]
    check = check_ssm                          # the argument checks every call pays
    if row["backend"] != "numpy":              # the launchers' (a compiled finiteness pass)
        from ..cpu._launch import flatten as check
    row["validate_s"] = min(timed(lambda: check(row["family"], **data)) for _ in range(3))
    return times


def sweep(Ts=SWEEP_T, progress=None, **kwargs) -> list[dict]:
    """:func:`run_bench` for each T in ``Ts`` (other arguments as for run_bench)."""
    rates, results, progress = {}, [], progress or (lambda row: None)
    for T in Ts:
        progress({"sweep_T": T})
        results += run_bench(T=T, progress=progress, rates=rates, **kwargs)
    return results
