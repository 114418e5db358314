"""Benchmark: the NumPy reference, the Numba CPU kernels and the numba.cuda kernels, side by side.

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

  mask products and rescalings (O(T N) or O(T^2)) are not counted;
* ``% matmul``: GFLOP/s over the rate of a NumPy (BLAS) matrix multiply of the same dtype,
  measured in the same run: the machine's practical peak (for cuda rows: the device matmul
  rate of ``ssd_edu.gpu.timing``);
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
measured once per dtype at the start of the run (best of 10), so compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc

import numpy as np

from . import FAMILIES, FORMS, IMPLEMENTATIONS, MISSING_BACKENDS
from .testing import make_inputs
from .validation import QuadraticMemoryError, check_quadratic, check_ssm

DEFAULTS = dict(T=2048, N=64, P=64, batch=8, chunk_size=64, repeats=5, reference_cap=20.0)
SWEEP_T = (64, 128, 256, 512, 1024, 2048, 4096)
_MATMUL_CACHE: dict = {}


# ------------------------------------------------------------------------------------------
# what is counted


def flop_count(form: str, T: int, N: int, P: int, chunk_size: int = 64) -> int:
    """Flops of one sequence (see the module docstring for what is counted)."""
    if form == "scan":
        return 5 * T * N * P
    if form == "attention":
        return T * (T + 1) * (N + P) + 4 * T * N * P
    if form == "chunked":
        total = 0
        for t0 in range(0, T, chunk_size):
            q = min(chunk_size, T - t0)
            total += q * (q + 1) * (N + P) + 4 * q * N * P + 2 * N * P
        return total
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def numba_workspace_bytes(form: str, T: int, N: int, P: int, dtype, chunk_size: int = 64,
                          threads: int | None = None) -> int:
    """Bytes the Numba kernels allocate inside compiled code (not seen by tracemalloc).

    scan: none; attention: per thread F, Cq, Cm (TILE, N), Bt (N, TILE), W (TILE, TILE), one
    (N,) vector (the rescaled keys and tile products, O(T N), are NumPy arrays and traced);
    chunked: per thread F, G, Cc, CF (Q, N), Bt, BG (N, Q), W (Q, Q), Xc, Y1, Y2 (Q, w),
    Sc, Hc (N, w) and one (N,) vector, with the channel-block width w counted as P (its
    largest value).
    """
    from .cpu.attention import TILE
    if threads is None:
        import numba
        threads = numba.get_num_threads()
    item = np.dtype(dtype).itemsize
    if form == "scan":
        return 0
    if form == "attention":
        q = min(TILE, max(T, 1))
        return threads * item * (4 * q * N + q * q + N)
    q = min(chunk_size, max(T, 1))
    return threads * item * (6 * q * N + q * q + 3 * q * P + 2 * N * P + N)


def matmul_rate(dtype, n: int = 1024, repeats: int = 10) -> float:
    """flop/s of an (n, n) @ (n, n) NumPy matmul in ``dtype``: 2 n^3 / best of ``repeats``.

    The BLAS matmul is the practical peak of this machine; measured once per dtype and run.
    """
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(dtype)
    B = rng.standard_normal((n, n)).astype(dtype)
    A @ B
    best = min(_timed(lambda: A @ B) for _ in range(repeats))
    return 2.0 * n**3 / best


def _timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _traced_peak(call) -> tuple[float, int]:
    """(seconds, peak bytes allocated through Python/NumPy) of one call."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        seconds = _timed(call)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return seconds, int(peak)


# ------------------------------------------------------------------------------------------
# the cuda branch (optional: ssd_edu.gpu.timing, guarded)


def cuda_timing():
    """``(timing module, None)`` when CUDA kernels can run here, else ``(None, reason)``."""
    from .gpu import timing, unavailable_reason  # the one CUDA probe (guards numba-cuda itself)
    reason = unavailable_reason()
    return (timing, None) if reason is None else (None, reason)


def _run_cuda(timing, fn, data, kwargs, repeats, dtype, rates) -> dict:
    args = (data["x"], data["a"], data["B"], data["C"])
    out = timing.time_cuda(fn, args, dict(kwargs, initial_state=data["initial_state"]), repeats)
    key = ("cuda", str(dtype))
    if key not in rates:
        rates[key] = timing.device_matmul_rate(dtype)
    extra = {"transfer_s": float(out["transfer_s"]), "timer": out.get("timer", ""),
             "simulator": bool(out.get("simulator", False)), "matmul_flops": rates[key]}
    return {"times": [float(t) for t in out["kernel_s"]], **extra}


