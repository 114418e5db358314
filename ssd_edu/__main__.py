"""Command line: ``python -m ssd_edu {verify, bench, grade, gpu-report, gpu-check, figures,
exercises, tutorials} ...``; ``--help`` on each describes it."""
from __future__ import annotations

import argparse
import sys

from ._cli import output_dir


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
    from . import bench
    from .bench import gpu_check, gpu_report
    from .exercises import batch, handout
    from .theorems import cli as theorems
    for name, module, help in (
            ("verify", theorems, "check every result of the paper and print a report"),
            ("bench", bench, "time the NumPy reference, the Numba and CUDA kernels"),
            ("grade", batch, "grade student notebooks / .py files (one process each)"),
            ("gpu-report", gpu_report, "compile every GPU kernel for an architecture and report "
             "registers, spills, shared memory, occupancy, instructions per FMA"),
            ("gpu-check", gpu_check, "on a machine with an NVIDIA GPU: GPU tests, kernel "
             "benchmark and compute-sanitizer, one report")):
        p = sub.add_parser(name, help=help)
        module.add_arguments(p)
        p.set_defaults(func=module.run_from_args)
    f = sub.add_parser("figures", help="regenerate every figure (PNG) with fixed seeds")
    f.add_argument("--out", metavar="DIR", default="figures",
                   help="output folder (default: figures)")
    f.add_argument("--only", metavar="NAME", nargs="+", help="only these files, e.g. cost.png")
    f.add_argument("--list", action="store_true", help="list the figures and exit")
    f.set_defaults(func=_figures)
    for kind in ("exercises", "tutorials"):
        h = sub.add_parser(kind, help=f"write the {kind} notebooks into a folder (hand them out)")
        handout.add_arguments(h, kind)
        h.set_defaults(func=handout.run_from_args)
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
