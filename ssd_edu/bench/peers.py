"""The torch comparison rows of ``python -m ssd_edu bench``: ``torch.{family}.chunked``.

The package's own torch code (:mod:`.torch_chunked`) behind the package's signature and
validation, in torch's threads set to Numba's; ``--backward`` times its gradients by torch's
autograd. PyTorch is optional (the ``peers`` extra): without it the rows say why they skip.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from .._keyword_only import keyword_only
from ..validation import check_chunk_size, flatten, unflatten
from .timing import settle_blas

#: How to get the comparison rows (printed in their ``reason`` when torch is missing).
INSTALL_HINT = ("install torch (a CPU-only wheel is enough: see the README), or the `peers` "
                "extra of a checkout: pip install -e '.[peers]'")


def torch_reason() -> str | None:
    """None when PyTorch can be imported, else why the torch rows are skipped."""
    try:
        import torch  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return f"PyTorch not available ({type(exc).__name__}: {exc}); {INSTALL_HINT}"
    return None


@contextmanager
def torch_threads():
    """torch's threads set to Numba's for the calls inside; restored after, then a pause
    (torch's BLAS threads spin after its matmuls, as NumPy's do: ``timing.settle_blas``)."""
    import torch
    try:
        import numba
        threads = numba.get_num_threads()
    except ImportError:          # the NumPy reference alone: torch keeps its own count
        threads = torch.get_num_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    settle_blas()                # Numba's and NumPy's threads asleep before torch is timed
    try:
        yield
    finally:
        torch.set_num_threads(before)
        settle_blas()


def _tensor(arr):
    """A torch view of a NumPy array (the package's validated inputs are read-only views,
    which torch warns about; nothing here writes to them)."""
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


@keyword_only
def numpy_chunked(family, x, a, B, C, *, initial_state=None, chunk_size=64):
    """The torch chunked form of ``family`` with the package's signature: x (..., T, P),
    a (..., T) or (..., T, N), B, C (..., T, N), initial_state (..., N, P) NumPy arrays,
    validated and flattened as by every backend (``validation.flatten``: the checks the Numba
    rows pay too). Returns y (..., T, P) and h_{T-1} (..., N, P) as NumPy arrays."""
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
    """The VJP of the torch chunked form of ``family`` by torch's autograd, with the package's
    VJP signature (``ssd_edu.VJPS``): the forward recorded, then ``torch.autograd.grad`` of
    <dy, y> + <dh, h_T>. Validated, flattened and summed back to each input's shape as by the
    Numba VJPs (``ssd_edu.vjp``). Returns Grads (dinitial_state zeros when none is given)."""
    import torch

    from ..vjp import empty, finish, flatten_vjp   # the VJP launchers' one answer
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
