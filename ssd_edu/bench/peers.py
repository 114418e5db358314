"""The chunked algorithm written with PyTorch: the comparison row of ``python -m ssd_edu bench``.

An engineer comparing the Numba kernels with the library they would reach for sees a row
``torch.scalar.chunked``: the package's own short torch code for the same four steps as
``ssd_edu.reference.scalar.scalar_chunked`` and ``ssd_edu.cpu.chunked``, at the same
workload, in torch's own BLAS and threads (set to Numba's thread count). PyTorch is optional
(the ``peers`` extra, never required): without it the row is reported as skipped, with the
reason. The scalar family is the one Mamba-2 and its users run; the diagonal family has no
torch row (a fair torch version needs the sub-chunk scheme of ``cpu.chunked``; the plain
per-mode masks, O(Q^2 N) memory traffic per chunk, would time torch at its worst).

For chunk c of Q steps (the last one padded with a = 1, x = B = C = 0, which leaves y and the
final state unchanged), all chunks at once:

    L[i, j] = prod_{j<u<=i} a_u          (i >= j, 0 above): cumprod down the rows of
                                          R[u, j] = a_u (u > j), 1 (u <= j)
    1. intra-chunk    Y_diag = (L o C_c B_c^T) X_c
    2. chunk states   S_c = (B_c o gamma)^T X_c,   gamma_j = prod_{j<u<Q} a_u = L[Q-1, j]
    3. state passing  H_c = abar_c H_{c-1} + S_c,  abar_c = a_0 gamma_0     (a loop over c)
    4. state output   Y_off = (C_c o delta) H_{c-1},  delta_i = prod_{0<=u<=i} a_u = a_0 L[i, 0]

Direct products only (no log, no division), so zero and negative decays are exact, as in the
package's own forms.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from ..validation import check_chunk_size, flatten, unflatten
from .timing import settle_blas

#: How to get the comparison rows (printed in their ``reason`` when torch is missing).
INSTALL_HINT = 'pip install "ssd_edu[peers]" (a CPU-only torch: see the README)'


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


def scalar_chunked(x, a, B, C, initial_state=None, *, chunk_size=64):
    """The scalar family's chunked form in torch.

    x (b, T, P), a (b, T), B, C (b, T, N), initial_state (b, N, P) or None: torch tensors of
    one dtype, exactly one batch axis, T >= 1. Returns y (b, T, P) and the final state h_{T-1}
    (b, N, P). The NumPy entry points below validate and flatten the batch first.
    """
    import torch
    pad_steps = torch.nn.functional.pad
    b, T, P = x.shape
    N = B.shape[-1]
    Q = chunk_size
    pad = -T % Q
    J = (T + pad) // Q
    X = pad_steps(x, (0, 0, 0, pad)).reshape(b, J, Q, P)
    Bc = pad_steps(B, (0, 0, 0, pad)).reshape(b, J, Q, N)
    Cc = pad_steps(C, (0, 0, 0, pad)).reshape(b, J, Q, N)
    A = pad_steps(a, (0, pad), value=1.0).reshape(b, J, Q)
    # L[i, j] = prod_{j<u<=i} a_u: cumprod down the rows of R[u, j] = a_u (u > j) or 1
    later = torch.ones(Q, Q, dtype=torch.bool).tril(-1)
    R = torch.where(later, A[..., :, None], torch.ones((), dtype=a.dtype))
    L = torch.cumprod(R, dim=2).tril()                         # (b, J, Q, Q)
    # 1. intra-chunk: Y_diag = (L o C_c B_c^T) X_c
    Y = (L * (Cc @ Bc.transpose(2, 3))) @ X                    # (b, J, Q, P)
    # 2. chunk states: S_c = (B_c o gamma)^T X_c,  gamma_j = prod_{j<u<Q} a_u
    gamma = L[:, :, Q - 1]                                     # (b, J, Q)
    S = (Bc * gamma[..., None]).transpose(2, 3) @ X            # (b, J, N, P)
    # 3. state passing: H_c = abar_c H_{c-1} + S_c, H_{-1} = the initial state
    abar = A[:, :, 0] * gamma[:, :, 0]                         # (b, J)
    # (unbind and stack, not writes into one (b, J, N, P) buffer: autograd would copy the
    # whole buffer back at every chunk, O(J^2 N P))
    h = (torch.zeros(b, N, P, dtype=x.dtype) if initial_state is None
         else initial_state.clone())
    H_prev = []
    for abar_c, S_c in zip(abar.unbind(1), S.unbind(1)):
        H_prev.append(h)
        h = abar_c[:, None, None] * h + S_c
    H_prev = torch.stack(H_prev, dim=1)                        # (b, J, N, P)
    # 4. state output: Y_off = (C_c o delta) H_{c-1},  delta_i = prod_{0<=u<=i} a_u
    delta = A[:, :, :1] * L[..., 0]                            # (b, J, Q)
    Y += (Cc * delta[..., None]) @ H_prev
    return Y.reshape(b, J * Q, P)[:, :T], h


def _tensor(arr):
    """A torch view of a NumPy array (the package's validated inputs are read-only views,
    which torch warns about; nothing here writes to them)."""
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


def numpy_scalar_chunked(x, a, B, C, initial_state=None, *, chunk_size=64):
    """:func:`scalar_chunked` with the package's signature: x (..., T, P), a (..., T), B, C
    (..., T, N), initial_state (..., N, P) NumPy arrays, validated and flattened as by every
    backend (``validation.flatten``: the same checks the Numba rows pay). Returns y
    (..., T, P) and h_{T-1} (..., N, P) as NumPy arrays."""
    import torch
    Q = check_chunk_size(chunk_size)
    f = flatten("scalar", x, a, B, C, initial_state)
    if f.T == 0 or f.nb == 0:
        return unflatten(f, np.empty((f.nb, f.T, f.P), dtype=f.dtype), f.h0)
    with torch.no_grad():
        y, h = scalar_chunked(*(_tensor(v) for v in (f.x, f.a, f.B, f.C, f.h0)), chunk_size=Q)
    return unflatten(f, y.numpy(), h.numpy())


def numpy_scalar_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """The VJP of :func:`scalar_chunked` by torch's autograd, with the package's VJP signature
    (``ssd_edu.VJPS``): the forward recorded, then ``torch.autograd.grad`` of
    <dy, y> + <dh, h_T>. Validated, flattened and summed back to each input's shape as by the
    Numba VJPs (``cpu._backward``). Returns Grads (dinitial_state zeros when none is given)."""
    import torch

    from ..cpu._backward import empty, finish, flatten_vjp   # the VJP launchers' one answer
    Q = check_chunk_size(chunk_size)
    fv = flatten_vjp("scalar", x, a, B, C, dy, dh, initial_state)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    inputs = [_tensor(v).requires_grad_() for v in (f.x, f.a, f.B, f.C, f.h0)]
    y, h = scalar_chunked(*inputs, chunk_size=Q)
    grads = torch.autograd.grad((y, h), inputs, (_tensor(fv.dy), _tensor(fv.dh)))
    return finish(fv, *(g.numpy() for g in grads))
