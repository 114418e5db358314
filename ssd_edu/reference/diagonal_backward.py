"""VJPs of the diagonal family's attention and chunked forms: N heads, each mask transposed.

Forward (``reference.diagonal``): ``y = sum_n diag(C[:, n]) L_n diag(B[:, n]) x + (C_t o delta_t)^T
h_{-1}`` with ``L_n = 1SS(a[:, n])``. With ``D = dy x^T`` (D[t, s] = dy_t . x_s), per mode n:
    dx = M^T dy + sum_n gamma[s, n] B[s, n] dh[n]       M = sum_n L_n o (C[:, n] B[:, n]^T)
    dC[t, n] = sum_s L_n[t, s] D[t, s] B[s, n] + delta[t, n] (h_{-1}[n] . dy_t)
    dB[s, n] = sum_t L_n[t, s] D[t, s] C[t, n] + gamma[s, n] (dh[n] . x_s)
    dh_{-1}[n] = sum_t delta[t, n] C[t, n] dy_t + delta[T-1, n] dh[n]
and da[:, n] is the gradient of mask n with weights ``D o (C[:, n] B[:, n]^T)``
(``backward.decay_vjp``), with delta[t, n] = a[0, n] ... a[t, n], gamma[s, n] = a[s+1, n] ...
a[T-1, n]. Shapes: x, dy (..., T, P); a, B, C (..., T, N); initial_state, dh (..., N, P).
"""
from __future__ import annotations

import numpy as np

from .backward import chunked_grads, decay_vjp, transpose as _t, vjp_form
from .masks import one_ss_mask, prefix_products, suffix_products


def diagonal_attention_grads(x, a, B, C, dy, h0, dh):
    """The attention form's backward on plain arrays: ``(dx, da, dB, dC, dh0)`` (broadcast shapes).

    x, dy (..., T, P); a, B, C (..., T, N); h0, dh (..., N, P). Also the body of every chunk of
    the chunked VJP. Builds the N masks at once: (..., N, T, T).
    """
    L = one_ss_mask(_t(a))                               # (..., N, T, T): L_n
    delta = prefix_products(a, axis=-2)                  # (..., T, N)
    gamma = suffix_products(a, axis=-2)                  # (..., T, N)
    D = (dy @ _t(x))[..., None, :, :]                    # (..., 1, T, T): dy_t . x_s
    K = L * D                                            # L_n o D
    # dx = M^T dy + (gamma o B) dh,  M[t, s] = sum_n C[t, n] L_n[t, s] B[s, n]
    M = np.einsum("...tn,...nts,...sn->...ts", C, L, B)
    dx = _t(M) @ dy + (gamma * B) @ dh
    # dC[t, n] = sum_s (L_n o D)[t, s] B[s, n] + delta[t, n] (h0[n] . dy_t)
    dC = np.einsum("...nts,...sn->...tn", K, B) + delta * (dy @ _t(h0))
    # dB[s, n] = sum_t (L_n o D)[t, s] C[t, n] + gamma[s, n] (dh[n] . x_s)
    dB = np.einsum("...nts,...tn->...sn", K, C) + gamma * (x @ _t(dh))
    # dh0[n] = sum_t delta[t, n] C[t, n] dy_t + delta[T-1, n] dh[n]
    dh0 = _t(C * delta) @ dy + delta[..., -1, :, None] * dh
    # da[:, n]: mask n weighted by D o C[:, n] B[:, n]^T; the initial state (a key at -1) by
    # C[t, n] (h0[n] . dy_t); the final state (a query at T) by B[s, n] (dh[n] . x_s)
    W = D * np.einsum("...tn,...sn->...nts", C, B)
    e = _t(C * (dy @ _t(h0)))                            # (..., N, T)
    f = _t(B * (x @ _t(dh)))                             # (..., N, T)
    corner = np.sum(dh * h0, axis=-1)                    # (..., N)
    da = _t(decay_vjp(_t(a), W, e, f, corner))
    return dx, da, dB, dC, dh0


#: ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None)``: the attention form's VJP, the same
#: mask transposed. O(N T^2 P) time for dx, dB, dC and O(N T^3) for da: each mode's mask
#: gradient is written as one (T + 2)^3 matmul (``backward.mask_vjp``), readable rather than fast
#: (the Numba VJP gets it in O(T^2) per mode). O(N T^2) memory (refused above the quadratic
#: memory limit).
diagonal_attention_vjp = vjp_form("diagonal", quadratic=6, per_mode=True, name="diagonal_attention_vjp")(diagonal_attention_grads)


@vjp_form("diagonal")
def diagonal_chunked_vjp(x, a, B, C, dy, h0, dh, Q):
    """VJP of the diagonal chunked form: the four chunked steps run backward (4, 3, 2, 1).

    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64)``; see
    ``backward.chunked_grads``. O(T Q N (Q + P)) time (the N T Q^2 is the (Q, Q) mask
    gradient of every chunk and mode); O(J N P + T N Q + T P) memory besides the gradients.
    """
    return chunked_grads("diagonal", x, a, B, C, dy, h0, dh, Q)