# ------------------------------------------------------------------------------------------
# one workload


def _selected(backends, families, forms):
    names = []
    for name in IMPLEMENTATIONS:
        backend, family, form = name.split(".")
        if backend in backends and family in families and form in forms:
            names.append(name)
    return names


def _reference_plan(fn, form, family, T, N, P, batch, dtype, kwargs, cap, seed):
    """None if the NumPy reference may run, else the reason it is skipped."""
    if form != "attention":
        return None
    try:
        check_quadratic(f"numpy {family}_attention", (batch,), T, dtype, copies=3)
    except QuadraticMemoryError as exc:
        return f"quadratic memory: {str(exc).split(';')[0]}"
    Tp = min(T, 256)
    if Tp < T:
        probe = make_inputs(family, Tp, N, P, (batch,), dtype=dtype, seed=seed)
        fn(**probe, **kwargs)
        seconds = min(_timed(lambda: fn(**probe, **kwargs)) for _ in range(2))
        predicted = seconds * (T / Tp) ** 2
        if predicted > cap:
            return (f"predicted {predicted:.0f} s per call (from T = {Tp}) > reference cap "
                    f"{cap:g} s")
    return None


def run_bench(T: int = DEFAULTS["T"], N: int = DEFAULTS["N"], P: int = DEFAULTS["P"],
              batch: int = DEFAULTS["batch"], dtypes=("float64", "float32"),
              backends=("numpy", "numba", "cuda"), families=FAMILIES, forms=FORMS,
              repeats: int = DEFAULTS["repeats"], chunk_size: int = DEFAULTS["chunk_size"],
              reference_cap: float = DEFAULTS["reference_cap"], seed: int = 0,
              progress=None, rates: dict | None = None) -> list[dict]:
    """Time every selected implementation on one workload; return one dict per row.

    Workload: ``batch`` sequences of length T, state N, channels P, random decays in
    [0.5, 1) (``make_inputs``, regime "random") and an initial state. ``progress`` is called
    with each finished row. Rows that did not run have ``status`` "skipped" and a ``reason``.
    ``rates`` caches the matmul rates between calls (``sweep`` passes one dict).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rates = {} if rates is None else rates
    timing, cuda_reason = (None, None)
    if "cuda" in backends:
        timing, cuda_reason = cuda_timing()
    names = _selected(backends, families, forms)
    results = []
    for dtype in [np.dtype(d) for d in dtypes]:
        if ("cpu", str(dtype)) not in rates:
            rates[("cpu", str(dtype))] = matmul_rate(dtype)
        cpu_rate = rates[("cpu", str(dtype))]
        data = {fam: make_inputs(fam, T, N, P, (batch,), dtype=dtype, seed=seed)
                for fam in families}
        for name in names:
            backend, family, form = name.split(".")
            fn = IMPLEMENTATIONS[name]
            kwargs = {"chunk_size": chunk_size} if form == "chunked" else {}
            row = dict(name=name, backend=backend, family=family, form=form, dtype=str(dtype),
                       T=T, N=N, P=P, batch=batch, chunk_size=chunk_size if form == "chunked"
                       else None, flops=flop_count(form, T, N, P, chunk_size) * batch,
                       status="ok", reason="")
            if backend == "cuda" and timing is None:
                row.update(status="skipped", reason=cuda_reason)
                results.append(row)
                continue
            try:
                if backend == "cuda":
                    out = _run_cuda(timing, fn, data[family], kwargs, repeats, dtype, rates)
                    times = out.pop("times")
                    row.update(out, mem_bytes=None, mem="")
                else:
                    times = _run_host(row, fn, data[family], kwargs, repeats, reference_cap,
                                      seed)
                    row["matmul_flops"] = cpu_rate
            except Exception as exc:  # a failing entry is reported, the others still run
                row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
                times = None
            if times:
                row.update(times=times, median_s=float(np.median(times)), min_s=min(times),
                           repeats=len(times))
                row["gflops"] = row["flops"] / row["min_s"] / 1e9
                row["pct_matmul"] = 100.0 * row["flops"] / row["min_s"] / row["matmul_flops"]
            results.append(row)
            if progress is not None:
                progress(row)
    _speedups(results)
    return results


def _run_host(row, fn, data, kwargs, repeats, cap, seed):
    """Warm-up, memory and timing of a NumPy or Numba implementation (fills ``row``)."""
    T, N, P, batch = row["T"], row["N"], row["P"], row["batch"]
    if row["backend"] == "numpy":
        reason = _reference_plan(fn, row["form"], row["family"], T, N, P, batch,
                                 np.dtype(row["dtype"]), kwargs, cap, seed)
        if reason is not None:
            row.update(status="skipped", reason=reason)
            return None
        seconds, peak = _traced_peak(lambda: fn(**data, **kwargs))     # warm-up, traced
        row.update(mem_bytes=peak, mem="traced")
        if seconds * repeats > cap:
            repeats = max(1, int(cap // max(seconds, 1e-9)))
            row["reason"] = f"repeats cut to {repeats} by the reference cap ({cap:g} s)"
    else:
        fn(**data, **kwargs)                                              # compiles / loads
        _, peak = _traced_peak(lambda: fn(**data, **kwargs))
        work = numba_workspace_bytes(row["form"], T, N, P, row["dtype"], row["chunk_size"] or 64)
        row.update(mem_bytes=peak + work, mem="traced+analytic")
    times = [_timed(lambda: fn(**data, **kwargs)) for _ in range(repeats)]
    # the shared argument checks (a finiteness scan of every input) are part of every call
    row["validate_s"] = min(_timed(lambda: check_ssm(row["family"], **data)) for _ in range(3))
    return times


def _speedups(results):
    ref = {(r["family"], r["form"], r["dtype"], r["T"]): r["min_s"] for r in results
           if r["backend"] == "numpy" and "min_s" in r}
    for r in results:
        base = ref.get((r["family"], r["form"], r["dtype"], r["T"]))
        r["speedup"] = base / r["min_s"] if base is not None and "min_s" in r else None


# ------------------------------------------------------------------------------------------
# tables


def _fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def format_table(results: list[dict]) -> str:
    """A readable table of :func:`run_bench` rows, with the matmul rates and flop counts."""
    lines = []
    rates = {}
    for r in results:
        if "matmul_flops" in r:
            rates[(r["backend"] == "cuda", r["dtype"])] = r["matmul_flops"]
    if results:
        r0 = results[0]
        lines.append(f"workload: {r0['batch']} sequences, T = {r0['T']}, N = {r0['N']}, "
                     f"P = {r0['P']}; median/min of the timed calls after a warm-up")
    for (is_cuda, dtype), rate in sorted(rates.items()):
        where = "device (ssd_edu.gpu.timing)" if is_cuda else "NumPy/BLAS"
        lines.append(f"matmul rate {dtype}: {rate / 1e9:.1f} GFLOP/s ({where}, same run)")
    lines.append("flops counted: scan 5TNP; attention T(T+1)(N+P)+4TNP; chunked "
                 "sum_c q(q+1)(N+P)+4qNP+2NP (per sequence)")
    head = (f"{'implementation':<26}{'dtype':<9}{'median ms':>11}{'min ms':>10}{'GFLOP':>9}"
            f"{'GFLOP/s':>9}{'%matmul':>9}{'vs numpy':>10}{'extra MiB':>11}  note")
    lines += [head, "-" * len(head)]
    for r in results:
        if "min_s" not in r:
            lines.append(f"{r['name']:<26}{r['dtype']:<9}{r['status']}: {r['reason']}")
            continue
        speed = _fmt(r.get("speedup"), ".1f") + ("x" if r.get("speedup") is not None else "")
        mem = r.get("mem_bytes")
        note = r.get("mem", "")
        if r["backend"] == "cuda":
            note = f"transfer {r['transfer_s'] * 1e3:.2f} ms" + (
                " (simulator)" if r.get("simulator") else "")
        if r.get("validate_s") is not None:
            note += f"; checks {r['validate_s'] * 1e3:.1f} ms"
        if r.get("reason"):
            note += f"; {r['reason']}"
        lines.append(
            f"{r['name']:<26}{r['dtype']:<9}{r['median_s'] * 1e3:>11.2f}{r['min_s'] * 1e3:>10.2f}"
            f"{r['flops'] / 1e9:>9.3f}{r['gflops']:>9.2f}{r['pct_matmul']:>8.1f}%{speed:>10}"
            f"{_fmt(None if mem is None else mem / 2**20, '.1f'):>11}  {note}")
    return "\n".join(lines)


def sweep(Ts=SWEEP_T, progress=None, **kwargs) -> list[dict]:
    """:func:`run_bench` for each T in ``Ts`` (other arguments as for run_bench)."""
    rates: dict = {}
    results = []
    for T in Ts:
        if progress is not None:
            progress({"sweep_T": T})
        results += run_bench(T=T, progress=progress, rates=rates, **kwargs)
    return results


def format_sweep(results: list[dict]) -> str:
    """One table per (family, dtype): min ms per implementation against T, and the winner."""
    lines = []
    keys = sorted({(r["family"], r["dtype"]) for r in results})
    for family, dtype in keys:
        rows = [r for r in results if r["family"] == family and r["dtype"] == dtype]
        names = list(dict.fromkeys(r["name"] for r in rows))
        Ts = sorted({r["T"] for r in rows})
        short = [n.replace(f".{family}.", ".") for n in names]
        lines.append(f"{family} family, {dtype}: min ms per call (GFLOP/s)")
        head = f"{'T':>6}" + "".join(f"{s:>22}" for s in short) + "  fastest"
        lines += [head, "-" * len(head)]
        for T in Ts:
            cells, best = [], None
            for n in names:
                r = next((r for r in rows if r["name"] == n and r["T"] == T), None)
                if r is None or "min_s" not in r:
                    cells.append(f"{'skipped' if r else '-':>22}")
                    continue
                cells.append(f"{r['min_s'] * 1e3:>12.2f} ({r['gflops']:>6.1f})")
                if best is None or r["min_s"] < best[1]:
                    best = (n.replace(f".{family}.", "."), r["min_s"])
            lines.append(f"{T:>6}" + "".join(cells) + f"  {best[0] if best else '-'}")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m ssd_edu bench``."""
    d = DEFAULTS
    parser.add_argument("--T", type=int, default=d["T"], help=f"sequence length ({d['T']})")
    parser.add_argument("--N", type=int, default=d["N"], help=f"state size ({d['N']})")
    parser.add_argument("--P", type=int, default=d["P"], help=f"channels per head ({d['P']})")
    parser.add_argument("--batch", type=int, default=d["batch"],
                        help=f"sequences (batch x heads) ({d['batch']})")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"])
    parser.add_argument("--backend", nargs="+", default=["numpy", "numba", "cuda"],
                        choices=["numpy", "numba", "cuda"])
    parser.add_argument("--form", nargs="+", default=list(FORMS), choices=list(FORMS))
    parser.add_argument("--family", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--chunk-size", type=int, default=d["chunk_size"],
                        help=f"chunk length Q of the chunked forms ({d['chunk_size']})")
    parser.add_argument("--repeats", type=int, default=d["repeats"],
                        help=f"timed calls per implementation ({d['repeats']})")
    parser.add_argument("--reference-cap", type=float, default=d["reference_cap"],
                        help="seconds the NumPy reference may spend per implementation "
                             f"({d['reference_cap']:g})")
    parser.add_argument("--sweep", type=int, nargs="*", metavar="T",
                        help="scaling table over these T (no values: "
                             f"{' '.join(map(str, SWEEP_T))})")
    parser.add_argument("--json", metavar="PATH", help="also write every row as JSON")
    parser.add_argument("--seed", type=int, default=0)


