"""Input validation shared by every form and every backend.

Every public function of ssd_edu calls one of the checks below before doing any work, so a
mistake is reported once, in the same words, whichever backend the caller picked.

Rules (see DESIGN.md, "Rules of the house"):

* Shapes follow the package conventions: ``x (..., T, P)``, ``a (..., T)`` (scalar family) or
  ``(..., T, N)`` (diagonal family), ``B, C (..., T, N)``, ``initial_state (..., N, P)``.
  The leading ``...`` axes must broadcast against each other (a size-1 head axis on B and C is
  Mamba's "groups"); the output carries the broadcast leading shape.
* dtypes: float32 and float64; complex64 / complex128 only where a function says it supports
  them (the NumPy reference). Boolean and integer inputs are promoted to float64 (documented,
  exact for integers below 2**53); float16, object and string arrays are refused.
  All arrays are brought to one common dtype, ``numpy.result_type`` of the (promoted) inputs.
* Every value must be finite: a masked matmul computes ``0 * x_future``, so one future inf or
  NaN would poison past outputs (THEORY.md section 5.11).
* Inputs are never modified; the arrays returned here may be views of them and are only read.
* Forms that build a (T, T) matrix refuse to allocate more than :func:`quadratic_limit_bytes`
  (default 2 GiB, environment variable ``SSD_EDU_MAX_QUADRATIC_BYTES``) and point at the scan
  and chunked forms instead.
"""
from __future__ import annotations

import operator
import os
from typing import NamedTuple

import numpy as np

DEFAULT_QUADRATIC_LIMIT_BYTES = 2 * 1024**3


class QuadraticMemoryError(ValueError, MemoryError):
    """A quadratic (T x T) form was asked for more memory than the configured limit."""


class SSMInputs(NamedTuple):
    """Validated, dtype-unified inputs of one SSM call (views of the caller's arrays)."""

    x: np.ndarray  # (..., T, P)
    a: np.ndarray  # (..., T) scalar family, (..., T, N) diagonal family, (..., T, N, N) general
    B: np.ndarray  # (..., T, N)
    C: np.ndarray  # (..., T, N)
    initial_state: np.ndarray | None  # (..., N, P) or None
    batch: tuple  # broadcast leading shape
    T: int
    N: int
    P: int
    dtype: np.dtype


def _shape(arr) -> str:
    return str(tuple(arr.shape))


def as_array(name: str, value, *, allow_complex: bool = False) -> np.ndarray:
    """Return ``value`` as an ndarray of a supported dtype, or raise naming ``name``.

    Integers and booleans become float64; float16, object and string dtypes raise TypeError;
    complex raises TypeError unless ``allow_complex``; non-finite entries raise ValueError.
    """
    if value is None:
        raise TypeError(f"{name} is None; expected an array")
    arr = np.asarray(value)
    kind = arr.dtype.kind
    if kind in "biu":
        arr = arr.astype(np.float64)  # documented promotion: integers are exact in float64
    elif kind == "f":
        if arr.dtype.itemsize < 4:
            raise TypeError(f"{name} has dtype {arr.dtype}; expected float32 or float64 "
                            f"(convert with {name}.astype(np.float32))")
        if arr.dtype.itemsize > 8:
            raise TypeError(f"{name} has dtype {arr.dtype}; expected float32 or float64")
    elif kind == "c":
        if not allow_complex:
            raise TypeError(f"{name} has complex dtype {arr.dtype}; this function supports "
                            f"float32 and float64 only (complex decays are supported by the "
                            f"diagonal NumPy reference)")
        if arr.dtype.itemsize > 16:
            raise TypeError(f"{name} has dtype {arr.dtype}; expected complex64 or complex128")
    else:
        raise TypeError(f"{name} has dtype {arr.dtype}; expected a float32 or float64 array")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite entries (inf or NaN); every input must "
                         f"be finite")
    return arr


def common_dtype(*arrays) -> np.dtype:
    """The one dtype a call computes in: ``numpy.result_type`` of the non-None arrays."""
    return np.result_type(*[a for a in arrays if a is not None])


