"""Numba's on-disk cache, stamped with every source a kernel may inline (no stale machine code).

Numba stamps a cached kernel with its own file only, but the kernels here inline helpers of
``_tiles.py`` and ``_jit.py``. The locators below are Numba's three (``NUMBA_CACHE_DIR``, the
``__pycache__`` beside the source, the user-wide cache) with one change for this directory: the
stamp is :data:`SOURCE_STAMP`, a SHA-256 of the package version and every ``ssd_edu/cpu/*.py``,
so any edit recompiles every kernel here. Functions elsewhere keep Numba's defaults.
"""
from __future__ import annotations

import hashlib
import os

from numba.core import caching

_HERE = os.path.dirname(os.path.abspath(__file__))


def source_stamp(directory: str = _HERE) -> str:
    """SHA-256 of the package version and every ``*.py`` file of ``directory`` (by name)."""
    digest = hashlib.sha256()
    with open(os.path.join(os.path.dirname(directory), "__init__.py"), "rb") as fh:
        init = fh.read()
    version = [line for line in init.splitlines() if line.startswith(b"__version__")]
    digest.update(b"".join(version))
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(directory, name), "rb") as fh:
                digest.update(fh.read() + b"\0")
    return digest.hexdigest()


SOURCE_STAMP = source_stamp()


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
