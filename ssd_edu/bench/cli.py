"""``python -m ssd_edu bench``: the options, the progress lines, the table and the JSON."""
from __future__ import annotations

import argparse
import json
import sys
import time

from ..registry import FAMILIES, FORMS, MISSING_BACKENDS
from .._cli import nonnegative_int, output_file, positive_float, positive_int
from .report import format_sweep, format_table, label
from . import run
from .run import DEFAULTS, SWEEP_T, run_bench, sweep

BACKENDS = ["numpy", "plain", "numba", "cuda", "torch"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m ssd_edu bench``."""
    d = DEFAULTS
    for name, help in (("T", "sequence length"), ("N", "state size"), ("P", "channels per head"),
                       ("batch", "sequences (batch x heads)"),
                       ("chunk-size", "chunk length Q of the chunked forms"),
                       ("repeats", "timed calls per implementation")):
        key = name.replace("-", "_")
        parser.add_argument(f"--{name}", type=positive_int, default=d[key],
                            help=f"{help} ({d[key]})")
    for name, choices in (("dtype", ["float64", "float32"]), ("backend", BACKENDS),
                          ("form", list(FORMS)), ("family", list(FAMILIES))):
        parser.add_argument(f"--{name}", nargs="+", default=choices, choices=choices)
    parser.add_argument("--reference-cap", type=positive_float, default=d["reference_cap"],
                        help="seconds the NumPy reference may spend per implementation "
                             f"({d['reference_cap']:g})")
    for name, nargs, help in (
            ("sweep", "*", f"scaling table over these T (none: {' '.join(map(str, SWEEP_T))})"),
            ("sweep-N", "+", "with --sweep: also over these N; the fastest form at each T, N"),
            ("scaling", "*", "time against T (none: 128 256 512 1024) of the NumPy forms and "
             "VJPs whose flops verify counts (with --N, --P, --chunk-size, --repeats)")):
        parser.add_argument(f"--{name}", type=positive_int, nargs=nargs,
                            metavar="N" if name == "sweep-N" else "T", help=help)
    for name, help in (("figure", "with --sweep-N: draw the crossover figure there (PNG)"),
                       ("json", "also write every row as JSON")):
        parser.add_argument(f"--{name}", metavar="PATH", type=output_file, help=help)
    for name, help in (("cpu-time", "with --sweep-N: time CPU time, not wall time"),
                       ("breakdown", "time the four steps of the numba chunked forms apart"),
                       ("backward", "time every VJP next to its forward (ratio, %% matmul)")):
        parser.add_argument(f"--{name}", action="store_true", help=help)
    parser.add_argument("--seed", type=nonnegative_int, default=0)


def _refusal(args):
    """Why the options cannot go together (one would silently ignore another), or None."""
    on = [opt for opt, value in (
        ("--backward", args.backward), ("--breakdown", args.breakdown),
        ("--scaling", args.scaling is not None), ("--sweep", args.sweep is not None),
        ("--sweep-N", args.sweep_N), ("--figure", args.figure),
        ("--cpu-time", args.cpu_time)) if value]
    sweep = [opt for opt in on if opt in ("--sweep", "--sweep-N", "--figure", "--cpu-time")]
    modes = [opt for opt in on if opt not in sweep] + sweep[:1]
    if len(modes) > 1:
        return f"{' and '.join(modes)} belong to separate runs; pick one"
    crossover = "--sweep" in on and "--sweep-N" in on
    numba = "numba" in args.backend
    for opt, ok, needs in (
            ("--sweep-N", "--sweep" in on, "--sweep T ..."),
            ("--figure", crossover, "--sweep T ... --sweep-N N ..."),
            ("--cpu-time", crossover, "--sweep T ... --sweep-N N ..."),
            ("--figure", numba, "numba in --backend"),
            ("--breakdown", numba, "numba in --backend"),
            ("--breakdown", set(args.form) in (set(FORMS), {"chunked"}), "--form chunked")):
        if opt in on and not ok:
            return f"{opt} needs {needs}"
    return None


def _progress(row):
    """The progress line of a finished row (or of the next T or N of a sweep)."""
    if "sweep_N" in row or "sweep_T" in row:
        line = f"N = {row['sweep_N']} ..." if "sweep_N" in row else f"  T = {row['sweep_T']} ..."
    elif "backward_s" in row:
        line = f"{row['backward_s'] * 1e3:10.2f} ms ({row['ratio']:.2f}x forward)"
    elif "min_s" in row:
        line = f"{row['min_s'] * 1e3:10.2f} ms"
    else:
        line = f"{row['status']}: {row['reason']}"
    if "name" in row:
        line = f"    {label(row['name'], row['dtype'])}{line}"
    print(line, flush=True)


def _write_json(path, result) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=1, default=float)


def run_from_args(args) -> int:
    """Run the benchmark of parsed ``args`` and print its table; 0 unless every row failed
    (2, before any work, for options that cannot go together)."""
    refusal = _refusal(args)
    if refusal:
        print(f"bench: {refusal}", file=sys.stderr)
        return 2
    opts = dict(N=args.N, P=args.P, batch=args.batch, dtypes=args.dtype, backends=args.backend,
                families=args.family, forms=args.form, repeats=args.repeats,
                chunk_size=args.chunk_size, reference_cap=args.reference_cap, seed=args.seed)
    if args.scaling is not None:
        from .scaling import SCALING_T, format_scaling, scaling
        result = scaling(args.scaling or SCALING_T, progress=lambda line: print(line, flush=True),
                         **opts)
        print(format_scaling(result))
        _write_json(args.json, {"scaling": result})
        return 0
    for backend in [b for b in args.backend if b in MISSING_BACKENDS and b != "cuda"]:
        print(f"{backend}: skipped ({MISSING_BACKENDS[backend]})", flush=True)
    if "numba" in args.backend and "numba" not in MISSING_BACKENDS:
        print("numba: kernels compile on first use and are cached on disk (the first run on a "
              "machine takes minutes)", flush=True)
    if "cuda" in args.backend:                                # one line, from the one probe
        timing, reason = run.cuda_timing()
        if timing is None:
            print(f"cuda: skipped ({reason})", flush=True)
            opts["backends"] = [b for b in args.backend if b != "cuda"]
    sizes = f"T = {args.T}, N = {args.N}, P = {args.P}, batch = {args.batch}"
    Ts = args.sweep or list(SWEEP_T)
    if args.backward:
        from .backward import format_backward as table, run_backward
        print(f"ssd_edu bench --backward: {sizes}", flush=True)
        results = run_backward(T=args.T, progress=_progress, **opts)
    elif args.breakdown:
        from .breakdown import format_breakdown as table, run_breakdown
        print(f"ssd_edu bench --breakdown: {sizes}", flush=True)
        results = run_breakdown(T=args.T, **opts)
    elif args.sweep_N:
        from .crossover import crossover, format_crossover as table, plot_crossover
        print(f"ssd_edu bench --sweep T in {Ts}, N in {args.sweep_N}", flush=True)
        opts.pop("N")
        clock = time.process_time if args.cpu_time else time.perf_counter
        results = crossover(Ts, args.sweep_N, progress=_progress, clock=clock, **opts)
    elif args.sweep is not None:
        print(f"ssd_edu bench --sweep T in {Ts}", flush=True)
        results, table = sweep(Ts, progress=_progress, **opts), format_sweep
    else:
        print(f"ssd_edu bench: {sizes}", flush=True)
        results, table = run_bench(T=args.T, progress=_progress, **opts), format_table
    print(table(results))
    if args.figure:
        print(f"figure: {plot_crossover(results, args.figure)}")
    _write_json(args.json, {"results": results})
    done = any("min_s" in r or "backward_s" in r for r in results)
    return 0 if done or not results else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssd_edu bench",
                                     description=sys.modules[__package__].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