def _check_ndim(name, arr, ndim, layout):
    if arr.ndim < ndim:
        raise ValueError(f"{name} has shape {_shape(arr)}; expected {layout} "
                         f"(at least {ndim} dimensions)")


def _check_dim(name, arr, axis, expected, layout, letter, source):
    if arr.shape[axis] != expected:
        raise ValueError(f"{name} has shape {_shape(arr)}; expected {layout} with "
                         f"{letter} = {expected} (from {source})")


def broadcast_batch(**leading) -> tuple:
    """Broadcast the leading shapes given as ``name=shape``; raise naming every argument."""
    try:
        return tuple(np.broadcast_shapes(*leading.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in leading.items())
        raise ValueError(f"leading (batch) dimensions do not broadcast: {shapes}") from None


def check_ssm(family: str, x, a, B, C, initial_state=None, *,
              allow_complex: bool = False) -> SSMInputs:
    """Validate the arguments of an SSM form of ``family`` in {"scalar", "diagonal", "general"}.

    Shapes: x (..., T, P); a (..., T) | (..., T, N) | (..., T, N, N); B, C (..., T, N);
    initial_state (..., N, P) or None. Returns an :class:`SSMInputs` in one common dtype.
    """
    if family not in ("scalar", "diagonal", "general"):
        raise ValueError(f"family must be 'scalar', 'diagonal' or 'general', got {family!r}")
    x = as_array("x", x, allow_complex=allow_complex)
    _check_ndim("x", x, 2, "(..., T, P)")
    T, P = x.shape[-2], x.shape[-1]
    if P < 1:
        raise ValueError(f"x has shape {_shape(x)}; the channel count P (last axis) must be >= 1")
    k = check_kernel(family, a, B, C, T=T, allow_complex=allow_complex)
    h0 = None if initial_state is None else as_array("initial_state", initial_state,
                                                     allow_complex=allow_complex)
    if h0 is not None:
        _check_ndim("initial_state", h0, 2, "(..., N, P)")
        _check_dim("initial_state", h0, -2, k.N, "(..., N, P)", "N", "B")
        _check_dim("initial_state", h0, -1, P, "(..., N, P)", "P", "x")
    a_name = "A" if family == "general" else "a"
    batch = _broadcast_named(x=x.shape[:-2], **{a_name: k.a_lead}, B=k.B.shape[:-2],
                             C=k.C.shape[:-2],
                             initial_state=None if h0 is None else h0.shape[:-2])
    dtype = common_dtype(x, k.a, k.B, k.C, h0)
    cast = lambda arr: None if arr is None else arr.astype(dtype, copy=False)  # noqa: E731
    return SSMInputs(cast(x), cast(k.a), cast(k.B), cast(k.C), cast(h0), batch, T, k.N, P, dtype)


class KernelInputs(NamedTuple):
    """Validated inputs of a kernel (sequence-mixing matrix) builder."""

    a: np.ndarray
    B: np.ndarray
    C: np.ndarray
    a_lead: tuple  # leading shape of a
    batch: tuple   # broadcast leading shape of a, B, C
    T: int
    N: int
    dtype: np.dtype


def _broadcast_named(**shapes) -> tuple:
    return broadcast_batch(**{k: v for k, v in shapes.items() if v is not None})


def check_kernel(family: str, a, B, C, *, T: int | None = None,
                 allow_complex: bool = False) -> KernelInputs:
    """Validate (a, B, C) of ``family``: a (..., T) | (..., T, N) | (..., T, N, N); B, C (..., T, N).

    T is taken from B unless given (then it comes from x). Returns a :class:`KernelInputs` in
    one common dtype.
    """
    if family not in ("scalar", "diagonal", "general"):
        raise ValueError(f"family must be 'scalar', 'diagonal' or 'general', got {family!r}")
    a_name = "A" if family == "general" else "a"
    a = as_array(a_name, a, allow_complex=allow_complex)
    B = as_array("B", B, allow_complex=allow_complex)
    C = as_array("C", C, allow_complex=allow_complex)
    _check_ndim("B", B, 2, "(..., T, N)")
    source = "x" if T is not None else "B"
    T = B.shape[-2] if T is None else T
    N = B.shape[-1]
    if N < 1:
        raise ValueError(f"B has shape {_shape(B)}; the state size N (last axis) must be >= 1")
    _check_dim("B", B, -2, T, "(..., T, N)", "T", source)
    _check_ndim("C", C, 2, "(..., T, N)")
    _check_dim("C", C, -2, T, "(..., T, N)", "T", source)
    _check_dim("C", C, -1, N, "(..., T, N)", "N", "B")
    if family == "scalar":
        _check_ndim("a", a, 1, "(..., T) for the scalar family")
        _check_dim("a", a, -1, T, "(..., T) for the scalar family", "T", source)
        a_lead = a.shape[:-1]
    elif family == "diagonal":
        _check_ndim("a", a, 2, "(..., T, N) for the diagonal family")
        _check_dim("a", a, -2, T, "(..., T, N) for the diagonal family", "T", source)
        _check_dim("a", a, -1, N, "(..., T, N) for the diagonal family", "N", "B")
        a_lead = a.shape[:-2]
    else:
        _check_ndim("A", a, 3, "(..., T, N, N) for the general family")
        _check_dim("A", a, -3, T, "(..., T, N, N)", "T", source)
        _check_dim("A", a, -2, N, "(..., T, N, N)", "N", "B")
        _check_dim("A", a, -1, N, "(..., T, N, N)", "N", "B")
        a_lead = a.shape[:-3]
    batch = broadcast_batch(**{a_name: a_lead}, B=B.shape[:-2], C=C.shape[:-2])
    dtype = common_dtype(a, B, C)
    return KernelInputs(a.astype(dtype, copy=False), B.astype(dtype, copy=False),
                        C.astype(dtype, copy=False), a_lead, batch, T, N, dtype)


def check_decays(family: str, a, *, allow_complex: bool = False) -> np.ndarray:
    """Validate a decay array alone: (..., T) for "scalar", (..., T, N) for "diagonal"."""
    a = as_array("a", a, allow_complex=allow_complex)
    layout = "(..., T)" if family == "scalar" else "(..., T, N)"
    _check_ndim("a", a, 1 if family == "scalar" else 2, layout)
    return a


def check_chunk_size(chunk_size) -> int:
    """A chunk length Q must be an integer >= 1 (any Q works for any T, including Q > T)."""
    if isinstance(chunk_size, (bool, np.bool_)):
        raise TypeError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    try:
        q = operator.index(chunk_size)
    except TypeError:
        raise TypeError(f"chunk_size must be an integer >= 1, got {chunk_size!r} "
                        f"({type(chunk_size).__name__})") from None
    if q < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {q}")
    return q


def quadratic_limit_bytes() -> int:
    """Most bytes a quadratic form may allocate: ``SSD_EDU_MAX_QUADRATIC_BYTES`` or 2 GiB."""
    env = os.environ.get("SSD_EDU_MAX_QUADRATIC_BYTES")
    return int(env) if env else DEFAULT_QUADRATIC_LIMIT_BYTES


def check_quadratic(form: str, batch: tuple, T: int, dtype, copies: int = 1) -> None:
    """Refuse ``copies`` arrays of shape (*batch, T, T) if they exceed the memory limit."""
    nbytes = int(np.prod(batch, dtype=np.int64)) * T * T * copies * np.dtype(dtype).itemsize
    limit = quadratic_limit_bytes()
    if nbytes > limit:
        raise QuadraticMemoryError(
            f"{form} would allocate {nbytes / 2**30:.2f} GiB for (T, T) matrices with "
            f"T = {T} (x has {int(np.prod(batch, dtype=np.int64))} sequences); the limit is "
            f"{limit / 2**30:.2f} GiB (set SSD_EDU_MAX_QUADRATIC_BYTES to change it). "
            f"Use the scan or chunked form, which need O(T) memory.")