def run_from_args(args) -> int:
    """Run the benchmark described by parsed ``args``; print the table; 0 unless all failed."""
    opts = dict(N=args.N, P=args.P, batch=args.batch, dtypes=args.dtype,
                backends=args.backend, families=args.family, forms=args.form,
                repeats=args.repeats, chunk_size=args.chunk_size,
                reference_cap=args.reference_cap, seed=args.seed)
    for backend in [b for b in args.backend if b in MISSING_BACKENDS]:
        print(f"{backend}: skipped ({MISSING_BACKENDS[backend]})", flush=True)
    if "cuda" in args.backend:
        timing, reason = cuda_timing()
        if timing is None:
            print(f"cuda: skipped ({reason})", flush=True)
            opts["backends"] = [b for b in args.backend if b != "cuda"]

    def progress(row):
        if "sweep_T" in row:
            print(f"  T = {row['sweep_T']} ...", flush=True)
        elif "min_s" in row:
            print(f"    {row['name']:<26}{row['dtype']:<9}{row['min_s'] * 1e3:10.2f} ms",
                  flush=True)
        else:
            print(f"    {row['name']:<26}{row['dtype']:<9}{row['status']}: {row['reason']}",
                  flush=True)

    if args.sweep is not None:
        Ts = args.sweep or list(SWEEP_T)
        print(f"ssd_edu bench --sweep T in {Ts}", flush=True)
        results = sweep(Ts, progress=progress, **opts)
        print(format_sweep(results))
    else:
        print(f"ssd_edu bench: T = {args.T}, N = {args.N}, P = {args.P}, batch = {args.batch}",
              flush=True)
        results = run_bench(T=args.T, progress=progress, **opts)
        print(format_table(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results}, fh, indent=1, default=float)
    return 0 if any("min_s" in r for r in results) or not results else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssd_edu bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
