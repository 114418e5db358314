"""The registries: ``"{backend}.{family}.{form}"`` -> the form (IMPLEMENTATIONS) or its VJP (VJPS).

    y, h = IMPLEMENTATIONS["numba.scalar.chunked"](x, a, B, C, chunk_size=64)
    g = VJPS["numba.scalar.chunked"](x, a, B, C, dy, dh=None, initial_state=None, chunk_size=64)

Keys come from the static table :data:`BACKEND_MODULES`, so listing them imports no backend; a
value imports its module on first access. A backend whose package is missing lists no keys
(:data:`MISSING_BACKENDS` says why); cuda entries without a device raise ``CudaUnavailableError``.
"""
from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, MutableMapping

FAMILIES = ("scalar", "diagonal")
FORMS = ("scan", "attention", "chunked", "associative_scan")   # the last: NumPy reference only
BACKENDS = ("numpy", "plain", "numba", "cuda")

_THREE = FORMS[:3]
#: backend -> (module of its forms, module of its VJPs or None, the forms it has).
BACKEND_MODULES = {
    "numpy": ("ssd_edu.reference", "ssd_edu.reference", FORMS),
    "plain": ("ssd_edu.cpu.plain", None, _THREE),
    "numba": ("ssd_edu.cpu", "ssd_edu.cpu.backward", _THREE),
    "cuda": ("ssd_edu.gpu", "ssd_edu.gpu.backward", _THREE),
}


@functools.lru_cache(maxsize=None)
def _numba_installed() -> bool:
    import importlib.util                  # not at import time: it costs as much as the rest
    return importlib.util.find_spec("numba") is not None


def _why_missing(backend: str) -> str | None:
    """Why ``backend`` cannot load here, or None; imports nothing but the cuda probe."""
    if backend == "numpy":
        return None
    if not _numba_installed():
        return "numba is not installed; `pip install numba`"
    if backend == "cuda":
        from .gpu import unavailable_reason      # the one CUDA probe (imports numba.cuda)
        return unavailable_reason()
    return None


class Registry(MutableMapping):
    """``"{backend}.{family}.{form}"`` -> callable, imported on first access; ``suffix`` ends the
    function names ("_vjp"). Entries set by hand (``IMPLEMENTATIONS[key] = fn``) take
    precedence and can be deleted."""

    def __init__(self, suffix: str = "", vjps: bool = False):
        self._suffix, self._vjps = suffix, vjps
        self._loaded: dict = {}        # key -> callable, once looked up or set
        self._removed: set = set()

    def _static(self) -> dict:
        out = {}
        for backend, (forms_module, vjp_module, forms) in BACKEND_MODULES.items():
            module = vjp_module if self._vjps else forms_module
            # keys are listed when the package is installed (cuda: probed on use only)
            if module is None or _why_missing("numba" if backend == "cuda" else backend):
                continue
            for family in FAMILIES:
                for form in forms:
                    out[f"{backend}.{family}.{form}"] = (module, f"{family}_{form}{self._suffix}")
        return out

    def __getitem__(self, key):
        if key in self._loaded:
            return self._loaded[key]
        if key in self._removed:
            raise KeyError(key)
        module, name = self._static()[key]                     # KeyError for an unknown key
        return self._loaded.setdefault(key, getattr(importlib.import_module(module), name))

    def __setitem__(self, key, fn):
        self._removed.discard(key)
        self._loaded[key] = fn

    def __delitem__(self, key):
        if key not in self:
            raise KeyError(key)
        self._loaded.pop(key, None)
        self._removed.add(key)

    def __iter__(self):
        keys = [k for k in self._static() if k not in self._removed]
        return iter(keys + [k for k in self._loaded if k not in keys])

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, key):
        return key in self._loaded or (key not in self._removed and key in self._static())

    def __repr__(self):
        return f"{type(self).__name__}({list(self)})"


class _Missing(Mapping):
    """backend -> why it cannot run here; probed on access (the cuda probe imports numba.cuda)."""

    def __getitem__(self, backend):
        reason = _why_missing(backend) if backend in BACKEND_MODULES else None
        if reason is None:
            raise KeyError(backend)
        return reason

    def __iter__(self):
        return iter([b for b in BACKEND_MODULES if _why_missing(b) is not None])

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return repr(dict(self))


#: "{backend}.{family}.{form}" -> callable with the reference signature.
IMPLEMENTATIONS = Registry()
#: "{backend}.{family}.{form}" -> its vector-Jacobian product (the keys of IMPLEMENTATIONS that
#: have one): ``g = VJPS[key](x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size])``,
#: a :class:`ssd_edu.vjp.Grads`.
VJPS = Registry("_vjp", vjps=True)
#: backend -> why it is not available here (a missing package, no CUDA device); probed on access.
MISSING_BACKENDS = _Missing()


def oracle(family: str):
    """The NumPy reference's recurrence of ``family``: what every form is tested against."""
    return IMPLEMENTATIONS[f"numpy.{family}.scan"]
