"""What both bridges share: pick a registered form, run it, check shapes, move the head axis.

The bridges never compute the SSM themselves: they map the layer's arrays to the package's
conventions and call ``ssd_edu.IMPLEMENTATIONS["{backend}.{family}.{form}"]``.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..registry import BACKENDS, FORMS, IMPLEMENTATIONS, MISSING_BACKENDS
from ..validation import check_chunk_size


def registered_form(backend: str, family: str, form: str, chunk_size: int):
    """``IMPLEMENTATIONS[f"{backend}.{family}.{form}"]`` (with ``chunk_size`` bound when chunked),
    or an error naming backend or form."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    key = f"{backend}.{family}.{form}"
    if backend != "numpy" and backend in MISSING_BACKENDS:
        raise ValueError(f"backend {backend!r} is not available here: "
                         f"{MISSING_BACKENDS[backend]}")
    if key not in IMPLEMENTATIONS:
        forms = [k.split(".")[2] for k in IMPLEMENTATIONS if k.startswith(f"{backend}.{family}.")]
        raise ValueError(f"form {form!r} is not registered for backend {backend!r}; it has "
                         f"{forms}")
    fn = IMPLEMENTATIONS[key]
    return partial(fn, chunk_size=chunk_size) if form == "chunked" else fn


def check_flag(name: str, value) -> bool:
    """``value`` as a bool, or a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def expect_shape(name: str, arr: np.ndarray, shape: tuple, layout: str, origin: str) -> None:
    """Raise naming ``name`` unless ``arr`` (None: not given, nothing to check) has ``shape``,
    e.g. "dt has shape (2, 7); expected (batch, seqlen, nheads) = (2, 7, 4) (from x)"."""
    if arr is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(arr.shape)}; expected {layout} = "
                         f"{tuple(shape)} ({origin})")


def check_D(D, nheads: int, headdim: int, origin: str) -> None:
    """Mamba-2's skip D: (nheads,) or (nheads, headdim), or an error naming D."""
    if D is not None and D.shape not in ((nheads,), (nheads, headdim)):
        raise ValueError(f"D has shape {tuple(D.shape)}; expected (nheads,) = {(nheads,)} or "
                         f"(nheads, headdim) = {(nheads, headdim)} ({origin})")


def heads_first(arr: np.ndarray) -> np.ndarray:
    """(batch, seqlen, heads, ...) -> (batch, heads, seqlen, ...): time next to the last axes."""
    return np.moveaxis(arr, 2, 1)


def time_first(arr: np.ndarray) -> np.ndarray:
    """(batch, heads, seqlen, ...) -> (batch, seqlen, heads, ...): the layer's layout again."""
    return np.ascontiguousarray(np.moveaxis(arr, 1, 2))
