"""The backward pass (VJPs) of every form: the backward is an SSD too (docs/theory.md#backward).

    g = vjp(x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size=64])
    g.dx, g.da, g.dB, g.dC, g.dinitial_state   the gradient of <dy, y> + <dh, h_{T-1}>

With G_t = d loss / d h_t (N, P), the forward h_t = a_t o h_{t-1} + B_t x_t^T, y_t = h_t^T C_t
gives the same recurrence run backward in time, C in the place of B and dy in the place of x:

    G_{T-1} = C_{T-1} dy_{T-1}^T + dh,      G_{t-1} = a_t o G_t + C_{t-1} dy_{t-1}^T
    dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t,  da_t = sum_p G_t o h_{t-1},
    dh_{-1} = a_0 o G_0                     (scalar family: da_t also summed over n)

Unrolled, G_s = sum_{t >= s} L[t, s] C_t dy_t^T + gamma_s dh (L = 1SS(a)): the attention and
chunked VJPs are the forward's masked matmuls with the mask transposed. No division, no log.
"""
from __future__ import annotations

import inspect

import numpy as np

from .._keyword_only import keyword_only
from ..validation import check_chunk_size, check_cotangents, check_quadratic, check_ssm
from ..vjp import empty, finish
from ._common import _start_state, check_chunk_blocks
from .chunking import _from_chunks, _to_chunks, chunk_states, state_passing
from .masks import one_ss_mask, prefix_products, suffix_products


def vjp_form(family: str, *, quadratic: int | None = None, per_mode: bool = False):
    """Decorator, as ``_common.ssm_form``: ``body(x, a, B, C, dy, h0, dh[, Q])`` becomes
    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size=64])`` returning Grads;
    ``quadratic`` (T+2, T+2) arrays per sequence (per mode when ``per_mode``) are guarded."""
    def wrap(body):
        def run(x, a, B, C, dy, dh, initial_state, chunking):
            v = check_ssm(family, x, a, B, C, initial_state)
            dy, dh = check_cotangents(v, dy, dh)
            rest = {k: check_chunk_size(q) for k, q in chunking.items()}
            if v.T == 0:
                return empty(v, dh)
            if rest:
                rest["Q"] = min(rest["Q"], v.T)          # one chunk of T steps at most
                check_chunk_blocks(vjp.__name__, family, v, rest["Q"])
            if quadratic:
                lead = (*v.batch, v.N) if per_mode else v.batch
                check_quadratic(vjp.__name__, lead, v.T, v.dtype, copies=quadratic, pad=2)
            return finish(v, *body(v.x, v.a, v.B, v.C, dy, _start_state(v), dh, **rest))

        if "Q" in inspect.signature(body).parameters:
            def vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
                return run(x, a, B, C, dy, dh, initial_state, dict(Q=chunk_size))
        else:
            def vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
                return run(x, a, B, C, dy, dh, initial_state, {})

        vjp.__name__ = vjp.__qualname__ = body.__name__
        vjp.__doc__, vjp.__module__ = body.__doc__, body.__module__
        return keyword_only(vjp)
    return wrap


def _t(arr: np.ndarray) -> np.ndarray:
    """``M^T`` of a stack of matrices: the last two axes swapped."""
    return np.swapaxes(arr, -1, -2)


def _shifted(arr: np.ndarray, first: float) -> np.ndarray:
    """arr[..., u - 1, :] along the time axis (-2), with ``first`` at u = 0."""
    return np.concatenate([np.full_like(arr[..., :1, :], first), arr[..., :-1, :]], axis=-2)


def mask_vjp(a: np.ndarray, W: np.ndarray) -> np.ndarray:
    """d/da of ``sum_{t,s} W[t, s] L[t, s]``, L = 1SS(a): a (..., T), W (..., T, T) -> (..., T).
    With ``L[t, s] = L[t, u] a_u L[u-1, s]`` (s < u <= t): da_u = sum_s (L^T W)[u, s] L[u-1, s]."""
    L = one_ss_mask(a)
    # Z = L^T W: Z[u, s] = sum_{t >= u} L[t, u] W[t, s]
    Z = _t(L) @ W
    # L[u-1, s] (row 0 is zero: nothing before step 0)
    return np.sum(Z * _shifted(L, 0), axis=-1)


