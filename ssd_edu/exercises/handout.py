"""Handing out the notebooks: ``ssd-edu exercises --out DIR`` and ``ssd-edu tutorials --out DIR``.

The one copy is the checkout's ``tutorials/`` (and ``tutorials/exercises/``); the package data
``ssd_edu/notebooks/{tutorials,exercises}`` links to them, so a wheel carries them.
"""
from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from .._cli import output_dir

#: kind -> (folder inside the installed package, folder inside a checkout)
SOURCES = {"tutorials": ("notebooks/tutorials", "tutorials"),
           "exercises": ("notebooks/exercises", "tutorials/exercises")}


def notebook_dir(kind: str) -> Path:
    """The folder holding the ``kind`` ("tutorials" or "exercises") notebooks."""
    if kind not in SOURCES:
        raise ValueError(f"kind must be one of {tuple(SOURCES)}, got {kind!r}")
    packaged, checkout = SOURCES[kind]
    package = Path(str(resources.files("ssd_edu")))
    for folder in (package / packaged, package.parent / checkout):
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise FileNotFoundError(f"no {kind} notebooks found in {package / packaged} or "
                            f"{package.parent / checkout}; reinstall ssd_edu from a wheel or "
                            f"a checkout")


def hand_out(kind: str, out, force: bool = False) -> list:
    """Copy every ``kind`` notebook into the folder ``out`` (created); returns the new paths.
    Existing files are kept (ValueError naming them) unless ``force``."""
    out, sources = Path(out), sorted(notebook_dir(kind).glob("*.ipynb"))
    clash = [out / p.name for p in sources if (out / p.name).exists()]
    if clash and not force:
        raise ValueError(f"{len(clash)} file(s) already exist in {out} (first: {clash[0].name}); "
                         f"pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(p, out / p.name)) for p in sources]


def add_arguments(parser, kind: str) -> None:
    parser.add_argument("--out", metavar="DIR", required=True, type=output_dir,
                        help=f"where to write the {kind}")
    parser.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    parser.set_defaults(kind=kind)


def run_from_args(args) -> int:
    try:
        written = hand_out(args.kind, args.out, args.force)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"  {path}")
    print(f"wrote {len(written)} {args.kind} notebook(s) to {args.out}")
    return 0
