"""``python -m ssd_edu verify``: run the rows and print the teaching report (or one record)."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

from .._cli import output_file
from .registry import CHECKS, SECTIONS, both_numberings, format_detail, format_report, run_checks


def add_arguments(v) -> None:
    """The options of ``verify`` (the parser is built in ``ssd_edu.__main__``)."""
    v.add_argument("--full", action="store_true",
                   help="larger grids, the T = 5 enumeration (minutes); shows progress")
    v.add_argument("--json", metavar="PATH", type=output_file, help="also write the records")
    v.add_argument("--only", metavar="ID", nargs="+", help="run only these check ids")
    v.add_argument("--detail", metavar="ID", help="run one row and print its whole record")
    v.add_argument("--list", action="store_true", help="list the rows by section and exit")
    v.add_argument("--progress", action="store_true", help="print each row as it finishes")


def run_from_args(args) -> int:
    """Exit status 0 if every row passed, 1 if some failed, 2 for an unknown id."""
    if args.list:
        for key, (title, where) in SECTIONS.items():
            print(f"{title}  [{where}]")
            for c in (c for c in CHECKS.values() if c.section == key):
                print(f"  {c.id:<24} {both_numberings(c.reference)}\n  {'':<24} {c.statement}")
        return 0
    mode, show = "full" if args.full else "quick", args.progress or args.full

    def progress(k, n, id, r):
        if show:
            print(f" {'PASS' if r.passed else 'FAIL'} ({r.seconds:.1f} s)" if r else
                  f"  [{k + 1}/{n}] {id} ...", end="\n" if r else "", flush=True)
    try:
        records = run_checks([args.detail] if args.detail else args.only, full=args.full,
                             progress=progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_detail(records[0]) if args.detail else format_report(records, mode))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"mode": mode, "records": [asdict(r) for r in records]}, fh, indent=2,
                      default=str)
    return 0 if all(r.passed for r in records) else 1