def decay_vjp(a, W, e, f, corner):
    """d/da of sum W o 1SS(a) + sum_t e_t delta_t + sum_s f_s gamma_s + corner delta_{T-1}:
    a, e, f (..., T), W (..., T, T), corner (...,). On the grid -1, 0, ..., T with decays
    (1, a, 1), delta_t is the mask entry (t, -1), gamma_s (T, s), delta_{T-1} (T, -1)."""
    T = a.shape[-1]
    one = np.ones_like(a[..., :1])
    grid = np.concatenate([one, a, one], axis=-1)                  # (..., T + 2)
    W_grid = np.zeros((*np.broadcast_shapes(W.shape[:-2], a.shape[:-1]), T + 2, T + 2),
                      dtype=np.result_type(a, W))
    W_grid[..., 1:-1, 1:-1] = W
    W_grid[..., 1:-1, 0] = e                                       # initial state: key at -1
    W_grid[..., -1, 1:-1] = f                                      # final state: query at T
    W_grid[..., -1, 0] = corner
    return mask_vjp(grid, W_grid)[..., 1:-1]


def _per_mode(arr: np.ndarray, m: int) -> np.ndarray:
    """A per-mode weight (..., N) summed to the decay's m modes (m = 1: the scalar family)."""
    return arr if m == arr.shape[-1] else arr.sum(axis=-1, keepdims=True)


def _family(family, a, grads):
    """Run ``grads`` with a as (..., T, m); the scalar family's da back to (..., T)."""
    dx, da, dB, dC, dh0 = grads(a[..., None] if family == "scalar" else a)
    return dx, (da[..., 0] if family == "scalar" else da), dB, dC, dh0


def attention_grads(x, a, B, C, dy, h0, dh):
    """The attention form's backward, the masked matmuls with each mask L_n transposed: a
    (..., T, m); x, dy (..., T, P); B, C (..., T, N); h0, dh (..., N, P). Returns
    (dx, da, dB, dC, dh0) in broadcast shapes; D = dy x^T."""
    m = a.shape[-1]
    L = one_ss_mask(_t(a))                               # (..., m, T, T): L_n
    delta, gamma = prefix_products(a, axis=-2), suffix_products(a, axis=-2)   # (..., T, m)
    D = (dy @ _t(x))[..., None, :, :]                    # (..., 1, T, T): dy_t . x_s
    K = L * D                                            # L_n o D
    # dx = M^T dy + (gamma o B) dh
    M = np.einsum("...tn,...nts,...sn->...ts", C, L, B)
    dx = _t(M) @ dy + (gamma * B) @ dh
    # dC[t, n] = sum_s (L_n o D)[t, s] B[s, n] + delta[t, n] (h0[n] . dy_t)
    dC = np.einsum("...nts,...sn->...tn", K, B) + delta * (dy @ _t(h0))
    # dB[s, n] = sum_t (L_n o D)[t, s] C[t, n] + gamma[s, n] (dh[n] . x_s)
    dB = np.einsum("...nts,...tn->...sn", K, C) + gamma * (x @ _t(dh))
    # dh0[n] = sum_t delta[t, n] C[t, n] dy_t + delta[T-1, n] dh[n]
    dh0 = _t(C * delta) @ dy + delta[..., -1, :, None] * dh
    # da: mask n weighted by D o C[:, n] B[:, n]^T, the initial state (a key at -1) by
    # C[t, n] (h0[n] . dy_t), the final state (a query at T) by B[s, n] (dh[n] . x_s)
    CB = np.einsum("...tn,...sn->...nts", C, B) if m > 1 else (C @ _t(B))[..., None, :, :]
    e = _t(_per_mode(C * (dy @ _t(h0)), m))              # (..., m, T)
    f = _t(_per_mode(B * (x @ _t(dh)), m))
    corner = _per_mode(np.sum(dh * h0, axis=-1), m)      # (..., m)
    da = _t(decay_vjp(_t(a), D * CB, e, f, corner))
    return dx, da, dB, dC, dh0


