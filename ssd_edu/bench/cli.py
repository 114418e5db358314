"""``python -m ssd_edu bench``: the options, the progress lines, the table and the JSON."""
from __future__ import annotations

import argparse
import json
import sys

from ..registry import FAMILIES, FORMS, MISSING_BACKENDS
from .._cli import nonnegative_int, output_file, positive_float, positive_int
from .report import format_sweep, format_table, label
from . import run
from .run import DEFAULTS, SWEEP_T, run_bench, sweep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m ssd_edu bench``."""
    d = DEFAULTS
    parser.add_argument("--T", type=positive_int, default=d["T"],
                        help=f"sequence length ({d['T']})")
    parser.add_argument("--N", type=positive_int, default=d["N"], help=f"state size ({d['N']})")
    parser.add_argument("--P", type=positive_int, default=d["P"],
                        help=f"channels per head ({d['P']})")
    parser.add_argument("--batch", type=positive_int, default=d["batch"],
                        help=f"sequences (batch x heads) ({d['batch']})")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"])
    parser.add_argument("--backend", nargs="+",
                        default=["numpy", "plain", "numba", "cuda", "torch"],
                        choices=["numpy", "plain", "numba", "cuda", "torch"],
                        help="plain: the shortest Numba loops (ssd_edu.cpu.plain), the rows the "
                             "tuned numba rows gain over; torch: the comparison rows "
                             "torch.{scalar,diagonal}.chunked (the package's own torch code; "
                             "needs the optional `peers` extra)")
    parser.add_argument("--form", nargs="+", default=list(FORMS), choices=list(FORMS))
    parser.add_argument("--family", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--chunk-size", type=positive_int, default=d["chunk_size"],
                        help=f"chunk length Q of the chunked forms ({d['chunk_size']})")
    parser.add_argument("--repeats", type=positive_int, default=d["repeats"],
                        help=f"timed calls per implementation ({d['repeats']})")
    parser.add_argument("--reference-cap", type=positive_float, default=d["reference_cap"],
                        help="seconds the NumPy reference may spend per implementation "
                             f"({d['reference_cap']:g})")
    parser.add_argument("--sweep", type=positive_int, nargs="*", metavar="T",
                        help="scaling table over these T (no values: "
                             f"{' '.join(map(str, SWEEP_T))})")
    parser.add_argument("--sweep-N", type=positive_int, nargs="+", metavar="N",
                        help="with --sweep: also over these state sizes N, and print the "
                             "crossover table (the fastest form at each T and N)")
    parser.add_argument("--figure", metavar="PATH", type=output_file,
                        help="with --sweep-N: draw the crossover figure there (PNG)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="with --sweep-N: time CPU time, not wall time (steadier on a "
                             "loaded machine, with NUMBA_NUM_THREADS=1)")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the four steps of the numba chunked forms apart")
    parser.add_argument("--json", metavar="PATH", type=output_file,
                        help="also write every row as JSON")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--backward", action="store_true",
                        help="time every VJP next to its forward (ratio, %% matmul)")
    parser.add_argument("--scaling", type=positive_int, nargs="*", metavar="T",
                        help="time against T (no values: 128 256 512 1024) of the NumPy forms "
                             "and VJPs whose counted flops verify checks: min / median and "
                             "fitted slopes, an illustration (with --N, --P, --chunk-size, "
                             "--repeats)")


def _refusal(args):
    """Why the options cannot go together (an option another would silently ignore), or None."""
    # the sweep's own options name the sweep run, so no advice leads to another refusal
    sweep = next((opt for opt, on in (("--sweep", args.sweep is not None),
                                      ("--sweep-N", args.sweep_N), ("--figure", args.figure),
                                      ("--cpu-time", args.cpu_time)) if on), None)
    modes = [m for m, on in (("--backward", args.backward), ("--breakdown", args.breakdown),
                             ("--scaling", args.scaling is not None), (sweep, sweep)) if on]
    if len(modes) > 1:
        return f"{' and '.join(modes)} belong to separate runs; pick one"
    if args.sweep_N and args.sweep is None:
        return "--sweep-N extends --sweep T ...; add --sweep"
    if args.figure and not (args.sweep is not None and args.sweep_N):
        return "--figure draws the crossover of --sweep ... --sweep-N ...; add them"
    if args.cpu_time and not (args.sweep is not None and args.sweep_N):
        return "--cpu-time times the crossover of --sweep ... --sweep-N ...; add them"
    if (args.figure or args.breakdown) and "numba" not in args.backend:
        option = "--figure draws" if args.figure else "--breakdown times"
        return f"{option} the numba rows; add numba to --backend"
    if args.breakdown and set(args.form) not in (set(FORMS), {"chunked"}):
        return "--breakdown times the chunked forms only; drop --form or pass --form chunked"
    return None


def run_from_args(args) -> int:
    """Run the benchmark described by parsed ``args``; print the table; 0 unless all failed
    (2, before any work, for options that cannot go together)."""
    refusal = _refusal(args)
    if refusal:
        print(f"bench: {refusal}", file=sys.stderr)
        return 2
    opts = dict(N=args.N, P=args.P, batch=args.batch, dtypes=args.dtype,
                backends=args.backend, families=args.family, forms=args.form,
                repeats=args.repeats, chunk_size=args.chunk_size,
                reference_cap=args.reference_cap, seed=args.seed)
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

    def progress(row):
        if "sweep_N" in row:
            print(f"N = {row['sweep_N']} ...", flush=True)
        elif "sweep_T" in row:
            print(f"  T = {row['sweep_T']} ...", flush=True)
        elif "backward_s" in row:
            print(f"    {label(row['name'], row['dtype'])}{row['backward_s'] * 1e3:10.2f} ms "
                  f"({row['ratio']:.2f}x forward)", flush=True)
        elif "min_s" in row:
            print(f"    {label(row['name'], row['dtype'])}{row['min_s'] * 1e3:10.2f} ms",
                  flush=True)
        else:
            print(f"    {label(row['name'], row['dtype'])}{row['status']}: {row['reason']}",
                  flush=True)

    if args.scaling is not None:
        from .scaling import SCALING_T, format_scaling, scaling
        result = scaling(args.scaling or SCALING_T, N=args.N, P=args.P,
                         chunk_size=args.chunk_size, repeats=args.repeats,
                         progress=lambda line: print(line, flush=True))
        print(format_scaling(result))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"scaling": result}, fh, indent=1)
        return 0
    if args.backward:
        from .backward import format_backward, run_backward
        print(f"ssd_edu bench --backward: T = {args.T}, N = {args.N}, P = {args.P}, "
              f"batch = {args.batch}", flush=True)
        results = run_backward(T=args.T, progress=progress, **{
            k: v for k, v in opts.items() if k != "reference_cap"})
        print(format_backward(results))
    elif args.breakdown:
        from .breakdown import format_breakdown, run_breakdown
        print(f"ssd_edu bench --breakdown: T = {args.T}, N = {args.N}, P = {args.P}, "
              f"batch = {args.batch}", flush=True)
        results = run_breakdown(T=args.T, N=args.N, P=args.P, batch=args.batch,
                                dtypes=args.dtype, families=args.family,
                                chunk_size=args.chunk_size, repeats=args.repeats, seed=args.seed)
        print(format_breakdown(results))
    elif args.sweep is not None and args.sweep_N:
        from .crossover import crossover, format_crossover, plot_crossover
        Ts = args.sweep or list(SWEEP_T)
        print(f"ssd_edu bench --sweep T in {Ts}, N in {args.sweep_N}", flush=True)
        opts.pop("N")
        import time
        clock = time.process_time if args.cpu_time else time.perf_counter
        results = crossover(Ts, args.sweep_N, progress=progress, clock=clock, **opts)
        print(format_crossover(results))
        if args.figure:
            print(f"figure: {plot_crossover(results, args.figure)}")
    elif args.sweep is not None:
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
    done = any("min_s" in r or "backward_s" in r for r in results)
    return 0 if done or not results else 1


def _package_doc() -> str:
    return sys.modules[__package__].__doc__      # the package is loaded before its modules


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssd_edu bench", description=_package_doc(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))

