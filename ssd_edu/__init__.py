"""ssd_edu: structured state-space duality (SSD), made to run, agree and be measured.

Glossary of dimension letters (one set, everywhere; also the package's einsum letters)::

    T   sequence length              t, s   time index (query t, key s)
    N   state size (modes of A)      n      state index
    P   channels per head (head dim) p      channel index
    H   heads (independent SSMs)     ...    leading batch / head axes
    Q   chunk length                 c      chunk index (J = ceil(T / Q) chunks)

Arrays: x (..., T, P), a (..., T) scalar family or (..., T, N) diagonal family, B and C
(..., T, N), state h (..., N, P), y (..., T, P), kernel M (..., T, T). Recurrence:
h_t = A_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t, with A_t = a_t I (scalar) or diag(a_t).

Every form has one signature, ``y, h = f(x, a, B, C, *[, chunk_size], initial_state=None)``
(the options keyword-only: a positional one is a TypeError that names it), and
is registered in :data:`IMPLEMENTATIONS` as ``"{backend}.{family}.{form}"`` with backend in
(numpy, plain, numba, cuda), family in (scalar, diagonal) and form in (scan, attention,
chunked) and, in NumPy only, associative_scan. (plain: the shortest Numba loops, the
readable twin of the tuned numba kernels; its forms take chunk_size and initial_state by
keyword only.)
"""
from __future__ import annotations

from . import reference
from .reference import (diagonal_attention, diagonal_chunked, diagonal_heads, diagonal_kernel,
                        diagonal_scan, diagonal_single_mask, general_kernel, general_scan,
                        one_ss_mask, scalar_attention, scalar_chunked, scalar_kernel, scalar_scan,
                        segsum, segsum_naive)
from .reference.backward import Grads
from .validation import QuadraticMemoryError

__version__ = "0.1.0"

FAMILIES = ("scalar", "diagonal")
FORMS = ("scan", "attention", "chunked", "associative_scan")   # the last: NumPy reference only
BACKENDS = ("numpy", "plain", "numba", "cuda")

#: "{backend}.{family}.{form}" -> callable with the reference signature.
IMPLEMENTATIONS: dict = {}


def _register_into(registry: dict, backend: str, module, suffix: str = "") -> None:
    """``registry["{backend}.{family}.{form}"] = module.{family}_{form}{suffix}`` for every such
    function that ``module`` defines."""
    for family in FAMILIES:
        for form in FORMS:
            fn = getattr(module, f"{family}_{form}{suffix}", None)
            if fn is not None:
                registry[f"{backend}.{family}.{form}"] = fn


def register(backend: str, module) -> None:
    """Add every ``{family}_{form}`` function that ``module`` defines under ``backend``."""
    _register_into(IMPLEMENTATIONS, backend, module)


#: "{backend}.{family}.{form}" -> its vector-Jacobian product (same keys as IMPLEMENTATIONS):
#: ``g = VJPS[key](x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size])``, a
#: ``Grads(dx, da, dB, dC, dinitial_state)`` (see ssd_edu.reference.backward).
VJPS: dict = {}


def register_vjps(backend: str, module) -> None:
    """Add every ``{family}_{form}_vjp`` function that ``module`` defines under ``backend``."""
    _register_into(VJPS, backend, module, "_vjp")


def oracle(family: str):
    """The plain recurrence of ``family`` in the NumPy reference: what every form is tested against."""
    return IMPLEMENTATIONS[f"numpy.{family}.scan"]


#: backend -> why it is not registered here (a missing optional import); empty when all are.
MISSING_BACKENDS: dict = {}

register("numpy", reference)
register_vjps("numpy", reference)
try:  # numba is a dependency, but the NumPy reference must not need it
    from . import cpu  # noqa: E402  (compiles nothing until first call)
except ModuleNotFoundError as exc:
    if exc.name != "numba":
        raise
    MISSING_BACKENDS["numba"] = f"numba is not installed ({exc}); `pip install numba`"
else:
    from .cpu import plain as _cpu_plain  # noqa: E402  (the shortest loops, no VJPs)
    register("plain", _cpu_plain)
    register("numba", cpu)
    from .cpu import backward as _cpu_backward  # noqa: E402
    register_vjps("numba", _cpu_backward)

from . import gpu  # noqa: E402  (numba-cuda is optional: ssd_edu.gpu guards its import)

if gpu.unavailable_reason() is None:
    register("cuda", gpu)
    from .gpu import backward as _gpu_backward  # noqa: E402
    register_vjps("cuda", _gpu_backward)
else:  # the functions still exist in ssd_edu.gpu and raise CudaUnavailableError with this reason
    MISSING_BACKENDS["cuda"] = gpu.unavailable_reason()

from . import bridges  # noqa: E402,F401  (Mamba-2 and fla conventions mapped to the forms)

__all__ = [
    "IMPLEMENTATIONS", "FAMILIES", "FORMS", "BACKENDS", "MISSING_BACKENDS", "register", "oracle",
    "VJPS", "register_vjps", "Grads",
    "reference",
    "QuadraticMemoryError",
    "one_ss_mask", "segsum", "segsum_naive",
    "scalar_scan", "scalar_attention", "scalar_chunked", "scalar_kernel",
    "diagonal_scan", "diagonal_attention", "diagonal_chunked", "diagonal_kernel",
    "diagonal_heads", "diagonal_single_mask", "general_scan", "general_kernel",
]