def chunk_output_vjp(ac, Cc, H_prev, dyc):
    """Step 4 backward of Y_off[t] = (delta_t o C_t)^T H_{c-1} on chunked arrays: (da, dC, dH_prev),
    dC[t, n] = delta[t, n] (H_{c-1}[n] . dy_t),  dH_prev[c] = sum_t (delta_t o C_t) dy_t^T,
    da_u = delta_{u-1} sum_{t >= u} L[t, u] e_t  with e_t = C_t o (H_{c-1} dy_t)."""
    delta = prefix_products(ac, axis=-2)                        # (..., J, Q, m)
    E = np.einsum("...cnp,...ctp->...ctn", H_prev, dyc)         # E[t, n] = H_{c-1}[n] . dy_t
    dC = delta * E
    dH_prev = np.einsum("...ctn,...ctp->...cnp", delta * Cc, dyc)
    e = _per_mode(Cc * E, ac.shape[-1])
    # da_u = delta_{u-1} sum_{t >= u} L[t, u] e_t
    da = _shifted(delta, 1) * np.einsum("...cnts,...ctn->...csn", one_ss_mask(_t(ac)), e)
    return da, dC, dH_prev


def state_passing_vjp(abar, H_prev, dH_prev, dh):
    """Step 3 backward, the state passing over reversed chunks: g_{c-1} = diag(abar_c) g_c +
    dH_prev[c], g_{J-1} = dh; returns (dabar, dS, dh_{-1}) = (sum_p g_c o H_{c-1}, g_c, g_{-1})."""
    g_rev, dh0 = state_passing(np.flip(abar, -2), np.flip(dH_prev, -3), initial_state=dh)
    g = np.flip(g_rev, -3)                                      # g[c] = g_c
    dabar = _per_mode(np.sum(g * H_prev, axis=-1), abar.shape[-1])
    return dabar, g, dh0


def chunk_states_vjp(xc, ac, Bc, dS, dabar):
    """Step 2 backward of S_c = sum_s (gamma_s o B_s) x_s^T, abar_c = prod_u a_u: (dx, da, dB),
    dx_s = (gamma_s o B_s)^T dS_c,  dB[s, n] = gamma[s, n] (dS_c[n] . x_s),
    da_u = gamma_u sum_{s < u} L[u-1, s] f_s + dabar_c delta_{u-1} gamma_u, f_s = B_s o dS_c x_s."""
    gamma = suffix_products(ac, axis=-2)                        # (..., J, Q, m)
    delta = prefix_products(ac, axis=-2)
    dx = np.einsum("...csn,...cnp->...csp", gamma * Bc, dS)
    K = np.einsum("...cnp,...csp->...csn", dS, xc)              # K[s, n] = dS_c[n] . x_s
    dB = gamma * K
    f = _per_mode(Bc * K, ac.shape[-1])
    # z_t = sum_{s <= t} L[t, s] f_s;  da_u = gamma_u z_{u-1} + dabar_c delta_{u-1} gamma_u
    z = np.einsum("...cnts,...csn->...ctn", one_ss_mask(_t(ac)), f)
    da = gamma * (_shifted(z, 0) + dabar[..., None, :] * _shifted(delta, 1))
    return dx, da, dB


def intra_chunk_vjp(xc, ac, Bc, Cc, dyc):
    """Step 1 backward, per chunk: :func:`attention_grads` from a zero state (dx, da, dB, dC)."""
    zero = np.zeros((*Bc.shape[:-2], Bc.shape[-1], xc.shape[-1]), dtype=xc.dtype)
    return attention_grads(xc, ac, Bc, Cc, dyc, zero, zero)[:4]


def chunked_grads(family: str, x, a, B, C, dy, h0, dh, Q: int):
    """The chunked VJP: the four steps of ``chunking`` run backward, 4, 3, 2, 1 (S_c and
    H_prev recomputed by steps 2 and 3). Returns (dx, da, dB, dC, dh0)."""
    def grads(a):
        S, abar = chunk_states(x, a, B, chunk_size=Q)
        H_prev, _ = state_passing(abar, S, initial_state=h0)
        xc, Bc, Cc, dyc = (_to_chunks(arr, Q, 0) for arr in (x, B, C, dy))
        ac = _to_chunks(a, Q, 1)                                # (..., J, Q, m)
        # 4. chunk_output backward
        da4, dC4, dH_prev = chunk_output_vjp(ac, Cc, H_prev, dyc)
        # 3. state_passing backward
        dabar, dS, dh0 = state_passing_vjp(abar, H_prev, dH_prev, dh)
        # 2. chunk_states backward
        dx2, da2, dB2 = chunk_states_vjp(xc, ac, Bc, dS, dabar)
        # 1. intra_chunk backward
        dx1, da1, dB1, dC1 = intra_chunk_vjp(xc, ac, Bc, Cc, dyc)
        sums = (dx1 + dx2, da1 + da2 + da4, dB1 + dB2, dC1 + dC4)
        return (*(_from_chunks(g, x.shape[-2]) for g in sums), dh0)
    return _family(family, a, grads)


