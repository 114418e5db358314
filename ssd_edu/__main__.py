"""Command line: ``python -m ssd_edu {verify, figures, bench, grade, exercises, tutorials,
gpu-report, gpu-check} ...``; ``--help`` on each describes it."""
from __future__ import annotations

import argparse
import sys

from ._cli import output_dir


def _verify(args) -> int:
    from .theorems.cli import run_from_args
    return run_from_args(args)


def _figures(args) -> int:
    from .figures import FIGURES, generate

    if args.list:
        for name, (_, what) in FIGURES.items():
            print(f"{name:<24} {what}")
        return 0
    try:                        # checked here, not by argparse: --list writes nothing
        output_dir(args.out)
    except argparse.ArgumentTypeError as exc:
        print(f"error: argument --out: {exc}", file=sys.stderr)
        return 2
    try:
        generate(args.out, args.only,
                 progress=lambda path, sec: print(f"  {path} ({sec:.1f}s)", flush=True))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ssd_edu",
                                     description="Structured state-space duality, checked.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check every result of the paper and print a report")
    from .theorems.cli import add_arguments
    add_arguments(v)
    v.set_defaults(func=_verify)
    f = sub.add_parser("figures", help="regenerate every figure (PNG) with fixed seeds")
    f.add_argument("--out", metavar="DIR", default="figures",
                   help="output folder (default: figures)")
    f.add_argument("--only", metavar="NAME", nargs="+", help="only these files, e.g. cost.png")
    f.add_argument("--list", action="store_true", help="list the figures and exit")
    f.set_defaults(func=_figures)
    from . import bench

    b = sub.add_parser("bench", help="time the NumPy reference, the Numba and CUDA kernels")
    bench.add_arguments(b)
    b.set_defaults(func=bench.run_from_args)
    from .exercises import batch, handout

    g = sub.add_parser("grade", help="grade student notebooks / .py files (one process each)")
    batch.add_arguments(g)
    g.set_defaults(func=batch.run_from_args)
    for kind in ("exercises", "tutorials"):
        h = sub.add_parser(kind, help=f"write the {kind} notebooks into a folder (hand them out)")
        handout.add_arguments(h, kind)
        h.set_defaults(func=handout.run_from_args)
    r = sub.add_parser("gpu-report", help="compile every GPU kernel for an architecture and "
                       "report registers, spills, shared memory, occupancy, instructions per FMA")
    from .bench import gpu_report

    gpu_report.add_arguments(r)
    r.set_defaults(func=gpu_report.run_from_args)
    c = sub.add_parser("gpu-check", help="on a machine with an NVIDIA GPU: GPU tests, kernel "
                       "benchmark and compute-sanitizer, one report")
    from .bench import gpu_check as check

    check.add_arguments(c)
    c.set_defaults(func=check.run_from_args)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (``... | head``): stop quietly, as a shell tool does; point
        # stdout at devnull so that Python's own flush at exit does not fail again
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
