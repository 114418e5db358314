"""The argument checks every form and backend shares, so a mistake reads the same everywhere.

Shapes (docs/theory.md#conventions): x (..., T, P); a (..., T) scalar or (..., T, N) diagonal
family; B, C (..., T, N); initial_state (..., N, P); the leading axes broadcast. Real inputs
are float32 or float64 (bool and int promoted to float64; complex only where a function says
so); all come back in one dtype (``numpy.result_type``), finite (docs/theory.md#non-finite),
never modified. A (T, T) form refuses more than :func:`quadratic_limit_bytes` (2 GiB, or
``SSD_EDU_MAX_QUADRATIC_BYTES``).
"""
from __future__ import annotations

import operator
import os
import time
from typing import NamedTuple

import numpy as np

#: Most multiply-adds of the masked matmuls in one call of a compiled quadratic form.
DEFAULT_QUADRATIC_WORK = 2**36


class QuadraticMemoryError(ValueError, MemoryError):
    """A quadratic (T x T) form was asked for more memory than the configured limit."""


class QuadraticWorkError(ValueError):
    """A compiled quadratic form was asked for far more work than a teaching-size call."""


class SSMInputs(NamedTuple):
    """Validated inputs in one dtype (views of the caller's arrays); x, initial_state and P are
    None for a kernel builder's (a, B, C)."""

    x: np.ndarray | None  # (..., T, P)
    a: np.ndarray  # (..., T) scalar family, (..., T, N) diagonal family, (..., T, N, N) general
    B: np.ndarray  # (..., T, N)
    C: np.ndarray  # (..., T, N)
    initial_state: np.ndarray | None  # (..., N, P) or None
    batch: tuple  # broadcast leading shape
    T: int
    N: int
    P: int | None
    dtype: np.dtype


def _shape(arr) -> str:
    return str(tuple(arr.shape))


def as_array(name: str, value, *, allow_complex: bool = False,
             allow_minus_inf: bool = False, finite=None) -> np.ndarray:
    """``value`` as an ndarray (int and bool -> float64), or TypeError / ValueError naming ``name``
    for another dtype, complex (unless ``allow_complex``) or non-finite entries (``-inf`` allowed
    with ``allow_minus_inf``, a log-decay). ``finite``: see :func:`all_finite`."""
    if value is None:
        raise TypeError(f"{name} is None; expected an array")
    try:
        arr = np.asarray(value)
    except ValueError as exc:                # a ragged nested list
        raise ValueError(f"{name} is not a rectangular array ({exc})") from None
    except (TypeError, RuntimeError) as exc:  # e.g. torch: requires grad, bfloat16, on a GPU
        raise TypeError(f"{name} ({type(value).__name__}) cannot be read as a NumPy array "
                        f"({exc}); pass a float32 or float64 NumPy array (from a torch tensor: "
                        f"{name}.detach().cpu().float().numpy())") from None
    kind = arr.dtype.kind
    if kind in "biu":
        arr = arr.astype(np.float64)  # documented promotion: integers are exact in float64
    elif kind == "f" and arr.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name} has dtype {arr.dtype}; expected float32 or float64"
                        + (f" (convert with {name}.astype(np.float32))"
                           if arr.dtype.itemsize < 4 else ""))
    elif kind == "c":
        if not allow_complex:
            raise TypeError(f"{name} has complex dtype {arr.dtype}; this function supports "
                            f"float32 and float64 only (complex decays are supported by the "
                            f"diagonal NumPy reference)")
        if arr.dtype.itemsize > 16:
            raise TypeError(f"{name} has dtype {arr.dtype}; expected complex64 or complex128")
    elif kind != "f":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected a float32 or float64 array")
    if not all_finite(arr, finite):
        if allow_minus_inf:
            bad = int(np.count_nonzero(np.isnan(arr) | (arr == np.inf)))
            if bad:
                raise ValueError(f"{name} has {bad} entries that are NaN or +inf; a log-decay "
                                 f"must be finite or -inf (a zero decay)")
            return arr
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite entries (inf or NaN); every input must "
                         f"be finite")
    return arr


#: Arrays smaller than this many entries are always tested by NumPy.
FAST_FINITE_MIN_SIZE = 1 << 15