def _scan_grads(family: str, x, a, B, C, dy, h0, dh):
    """The reverse-time scan; keeps every state (O(T N P) memory: the readable version)."""
    a = a[..., None] if family == "scalar" else a        # (..., T, 1) or (..., T, N)
    T = x.shape[-2]
    hs = [h0]                                            # hs[t + 1] = h_t
    for t in range(T):
        # h_t = a_t o h_{t-1} + B_t x_t^T
        hs.append(a[..., t, :, None] * hs[-1] + B[..., t, :, None] * x[..., t, None, :])
    lead = (*h0.shape[:-2], T)
    dx = np.empty((*lead, x.shape[-1]), h0.dtype)
    dB, dC, da = (np.empty((*lead, h0.shape[-2]), h0.dtype) for _ in range(3))
    g = dh                                               # g = a_{t+1} o G_{t+1}, dh at t = T-1
    for t in reversed(range(T)):
        # G_t = a_{t+1} o G_{t+1} + C_t dy_t^T
        G = g + C[..., t, :, None] * dy[..., t, None, :]
        # dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t
        dx[..., t, :] = np.einsum("...np,...n->...p", G, B[..., t, :])
        dB[..., t, :] = np.einsum("...np,...p->...n", G, x[..., t, :])
        dC[..., t, :] = np.einsum("...np,...p->...n", hs[t + 1], dy[..., t, :])
        # da_t = sum_p G_t o h_{t-1}
        da[..., t, :] = np.sum(G * hs[t], axis=-1)
        g = a[..., t, :, None] * G
    if family == "scalar":
        da = da.sum(axis=-1)
    return dx, da, dB, dC, g                             # g = a_0 o G_0 = dh_{-1}


@vjp_form("scalar")
def scalar_scan_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the scalar scan: the reverse-time scan G_{t-1} = a_t G_t + C_{t-1} dy_{t-1}^T."""
    return _scan_grads("scalar", x, a, B, C, dy, h0, dh)


@vjp_form("diagonal")
def diagonal_scan_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the diagonal scan: the reverse-time scan G_{t-1} = a_t o G_t + C_{t-1} dy_{t-1}^T."""
    return _scan_grads("diagonal", x, a, B, C, dy, h0, dh)


@vjp_form("scalar", quadratic=6)
def scalar_attention_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the scalar attention form: the same mask transposed (:func:`attention_grads`).
    O(T^3) for da (the (T + 2)^3 matmul of :func:`mask_vjp`); O(T^2) memory."""
    return _family("scalar", a, lambda a: attention_grads(x, a, B, C, dy, h0, dh))


@vjp_form("diagonal", quadratic=6, per_mode=True)
def diagonal_attention_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the diagonal attention form: each mode's mask transposed (:func:`attention_grads`).
    O(N T^3) for da; O(N T^2) memory."""
    return attention_grads(x, a, B, C, dy, h0, dh)


@vjp_form("scalar")
def scalar_chunked_vjp(x, a, B, C, dy, h0, dh, Q):
    """VJP of the scalar chunked form: the four chunked steps run backward (4, 3, 2, 1)."""
    return chunked_grads("scalar", x, a, B, C, dy, h0, dh, Q)


@vjp_form("diagonal")
def diagonal_chunked_vjp(x, a, B, C, dy, h0, dh, Q):
    """VJP of the diagonal chunked form: the four chunked steps run backward (4, 3, 2, 1)."""
    return chunked_grads("diagonal", x, a, B, C, dy, h0, dh, Q)
