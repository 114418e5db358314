"""VJPs of the scalar family's attention and chunked forms: masked matmuls with the mask transposed.

Forward (``reference.scalar``): ``M = L o (C B^T)`` with ``L = 1SS(a)``, and
    y = M x + delta_t C_t^T h_{-1},      h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}
with delta_t = a_0 ... a_t and gamma_s = a_{s+1} ... a_{T-1}. With ``D = dy x^T`` (D[t, s] =
dy_t . x_s), the gradient of the masked matmul is the same masked matmul, transposed:
    dx = M^T dy + gamma_s dh^T B_s               dC = (L o D) B + delta_t h_{-1} dy_t
    dB = (L o D)^T C + gamma_s dh x_s            dh_{-1} = sum_t delta_t C_t dy_t^T + delta_{T-1} dh
and da is the gradient of the mask with weights ``W = D o (C B^T)`` (``backward.decay_vjp``).
Shapes: x, dy (..., T, P); a (..., T); B, C (..., T, N); initial_state, dh (..., N, P).
"""
from __future__ import annotations

import numpy as np

from .backward import chunked_grads, decay_vjp, transpose as _t, vjp_form
from .masks import one_ss_mask, prefix_products, suffix_products


def scalar_attention_grads(x, a, B, C, dy, h0, dh):
    """The attention form's backward on plain arrays: ``(dx, da, dB, dC, dh0)`` (broadcast shapes).

    x, dy (..., T, P); a (..., T); B, C (..., T, N); h0, dh (..., N, P). Also the body of
    every chunk of the chunked VJP (h0 = the state entering the chunk, dh = the gradient
    leaving it).
    """
    L = one_ss_mask(a)                                   # (..., T, T)
    delta, gamma = prefix_products(a), suffix_products(a)
    scores = C @ _t(B)                                   # C_t . B_s
    D = dy @ _t(x)                                       # D[t, s] = dy_t . x_s
    # dx = M^T dy + gamma_s dh^T B_s
    dx = _t(L * scores) @ dy + gamma[..., None] * (B @ dh)
    # dC = (L o D) B + delta_t h0 dy_t
    dC = (L * D) @ B + delta[..., None] * (dy @ _t(h0))
    # dB = (L o D)^T C + gamma_s dh x_s
    dB = _t(L * D) @ C + gamma[..., None] * (x @ _t(dh))
    # dh0 = sum_t delta_t C_t dy_t^T + delta_{T-1} dh
    dh0 = _t(C * delta[..., None]) @ dy + delta[..., -1, None, None] * dh
    # da: the mask weighted by D o C B^T, the initial state by C_t^T h0 dy_t (a key at -1),
    # the final state by B_s^T dh x_s (a query at T), and <dh, h0> for delta_{T-1}
    e = np.sum(C * (dy @ _t(h0)), axis=-1)
    f = np.sum(B * (x @ _t(dh)), axis=-1)
    corner = np.sum(dh * h0, axis=(-2, -1))
    da = decay_vjp(a, D * scores, e, f, corner)
    return dx, da, dB, dC, dh0


#: ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None)``: the attention form's VJP, the same
#: mask transposed. O(T^2 (N + P)) time for dx, dB, dC and O(T^3) for da: the mask's gradient
#: is written as one (T + 2)^3 matmul (``backward.mask_vjp``), readable rather than fast (the
#: Numba VJP gets it in O(T^2)). O(T^2) memory (refused above the quadratic memory limit).
scalar_attention_vjp = vjp_form("scalar", quadratic=6, name="scalar_attention_vjp")(scalar_attention_grads)


@vjp_form("scalar")
def scalar_chunked_vjp(x, a, B, C, dy, h0, dh, Q):
    """VJP of the scalar chunked form: the four chunked steps run backward (4, 3, 2, 1).

    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64)``; see
    ``backward.chunked_grads``. O(T Q (Q + N + P) + T N P) time (the T Q^2 is the (Q, Q)
    mask gradient of every chunk); O(J N P + T (N + P + Q)) memory besides the gradients.
    """
    return chunked_grads("scalar", x, a, B, C, dy, h0, dh, Q)
