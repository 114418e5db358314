"""Counted arithmetic: :func:`count_flops` runs a NumPy body on :class:`Counted` arrays: 1 flop per
ufunc output, 2 m k n per (m, k) @ (k, n), (k - 1) S (+ S if an index is summed) per einsum of k
operands over S index tuples, 1 per reduction input; moved data keeps the mark; functions of the
decays alone are not counted (as in ``bench.flop_count``)."""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import reference as ref
from ..reference import chunking, diagonal
from ..reference.backward import _scan_grads, chunked_grads
from ..testing import make_inputs

_TALLY: list = []


def _wrap(x):
    return x.view(Counted) if type(x) is np.ndarray else x


def _unwrap(args):
    if isinstance(args, dict):
        return {k: _unwrap(v) for k, v in args.items()}
    if isinstance(args, (list, tuple)):
        return type(args)(_unwrap(x) for x in args)
    return args.view(np.ndarray) if isinstance(args, Counted) else args


def _add(flops: int) -> None:
    if _TALLY:
        _TALLY[-1] += int(flops)


def einsum_flops(subscripts: str, *operands) -> int:
    """Flops of an explicit ``np.einsum(subscripts, *operands)``."""
    inputs, arrow, output = subscripts.replace(" ", "").partition("->")
    if not arrow:
        raise ValueError(f"einsum {subscripts!r}: only explicit '->' subscripts are counted")
    sizes, ellipses = {}, []
    for term, op in zip(inputs.split(","), operands):
        shape = np.shape(op)
        head, dots, tail = term.partition("...")
        if dots:
            ellipses.append(shape[len(head):len(shape) - len(tail)])
            shape = shape[:len(head)] + shape[len(shape) - len(tail):]
            term = head + tail
        sizes.update({k: max(sizes.get(k, 1), n) for k, n in zip(term, shape)})
    space = math.prod(sizes.values()) * math.prod(np.broadcast_shapes(*ellipses))
    return space * (len(operands) - 1 + bool(set(sizes) - set(output)))  # + 1 if an index is summed


class Counted(np.ndarray):
    """An ndarray whose arithmetic adds its flops to the running count."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args, outs = _unwrap(inputs), kwargs.get("out")
        if outs:
            kwargs["out"] = _unwrap(outs)
        result = getattr(ufunc, method)(*args, **kwargs)
        if method == "__call__" and ufunc is np.matmul:
            _add(2 * np.size(result) * np.shape(args[0])[-1])
        elif method == "__call__":
            _add(np.size(result))
        else:                                            # reduce, accumulate, ...
            _add(np.size(args[0]))
        if outs:                                         # in place: the caller's arrays
            return outs[0] if len(outs) == 1 else outs
        return tuple(_wrap(r) for r in result) if isinstance(result, tuple) else _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.einsum:
            _add(einsum_flops(*args))
        elif func in (np.sum, np.prod, np.cumsum, np.cumprod):  # the rest move data only
            _add(np.size(args[0]))
        result = func(*_unwrap(args), **_unwrap(kwargs))
        return tuple(map(_wrap, result)) if isinstance(result, tuple) else _wrap(result)


@contextlib.contextmanager
def _keep_the_mark():
    """Algorithm 1's checked scalar scan replaced by its body; the steps' checks keep marks."""
    scan, checked_step = diagonal.scalar_scan, chunking.check_step

    def counted_step(**given):
        v = checked_step(**given)
        v.arrays.update({k: arr.view(Counted) for k, arr in v.arrays.items()
                         if isinstance(given.get(k), Counted)})
        return v
    diagonal.scalar_scan, chunking.check_step = scan.__wrapped__, counted_step
    try:
        yield
    finally:
        diagonal.scalar_scan, chunking.check_step = scan, checked_step


def count_flops(body, *arrays, **kwargs) -> int:
    """Flops of ``body(*arrays, **kwargs)`` with every array argument :class:`Counted`."""
    _TALLY.append(0)
    try:
        with _keep_the_mark():
            body(*(np.asarray(x).view(Counted) for x in arrays), **kwargs)
    finally:
        flops = _TALLY.pop()
    return flops


FAMILIES = ("scalar", "diagonal")
#: form name -> (family, body, whether it takes the chunk size): the reference forms without
#: their argument checks (which would turn the inputs back into plain arrays).
FORMS = {f"{family}_{form}": (family, getattr(ref, f"{family}_{form}").__wrapped__,
                              form == "chunked")
         for family in FAMILIES for form in ("scan", "attention", "chunked")}
FORMS["algorithm1"] = ("diagonal", ref.diagonal_algorithm1.__wrapped__, False)

#: VJP name -> (family, body(x, a, B, C, dy, h0, dh[, Q])): the reference VJPs' bodies.
VJPS = {f"{f}_scan_vjp": (f, lambda *args, f=f: _scan_grads(f, *args)) for f in FAMILIES}
VJPS.update({f"{f}_chunked_vjp": (f, lambda *args, Q, f=f: chunked_grads(f, *args, Q))
             for f in FAMILIES})


def form_flops(name: str, T: int, N: int, P: int, Q: int = 8) -> int:
    """Counted flops of the form ``name`` (in :data:`FORMS`) on one (T, N, P) sequence, chunk Q."""
    family, body, chunked = FORMS[name]
    d, kw = make_inputs(family, T, N, P, seed=0), {"chunk_size": min(Q, T)} if chunked else {}
    return count_flops(body, d["x"], d["a"], d["B"], d["C"], initial_state=d["initial_state"],
                       **kw)


def vjp_flops(name: str, T: int, N: int, P: int, Q: int = 8) -> int:
    """Counted flops of the reference VJP ``name`` (a key of :data:`VJPS`) on one sequence."""
    family, body = VJPS[name]
    d, rng = make_inputs(family, T, N, P, seed=0), np.random.default_rng(1)
    dy, dh = rng.standard_normal((T, P)), rng.standard_normal((N, P))
    kw = {"Q": min(Q, T)} if name.endswith("chunked_vjp") else {}
    return count_flops(body, d["x"], d["a"], d["B"], d["C"], dy, d["initial_state"], dh, **kw)
