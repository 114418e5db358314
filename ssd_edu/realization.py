"""From a kernel back to an SSM, beyond diagonal A_t (THEORY.md 8.1, 8.2).

* :func:`general_single_mask` - the corollary of Theorem 4.1: with invertible A_t, the kernel is one
  causal mask ``tril(C' B'^T)`` of width N, so a width-N 1-SS dual exists;
* :func:`realize` - every N-semiseparable M is the kernel of a time-varying state-N SSM
  (N-SS => SSS, Dao & Gu Prop. 3.4), dual or not.

Both are re-exported by :mod:`ssd_edu.structure` (``structure.realize(M, N)``).
"""
from __future__ import annotations

import numpy as np

from .validation import check_kernel



def general_single_mask(A, B, C) -> tuple:
    """The corollary of Theorem 4.1 for invertible ``A_t``: ``(C', B')`` with
    ``general_kernel(A, B, C) == tril(C' B'^T)``, one causal mask of width N.

    A: (..., T, N, N); B, C: (..., T, N). With ``Phi_t = A_t A_{t-1} ... A_1`` (``Phi_0 = I``)::

        M[t, s] = C_t^T A_t ... A_{s+1} B_s = C_t^T Phi_t Phi_s^{-1} B_s
        C'_t = Phi_t^T C_t,   B'_s = Phi_s^{-1} B_s

    so ``nu(M) <= N`` and a width-N 1-SS dual exists: invertibility, not diagonality, is what
    a dual needs. A_0 never enters M. Raises ValueError naming the step when some A_t
    (t >= 1) is singular. Like :func:`ssd_edu.reference.diagonal_single_mask` it divides by
    decay products, so it is a proof device, usable only at short T.
    """
    v = check_kernel("general", A, B, C, allow_complex=True)
    A_, B_, C_ = v.a, v.B, v.C
    N = A_.shape[-1]
    for t in range(1, v.T):
        ranks = np.asarray(np.linalg.matrix_rank(A_[..., t, :, :]))
        if np.any(ranks < N):
            where = np.unravel_index(int(np.argmin(ranks)), ranks.shape)
            index = ", ".join(map(str, (*where, t)))
            raise ValueError(f"A[{index}, :, :] is singular (rank {int(np.min(ranks))} < N = "
                             f"{N}); the rewrite needs every A_t, t >= 1, invertible")
    Phi = np.broadcast_to(np.eye(N, dtype=v.dtype), (*v.batch, N, N)).copy()
    Cp = np.empty((*v.batch, v.T, N), dtype=v.dtype)
    Bp = np.empty((*v.batch, v.T, N), dtype=v.dtype)
    for t in range(v.T):
        if t > 0:
            Phi = A_[..., t, :, :] @ Phi  # Phi_t = A_t Phi_{t-1}
        # C'_t = Phi_t^T C_t;  B'_t = Phi_t^{-1} B_t
        Cp[..., t, :] = np.einsum("...nm,...n->...m", Phi, C_[..., t, :])
        try:
            Bp[..., t, :] = np.linalg.solve(Phi, B_[..., t, :, None])[..., 0]
        except np.linalg.LinAlgError:
            raise ValueError(f"Phi_{t} = A_{t} ... A_1 is numerically singular (its products "
                             f"under- or overflow) although every A_t is invertible; the "
                             f"rewrite divides by Phi_t, so it works only at short T") from None
    return Cp, Bp


def realize(M, N, rtol: float | None = None) -> tuple:
    """A state-N time-varying SSM whose kernel is M (N-SS => SSS; Dao & Gu Prop. 3.4).

    M: (T, T) lower triangular with ``ss_rank(M) <= N``; N: integer >= 1. Returns
    ``(A, B, C)``, A (T, N, N), B and C (T, N), with ``general_kernel(A, B, C) == M`` up to
    rounding (THEORY.md 8.2). For each t, factor the inclusive block
    ``K_t = M[t:, :t+1] = O_t R_t`` (truncated SVD, the rank tolerance of :func:`ss_rank`,
    O_t with r_t <= N orthonormal columns) and take the state ``h_t = R_t x[:t+1]``::

        C_t = O_t[0, :]              (y_t = K_t[0] x[:t+1])
        B_t = R_t[:, t]
        A_t = O_t^H O_{t-1}[1:, :]   (R_t[:, :t] = O_t^H K_{t-1}[1:] = A_t R_{t-1})

    padded with zeros to N x N (A_0 = 0: it never enters M). Raises ValueError naming the
    inclusive block whose rank exceeds N. Cost: one SVD per t, O(T^4) in all.
    """
    # imported here, not at the top: ssd_edu.structure re-exports this module's functions
    from .structure import _check_tol, _threshold, check_lower, check_width
    L, eps = check_lower(M)
    N = check_width(N)
    rtol = _check_tol("rtol", rtol, True)
    T = L.shape[0]
    A = np.zeros((T, N, N), dtype=L.dtype)
    B = np.zeros((T, N), dtype=L.dtype)
    C = np.zeros((T, N), dtype=L.dtype)
    O_prev = np.zeros((T + 1, 0), dtype=L.dtype)
    for t in range(T):
        K_t = L[t:, : t + 1]
        U, s, Vh = np.linalg.svd(K_t, full_matrices=False)
        r = int(np.sum(s > _threshold(s, K_t.shape, rtol, eps))) if s[0] > 0 else 0
        if r > N:
            raise ValueError(f"M is not {N}-semiseparable: its inclusive block M[{t}:, :{t + 1}] "
                             f"has rank {r} > N = {N}, so no state-{N} SSM has kernel M (use "
                             f"N >= ss_rank(M))")
        O, R = U[:, :r], s[:r, None] * Vh[:r]            # K_t = O_t R_t
        C[t, :r] = O[0]
        B[t, :r] = R[:, t]
        A[t, :r, : O_prev.shape[1]] = O.conj().T @ O_prev[1:]
        O_prev = O
    return A, B, C