def all_finite(arr: np.ndarray, fast=None) -> bool:
    """Every entry finite; ``fast(flat real array) -> bool``, a compiled one-pass test, reads
    large contiguous arrays (no temporary); the rest goes to NumPy."""
    if (fast is not None and arr.dtype.kind == "f" and arr.size >= FAST_FINITE_MIN_SIZE
            and (arr.flags.c_contiguous or arr.flags.f_contiguous)):
        return bool(fast(arr.ravel(order="K")))  # a view: C or F order
    return bool(np.all(np.isfinite(arr)))


def common_dtype(*arrays) -> np.dtype:
    """The one dtype a call computes in: ``numpy.result_type`` of the non-None arrays."""
    return np.result_type(*[a for a in arrays if a is not None])


def _check_ndim(name, arr, ndim, layout):
    if arr.ndim < ndim:
        raise ValueError(f"{name} has shape {_shape(arr)}; expected {layout} "
                         f"(at least {ndim} dimensions)")


#: Trailing layout of each argument, per family: the letters of its last axes.
_LAYOUTS = {
    "scalar": dict(x="TP", a="T", B="TN", C="TN", initial_state="NP"),
    "diagonal": dict(x="TP", a="TN", B="TN", C="TN", initial_state="NP"),
    "general": dict(x="TP", A="TNN", B="TN", C="TN", initial_state="NP"),
}


def _vote(arrays: dict, layouts: dict, letters: str, shown) -> dict:
    """Each size {letter: size} is the one most arguments agree on (in the order of ``arrays``
    on a tie), so an error names the odd one out: "x has shape (2, 5, 3); expected (..., T, P)
    with T = 6 (as in a, B, C)". ``shown(name)``: the layout an error shows."""
    sizes = {}
    for letter in letters:
        votes = {}  # size -> names of arguments that have it
        for name, arr in arrays.items():
            for axis, l in enumerate(layouts[name]):
                if l == letter:
                    votes.setdefault(arr.shape[axis - len(layouts[name])], []).append(name)
        if not votes:
            continue
        sizes[letter] = size = max(votes, key=lambda v: len(set(votes[v])))
        for name, arr in arrays.items():
            for axis, l in enumerate(layouts[name]):
                if l == letter and arr.shape[axis - len(layouts[name])] != size:
                    agree = ", ".join(dict.fromkeys(n for n in votes[size] if n != name))
                    raise ValueError(f"{name} has shape {_shape(arr)}; expected {shown(name)} "
                                     f"with {letter} = {size} (as in {agree or name})")
    return sizes


def _check_layout(family: str, arrays: dict) -> dict:
    """Check every array's trailing axes against its layout; return the sizes {T, N, P}."""
    layouts = {k: _LAYOUTS[family][k] for k in arrays}

    def shown(name):
        return "(..., " + ", ".join(layouts[name]) + ")"
    for name, arr in arrays.items():
        _check_ndim(name, arr, len(layouts[name]), shown(name) + f" for the {family} family"
                    if name in ("a", "A") else shown(name))
    sizes = _vote(arrays, layouts, "TNP", shown)
    for letter, arg, what in (("N", "B", "the state size N"), ("P", "x", "the channel count P")):
        if sizes.get(letter, 1) < 1:
            raise ValueError(f"{arg} has shape {_shape(arrays[arg])}; {what} (last axis) "
                             f"must be >= 1")
    return sizes


