"""Argument types of the command line, shared by every subcommand: each refuses a bad value
with argparse's one-line error (exit code 2) before any work is done."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def _bounded(kind, low, strict: bool = False):
    """The argparse type of a ``kind`` (int or float) >= ``low`` (> with ``strict``)."""
    what = f"{'an integer' if kind is int else 'a number'} {'>' if strict else '>='} {low}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value > low if strict else value >= low):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value:g}")
        return value
    return parse


#: An integer >= 1 (sizes, repeats, chunk lengths).
positive_int = _bounded(int, 1)
#: An integer >= 0 (random seeds).
nonnegative_int = _bounded(int, 0)
#: A number > 0 (seconds).
positive_float = _bounded(float, 0, strict=True)


def output_file(text: str) -> str:
    """A file this process can write: not a folder, in a folder that exists and is writable
    (checked before the work whose results it will hold)."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {folder} does not exist (for {text})")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text} cannot be written (permission denied)")
    return text


def output_dir(text: str) -> str:
    """A folder that exists or can be created: not a file, below a writable folder."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; expected a folder")
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{ancestor} is a file, so {text} cannot be created")
    if not os.access(ancestor, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text} cannot be written in {ancestor} "
                                         f"(permission denied)")
    return text
