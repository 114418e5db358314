"""The optional torch rows of ``bench``: ``torch.{family}.chunked`` (:mod:`.torch_chunked`)
behind the package's signature and validation; ``--backward`` times torch's autograd."""
from __future__ import annotations

import warnings
from contextlib import contextmanager, suppress

import numpy as np

from .._keyword_only import keyword_only
from ..validation import check_chunk_size, flatten, unflatten
from .timing import settle_blas


def torch_reason() -> str | None:
    """None when PyTorch can be imported, else why the torch rows are skipped."""
    try:
        import torch  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return (f"PyTorch not available ({type(exc).__name__}: {exc}); install torch (a "
                "CPU-only wheel is enough), or the `peers` extra: pip install -e '.[peers]'")
    return None


@contextmanager
def torch_threads():
    """torch's threads set to Numba's for the calls inside, with ``settle_blas`` before and
    after (BLAS threads spin after matmuls)."""
    import torch
    before = torch.get_num_threads()
    with suppress(ImportError):  # without numba torch keeps its own count
        import numba
        torch.set_num_threads(numba.get_num_threads())
    settle_blas()
    try:
        yield
    finally:
        torch.set_num_threads(before)
        settle_blas()


def _tensor(arr):
    """A torch view of a (read-only: torch warns; nothing writes to it) NumPy array."""
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


@keyword_only
def numpy_chunked(family, x, a, B, C, *, initial_state=None, chunk_size=64):
    """The torch chunked form of ``family`` with the package's signature and validation:
    NumPy x (..., T, P), a, B, C, initial_state -> y (..., T, P), h_{T-1} (..., N, P)."""
    import torch

    from .torch_chunked import CHUNKED
    Q = check_chunk_size(chunk_size)
    f = flatten(family, x, a, B, C, initial_state)
    if f.T == 0 or f.nb == 0:
        return unflatten(f, np.empty((f.nb, f.T, f.P), dtype=f.dtype), f.h0)
    with torch.no_grad():
        y, h = CHUNKED[family](*(_tensor(v) for v in (f.x, f.a, f.B, f.C, f.h0)),
                               chunk_size=Q)
    return unflatten(f, y.numpy(), h.numpy())


@keyword_only
def numpy_chunked_vjp(family, x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """The VJP of :func:`numpy_chunked` by torch's autograd (gradient of <dy, y> + <dh, h_T>),
    with the signature and validation of ``ssd_edu.VJPS``; returns Grads."""
    import torch

    from ..vjp import empty, finish, flatten_vjp
    from .torch_chunked import CHUNKED
    Q = check_chunk_size(chunk_size)
    fv = flatten_vjp(family, x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    inputs = [_tensor(v).requires_grad_() for v in (f.x, f.a, f.B, f.C, f.h0)]
    y, h = CHUNKED[family](*inputs, chunk_size=Q)
    grads = torch.autograd.grad((y, h), inputs, (_tensor(fv.dy), _tensor(fv.dh)))
    return finish(fv, *(g.numpy() for g in grads))