def broadcast_batch(**leading) -> tuple:
    """Broadcast the leading shapes given as ``name=shape``; raise naming every argument."""
    try:
        return tuple(np.broadcast_shapes(*leading.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in leading.items())
        raise ValueError(f"leading (batch) dimensions do not broadcast: {shapes}") from None


def _unify(arrays: dict, layouts: dict) -> tuple:
    """(the arrays in one dtype, their broadcast leading shape, the dtype)."""
    batch = broadcast_batch(**{k: v.shape[: v.ndim - len(layouts[k])] for k, v in arrays.items()})
    dtype = common_dtype(*arrays.values())
    return {k: v.astype(dtype, copy=False) for k, v in arrays.items()}, batch, dtype


def _record(family: str, allow_complex: bool, finite, **given) -> SSMInputs:
    """Convert, check layouts and leading dims, unify dtypes: the one record of check_ssm and
    check_kernel (``given`` calls the decays ``a``, stored as ``A`` for the general family)."""
    if family not in _LAYOUTS:
        raise ValueError(f"family must be 'scalar', 'diagonal' or 'general', got {family!r}")
    a_name = "A" if family == "general" else "a"
    arrays = {(a_name if k == "a" else k): as_array(a_name if k == "a" else k, v,
                                                    allow_complex=allow_complex, finite=finite)
              for k, v in given.items() if not (k == "initial_state" and v is None)}
    sizes = _check_layout(family, arrays)
    arrays, batch, dtype = _unify(arrays, _LAYOUTS[family])
    return SSMInputs(arrays.get("x"), arrays[a_name], arrays["B"], arrays["C"],
                     arrays.get("initial_state"), batch, sizes["T"], sizes["N"],
                     sizes.get("P"), dtype)


def check_ssm(family: str, x, a, B, C, initial_state=None, *,
              allow_complex: bool = False, finite=None) -> SSMInputs:
    """Validate the arguments of an SSM form of ``family`` ("scalar", "diagonal", "general"):
    x (..., T, P); a (..., T) | (..., T, N) | (..., T, N, N) (named A); B, C (..., T, N);
    initial_state (..., N, P) or None. ``finite``: see :func:`all_finite`."""
    return _record(family, allow_complex, finite, x=x, a=a, B=B, C=C,
                   initial_state=initial_state)


def check_kernel(family: str, a, B, C, *, allow_complex: bool = False) -> SSMInputs:
    """Validate the (a, B, C) of a kernel builder: :func:`check_ssm` with no x and no state."""
    return _record(family, allow_complex, None, a=a, B=B, C=C)


def check_positive_int(name: str, value) -> int:
    """``value`` as an int >= 1, or raise naming ``name`` (booleans and floats are refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} "
                        f"({type(value).__name__})") from None
    if n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n}")
    return n


def check_scale(scale) -> float:
    """A logit or query scale: a finite real number (a 0-d array is read as one), as a float.
    The callers give None its meaning (their default) before calling."""
    if getattr(scale, "ndim", None) == 0 and hasattr(scale, "item"):
        scale = scale.item()                               # np.array(0.5), a 0-d tensor
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"scale must be a real number or None, got {scale!r}")
    if not np.isfinite(float(scale)):
        raise ValueError(f"scale must be finite, got {scale!r}")
    return float(scale)


def check_chunk_size(chunk_size) -> int:
    """A chunk length Q >= 1 (any Q works for any T, including Q > T)."""
    return check_positive_int("chunk_size", chunk_size)


class Flat(NamedTuple):
    """The Numba and CUDA launchers' record: inputs broadcast and flattened to nb sequences,
    C-contiguous and read-only; ``h0`` a fresh writable array (zeros when none was given)."""

    x: np.ndarray   # (nb, T, P)
    a: np.ndarray   # (nb, T) scalar family, (nb, T, N) diagonal family
    B: np.ndarray   # (nb, T, N)
    C: np.ndarray   # (nb, T, N)
    h0: np.ndarray  # (nb, N, P)
    batch: tuple    # the broadcast leading shape; nb = prod(batch)
    nb: int
    T: int
    N: int
    P: int
    dtype: np.dtype


def read_only(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only view (a copy if needed): every kernel input is one, so a compiled
    kernel sees one array type per dtype whatever the caller passed."""
    out = np.ascontiguousarray(arr).view()
    out.flags.writeable = False
    return out


def flatten(family: str, x, a, B, C, initial_state=None, *, finite=None) -> Flat:
    """:func:`check_ssm` (real dtypes), then the leading axes broadcast and flattened."""
    return flat_inputs(family, check_ssm(family, x, a, B, C, initial_state, finite=finite))


def flat_inputs(family: str, v: SSMInputs) -> Flat:
    """The :class:`Flat` record of checked inputs ``v``."""
    nb = int(np.prod(v.batch, dtype=np.int64))

    def flat(arr, tail):
        return read_only(np.broadcast_to(arr, (*v.batch, *tail)).reshape(nb, *tail))

    a_tail = (v.T,) if family == "scalar" else (v.T, v.N)
    h0 = np.zeros((nb, v.N, v.P), dtype=v.dtype)
    if v.initial_state is not None:
        h0[...] = np.broadcast_to(v.initial_state, (*v.batch, v.N, v.P)).reshape(nb, v.N, v.P)
    return Flat(flat(v.x, (v.T, v.P)), flat(v.a, a_tail), flat(v.B, (v.T, v.N)),
                flat(v.C, (v.T, v.N)), h0, v.batch, nb, v.T, v.N, v.P, v.dtype)


def unflatten(f: Flat, y, h) -> tuple:
    """(nb, T, P), (nb, N, P) -> y (*batch, T, P), h (*batch, N, P)."""
    return y.reshape(*f.batch, f.T, f.P), h.reshape(*f.batch, f.N, f.P)


def _env_limit(name: str, default: int, unit: str) -> int:
    """The integer environment variable ``name``, or ``default`` when unset; refused by name."""
    env = os.environ.get(name)
    if not env:
        return default
    if not env.strip().isdigit():
        raise ValueError(f"{name} must be a number of {unit} (an integer >= 0), got {env!r}")
    return int(env)


def quadratic_limit_bytes() -> int:
    """Most bytes a quadratic form may allocate: ``SSD_EDU_MAX_QUADRATIC_BYTES`` or 2 GiB."""
    return _env_limit("SSD_EDU_MAX_QUADRATIC_BYTES", 2 * 1024**3, "bytes")


def _matmul_rate() -> float:
    """This machine's float64 matmul rate in flop/s, measured now (best of 4, 512 x 512)."""
    m, best = np.ones((512, 512)), np.inf
    for _ in range(4):
        start = time.perf_counter()
        m @ m
        best = min(best, time.perf_counter() - start)
    return 2 * 512**3 / max(best, 1e-9)


def check_quadratic_work(form: str, family: str, nb: int, T: int, Q: int, N: int, P: int):
    """Refuse a compiled quadratic form (attention: Q = T) whose masked matmuls take more than
    ``SSD_EDU_MAX_QUADRATIC_WORK`` multiply-adds, nb T min(Q, T) (N + P), before any work."""
    Q = min(Q, T)
    work = nb * T * Q * (N + P)
    limit = _env_limit("SSD_EDU_MAX_QUADRATIC_WORK", DEFAULT_QUADRATIC_WORK, "multiply-adds")
    if work > limit:
        rate = _matmul_rate()
        raise QuadraticWorkError(
            f"{form}: {nb} sequence(s) x T = {T} x {'T' if Q == T else f'Q = {Q}'} x (N + P) = "
            f"{N + P} is {work:.3g} multiply-adds, at least {2 * work / rate:.0f} s at this "
            f"machine's matmul rate ({rate / 1e9:.1f} GFLOP/s, measured now) and longer in a "
            f"loop kernel; the limit is {limit:.3g} (set SSD_EDU_MAX_QUADRATIC_WORK to change "
            f"it). Use {family}_scan (O(T N P)) or {family}_chunked with a small chunk_size "
            f"(the default is 64).")


def _size(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def _refuse_above_limit(nbytes: int, what: str, advice: str) -> None:
    """QuadraticMemoryError when ``nbytes`` exceeds :func:`quadratic_limit_bytes`."""
    limit = quadratic_limit_bytes()
    if nbytes > limit:
        raise QuadraticMemoryError(
            f"{what.format(size=_size(nbytes))}; the limit is {_size(limit)} (set "
            f"SSD_EDU_MAX_QUADRATIC_BYTES to change it). {advice}")


def check_quadratic(form: str, batch: tuple, T: int, dtype, copies: int = 1,
                    pad: int = 0) -> None:
    """Refuse ``copies`` (*batch, T + pad, T + pad) arrays above the memory limit."""
    count = int(np.prod(batch, dtype=np.int64))
    n = T + pad
    side = "T" if pad == 0 else f"T + {pad}"
    _refuse_above_limit(count * n * n * copies * np.dtype(dtype).itemsize,
                        f"{form} would allocate {{size}} for {copies} x {count} ({side}, {side}) "
                        f"matrices with T = {T} (leading shape {tuple(batch)})", "Use the scan or "
                        "chunked form, which need O(T) memory.")


def check_chunks(form: str, count: int, Q: int, dtype, copies: int = 1) -> None:
    """Refuse ``copies`` x ``count`` (Q, Q) chunk blocks above the memory limit."""
    _refuse_above_limit(int(count) * Q * Q * copies * np.dtype(dtype).itemsize,
                        f"{form} would allocate {{size}} for (Q, Q) chunk blocks with Q = {Q}",
                        "Use a smaller chunk_size (the default is 64).")


def check_cotangents(v: SSMInputs, dy, dh, *, finite=None):
    """The cotangents a VJP pulls back, in ``v.dtype``: dy (*batch, T, P) and dh (*batch, N, P)
    (None: zeros)."""
    out = []
    if dh is None:
        dh = np.zeros((*v.batch, v.N, v.P), dtype=v.dtype)
    for name, value, shape, what in (
            ("dy", dy, (*v.batch, v.T, v.P), "(*batch, T, P), the shape of y"),
            ("dh", dh, (*v.batch, v.N, v.P), "(*batch, N, P), the shape of the final state")):
        arr = as_array(name, value, finite=finite)
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {_shape(arr)}; expected {shape} = {what}")
        out.append(arr.astype(v.dtype, copy=False))
    return tuple(out)


# the four chunked steps

#: Trailing layout of the chunked steps' arguments. J = ceil(T / Q) chunks; the decays a and
#: abar end in N (diagonal family) or 1 (scalar family: one decay shared by every mode), "m".
_STEP_LAYOUTS = dict(x="TP", a="Tm", B="TN", C="TN", abar="Jm", S="JNP", H_prev="JNP",
                     initial_state="NP")


class StepInputs(NamedTuple):
    """A chunked step's arguments {name: array} in one dtype, batch, sizes {T, J, N, P, m}."""
    arrays: dict
    batch: tuple
    sizes: dict
    dtype: np.dtype


def check_step(*, allow_complex: bool = False, **given) -> StepInputs:
    """Validate the arguments of a chunked step, given by name: x (..., T, P); a (..., T, N)
    or (..., T, 1); B, C (..., T, N); abar (..., J, N) or (..., J, 1); S, H_prev (..., J, N, P);
    initial_state (..., N, P) or None. Each size is the one most arguments agree on (the
    decays vote last), so an error names the odd one out. Leading axes broadcast."""
    arrays = {k: as_array(k, v, allow_complex=allow_complex) for k, v in given.items()
              if not (k == "initial_state" and v is None)}

    def shown(name):
        lay = "(..., " + ", ".join(_STEP_LAYOUTS[name]).replace("m", "N") + ")"
        return lay + (" (or a last axis of 1 for the scalar family)" if name in ("a", "abar")
                      else "")
    for name, arr in arrays.items():
        _check_ndim(name, arr, len(_STEP_LAYOUTS[name]), shown(name))
    order = sorted(arrays, key=lambda k: k in ("a", "abar"))      # the decays vote last
    sizes = _vote({k: arrays[k] for k in order}, _STEP_LAYOUTS, "TJNP", shown)
    for name, letter in (("a", "T"), ("abar", "J")):
        if name in arrays:
            arr = arrays[name]
            sizes["m"] = arr.shape[-1]
            if sizes["m"] not in (1, sizes["N"]):
                raise ValueError(f"{name} has shape {_shape(arr)}; expected (..., {letter}, N) "
                                 f"= (..., {arr.shape[-2]}, {sizes['N']}), or (..., "
                                 f"{letter}, 1) for the scalar family (one decay for every "
                                 f"mode: pass a[..., None])")
    for letter, what in (("N", "the state size N"), ("P", "the channel count P")):
        if sizes.get(letter, 1) < 1:
            raise ValueError(f"{what} must be >= 1; got shapes "
                             + ", ".join(f"{k} {_shape(v)}" for k, v in arrays.items()))
    arrays, batch, dtype = _unify(arrays, _STEP_LAYOUTS)
    return StepInputs(arrays, batch, sizes, dtype)
