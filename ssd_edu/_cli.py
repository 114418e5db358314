"""Argument types of the command line, shared by every subcommand: each refuses a bad value
with argparse's one-line error (exit code 2) before any work is done."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def integer_at_least(low: int):
    """The argparse type of an integer >= ``low``."""
    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") \
                from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return integer


#: An integer >= 1 (sizes, repeats, chunk lengths).
positive_int = integer_at_least(1)
#: An integer >= 0 (random seeds).
nonnegative_int = integer_at_least(0)


def positive_float(text: str) -> float:
    """A number > 0 (seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value:g}")
    return value


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
