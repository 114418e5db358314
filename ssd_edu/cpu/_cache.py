"""Numba's on-disk cache, stamped with every source a kernel may inline (no stale machine code).

Numba's three cache locators, but for the files of this directory the stamp is
:data:`SOURCE_STAMP` (the package version and every ``ssd_edu/cpu/*.py``), not the file's own.
"""
from __future__ import annotations

import hashlib
import os

from numba.core import caching

_HERE = os.path.dirname(os.path.abspath(__file__))


def _source_stamp() -> str:
    """SHA-256 of the package version and every ``*.py`` file of this directory (by name)."""
    with open(os.path.join(os.path.dirname(_HERE), "__init__.py"), "rb") as fh:
        version = [line for line in fh.read().splitlines() if line.startswith(b"__version__")]
    digest = hashlib.sha256(b"".join(version))
    for name in sorted(os.listdir(_HERE)):
        if name.endswith(".py"):
            with open(os.path.join(_HERE, name), "rb") as fh:
                digest.update(name.encode() + b"\0" + fh.read() + b"\0")
    return digest.hexdigest()


SOURCE_STAMP = _source_stamp()


class _PackageStamp:
    """Locator mixin: the stamp of :data:`SOURCE_STAMP`, only for files of this directory."""

    def get_source_stamp(self):
        return ("ssd_edu.cpu", SOURCE_STAMP)

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _HERE:
            return None
        return super().from_function(py_func, py_file)


LOCATORS = tuple(type(base.__name__, (_PackageStamp, base), {})
                 for base in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                              caching.UserWideCacheLocator))


def install() -> None:
    """Put the three locators first in Numba's list (once); call before any ``@njit``."""
    classes = caching.CacheImpl._locator_classes
    if not any(cls in classes for cls in LOCATORS):
        classes[:0] = LOCATORS
