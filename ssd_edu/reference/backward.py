"""The backward pass (vector-Jacobian products) of every form: the backward is an SSD too.

Every VJP has one signature and returns the gradient of ``<dy, y> + <dh, h_{T-1}>``::

    g = vjp(x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size=64])
    g.dx, g.da, g.dB, g.dC, g.dinitial_state          # each with the shape of its input

Derivation (0-based times; ``o`` elementwise; scalar family: ``a_t`` times the identity).
Forward: ``h_t = a_t o h_{t-1} + B_t x_t^T`` (N, P) and ``y_t = h_t^T C_t`` (P,).
Let ``G_t = d loss / d h_t`` (N, P), the gradient flowing into the state. ``h_t`` enters
``y_t`` and ``h_{t+1}`` (and, at t = T-1, the loss term ``<dh, h_{T-1}>``), so

    G_{T-1} = C_{T-1} dy_{T-1}^T + dh
    G_{t-1} = a_t o G_t + C_{t-1} dy_{t-1}^T                 a reverse-time scan

the same recurrence, run backward, with C in the place of B and dy in the place of x. Then,
reading each forward term ``a_t o h_{t-1}``, ``B_t x_t^T`` and ``h_t^T C_t`` once:

    dx_t = G_t^T B_t   (P,)        dB_t = G_t x_t   (N,)        dC_t = h_t dy_t   (N,)
    da_t = sum_p G_t o h_{t-1}     (N,) diagonal family; also summed over n for the scalar one
    dh_{-1} = a_0 o G_0

The scalar family is the diagonal one with one decay shared by all modes, so its ``da`` is
the diagonal ``da`` summed over n. Nothing divides by a decay and no log appears, so zero,
negative and near-one decays give the exact finite gradient.

Unrolled, ``G_s = sum_{t >= s} L[t, s] C_t dy_t^T + gamma_s dh`` with ``L = 1SS(a)``: the
transposed mask. So ``dx = M^T dy + ...``: the gradient with respect to x is the same
structured masked attention with the mask transposed, running the other way in time
(``reference.scalar_backward`` / ``diagonal_backward``). The gradient of the mask itself,
:func:`mask_vjp`, uses ``L[t, s] = L[t, u] a_u L[u-1, s]`` for ``s < u <= t`` (direct products,
no division). The initial state acts as a key at time -1 and the final state as a query at
time T, so their decay terms join the same mask on a (T + 2)-step grid (:func:`decay_vjp`).
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


def vjp_form(family: str, *, quadratic: int | None = None, per_mode: bool = False,
             name: str | None = None):
    """Decorator for the body of a VJP of ``family``, as ``_common.ssm_form`` is for a form.

    The public function ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None[, chunk_size])``
    refuses a positional option by name, validates (real dtypes; ``check_cotangents`` for dy and
    dh), refuses a quadratic form above
    the memory limit (``quadratic=k`` (T+2, T+2) arrays per sequence, per mode when
    ``per_mode``), answers T = 0 itself, and calls ``body(x, a, B, C, dy, h0, dh[, Q])`` with
    plain arrays (h0 and dh (*batch, N, P), zeros by default). The body returns
    ``(dx, da, dB, dC, dh0)`` in broadcast shapes; ``vjp.finish`` sums them back. ``name``
    names the public function (default: the body's name).
    """
    def wrap(body):
        def run(x, a, B, C, dy, dh, initial_state, chunking):
            v = check_ssm(family, x, a, B, C, initial_state)
            dy, dh = check_cotangents(v, dy, dh)
            Q = check_chunk_size(chunking["chunk_size"]) if chunking else None
            if v.T == 0:
                return empty(v, dh)
            rest = {} if Q is None else dict(Q=min(Q, v.T))     # one chunk of T steps at most
            if Q is not None:
                check_chunk_blocks(vjp.__name__, family, v, rest["Q"])
            if quadratic:
                lead = (*v.batch, v.N) if per_mode else v.batch
                check_quadratic(vjp.__name__, lead, v.T, v.dtype, copies=quadratic, pad=2)
            return finish(v, *body(v.x, v.a, v.B, v.C, dy, _start_state(v), dh, **rest))

        if "Q" in inspect.signature(body).parameters:
            def vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
                return run(x, a, B, C, dy, dh, initial_state, dict(chunk_size=chunk_size))
        else:
            def vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
                return run(x, a, B, C, dy, dh, initial_state, {})

        vjp.__name__ = vjp.__qualname__ = name or body.__name__
        vjp.__doc__ = body.__doc__
        vjp.__module__ = body.__module__
        return keyword_only(vjp)
    return wrap


def transpose(arr: np.ndarray) -> np.ndarray:
    """Swap the last two axes (``M^T`` of a stack of matrices)."""
    return np.swapaxes(arr, -1, -2)


def mask_vjp(a: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The gradient of ``sum_{t,s} W[t, s] L[t, s]`` with respect to a, for ``L = 1SS(a)``.

    a (..., T), W (..., T, T) -> (..., T). With ``L[t, s] = L[t, u] a_u L[u-1, s]`` (s < u <= t):
        da_u = sum_{t >= u > s} L[t, u] W[t, s] L[u-1, s] = sum_s (L^T W)[u, s] L[u-1, s]
    Direct products only: exact for zero and negative decays.
    """
    L = one_ss_mask(a)
    # Z = L^T W: the transposed mask, Z[u, s] = sum_{t >= u} L[t, u] W[t, s]
    Z = np.swapaxes(L, -1, -2) @ W
    # L_prev[u, s] = L[u-1, s] (row 0 is zero: nothing before step 0)
    L_prev = np.concatenate([np.zeros_like(L[..., :1, :]), L[..., :-1, :]], axis=-2)
    return np.sum(Z * L_prev, axis=-1)


def decay_vjp(a, W, e, f, corner):
    """The gradient with respect to a of everything the decays enter in an attention form.

    loss_a = sum_{t,s} W[t, s] L[t, s] + sum_t e_t delta_t + sum_s f_s gamma_s + corner delta_{T-1}
    with L = 1SS(a), delta_t = a_0 ... a_t (carries h_{-1} to y_t) and gamma_s = a_{s+1} ... a_{T-1}
    (carries x_s to h_{T-1}). a, e, f (..., T); W (..., T, T); corner (...,). Returns (..., T).
    On the grid -1, 0, ..., T-1, T with decays (1, a_0, ..., a_{T-1}, 1), delta_t is the mask
    entry (t, -1), gamma_s is (T, s) and delta_{T-1} is (T, -1): one mask, one :func:`mask_vjp`.
    """
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


def _shifted(arr: np.ndarray, first: float) -> np.ndarray:
    """arr[..., u - 1, :] along the chunk's time axis (-2), with ``first`` at u = 0."""
    return np.concatenate([np.full_like(arr[..., :1, :], first), arr[..., :-1, :]], axis=-2)


def _per_mode(arr: np.ndarray, m: int) -> np.ndarray:
    """A per-mode weight (..., N) summed to the decay's m modes (m = 1: the scalar family)."""
    return arr if m == arr.shape[-1] else arr.sum(axis=-1, keepdims=True)


def _masks(ac: np.ndarray) -> np.ndarray:
    """(..., J, Q, m) chunked decays -> (..., J, m, Q, Q): each chunk's 1-SS mask per mode."""
    return one_ss_mask(transpose(ac))


def chunk_output_vjp(ac, Cc, H_prev, dyc):
    """Step 4 backward. Y_off[t] = (delta_t o C_t)^T H_{c-1}, chunked arrays (..., J, Q, .).

    dC[t, n] = delta[t, n] (H_{c-1}[n] . dy_t);  dH_prev[c] = sum_t (delta_t o C_t) dy_t^T;
    da_u = delta_{u-1} sum_{t >= u} L[t, u] e_t with e_t = C_t o (H_{c-1} dy_t) (the
    derivative of delta_t = delta_{u-1} a_u L[t, u]). Returns (da, dC, dH_prev).
    """
    delta = prefix_products(ac, axis=-2)                        # (..., J, Q, m)
    E = np.einsum("...cnp,...ctp->...ctn", H_prev, dyc)         # E[t, n] = H_{c-1}[n] . dy_t
    dC = delta * E
    dH_prev = np.einsum("...ctn,...ctp->...cnp", delta * Cc, dyc)
    e = _per_mode(Cc * E, ac.shape[-1])
    # da_u = delta_{u-1} sum_{t >= u} L[t, u] e_t
    da = _shifted(delta, 1) * np.einsum("...cnts,...ctn->...csn", _masks(ac), e)
    return da, dC, dH_prev


def state_passing_vjp(abar, H_prev, dH_prev, dh):
    """Step 3 backward. H_c = diag(abar_c) H_{c-1} + S_c; g_c = d loss / d H_c.

    g_{c-1} = diag(abar_c) g_c + dH_prev[c], g_{J-1} = dh: the state passing again, over the
    chunks in reverse order. dS_c = g_c, dabar_c = sum_p g_c o H_{c-1}, dh_{-1} = g_{-1}.
    Returns (dabar, dS, dinitial_state).
    """
    g_rev, dh0 = state_passing(np.flip(abar, -2), np.flip(dH_prev, -3), initial_state=dh)
    g = np.flip(g_rev, -3)                                      # g[c] = g_c
    dabar = _per_mode(np.sum(g * H_prev, axis=-1), abar.shape[-1])
    return dabar, g, dh0


def chunk_states_vjp(xc, ac, Bc, dS, dabar):
    """Step 2 backward. S_c = sum_s (gamma_s o B_s) x_s^T, abar_c = prod_{u in c} a_u.

    dx_s = (gamma_s o B_s)^T dS_c;  dB[s, n] = gamma[s, n] (dS_c[n] . x_s);
    da_u = gamma_u sum_{s < u} L[u-1, s] f_s + dabar_c delta_{u-1} gamma_u with
    f_s = B_s o (dS_c x_s) (the derivatives of gamma_s and of abar_c). Returns (dx, da, dB).
    """
    gamma = suffix_products(ac, axis=-2)                        # (..., J, Q, m)
    delta = prefix_products(ac, axis=-2)
    dx = np.einsum("...csn,...cnp->...csp", gamma * Bc, dS)
    K = np.einsum("...cnp,...csp->...csn", dS, xc)              # K[s, n] = dS_c[n] . x_s
    dB = gamma * K
    f = _per_mode(Bc * K, ac.shape[-1])
    # z_t = sum_{s <= t} L[t, s] f_s;  da_u = gamma_u z_{u-1} + dabar_c delta_{u-1} gamma_u
    z = np.einsum("...cnts,...csn->...ctn", _masks(ac), f)
    da = gamma * (_shifted(z, 0) + dabar[..., None, :] * _shifted(delta, 1))
    return dx, da, dB


def intra_chunk_vjp(xc, ac, Bc, Cc, dyc):
    """Step 1 backward. Y_diag = sum_n (L_n o C[:, n] B[:, n]^T) X per chunk; D = dy x^T.

    dx = M^T dy with M[t, s] = sum_n C[t, n] L_n[t, s] B[s, n];
    dC[t, n] = sum_s L_n[t, s] D[t, s] B[s, n];  dB[s, n] = sum_t L_n[t, s] D[t, s] C[t, n];
    da: the gradient of mask n with weights D[t, s] C[t, n] B[s, n] (:func:`mask_vjp`).
    Returns (dx, da, dB, dC).
    """
    L = _masks(ac)                                              # (..., J, m, Q, Q)
    D = np.einsum("...ctp,...csp->...cts", dyc, xc)             # D[t, s] = dy_t . x_s
    M = np.einsum("...ctn,...cnts,...csn->...cts", Cc, L, Bc)
    dx = np.einsum("...cts,...ctp->...csp", M, dyc)
    dC = np.einsum("...cnts,...cts,...csn->...ctn", L, D, Bc)
    dB = np.einsum("...cnts,...cts,...ctn->...csn", L, D, Cc)
    W = np.einsum("...cts,...ctn,...csn->...cnts", D, Cc, Bc)
    if ac.shape[-1] == 1:                                       # one mask for every mode
        W = W.sum(axis=-3, keepdims=True)
    da = transpose(mask_vjp(transpose(ac), W))
    return dx, da, dB, dC


def chunked_grads(family: str, x, a, B, C, dy, h0, dh, Q: int):
    """The chunked VJP: the four steps of ``chunking`` run backward, 4, 3, 2, 1.

    The forward's chunk states S_c and entering states H_prev are recomputed (steps 2, 3);
    each step's VJP then adds its part of the gradients. x, dy (..., T, P); a (..., T) or
    (..., T, N); B, C (..., T, N); h0, dh (..., N, P). Returns (dx, da, dB, dC, dh0).
    """
    T = x.shape[-2]
    a = a[..., None] if family == "scalar" else a               # (..., T, 1) or (..., T, N)
    S, abar = chunk_states(x, a, B, chunk_size=Q)
    H_prev, _ = state_passing(abar, S, initial_state=h0)
    xc, Bc, Cc, dyc = (_to_chunks(arr, Q, 0) for arr in (x, B, C, dy))
    ac = _to_chunks(a, Q, 1)                                    # (..., J, Q, 1 | N)
    # 4. chunk_output backward
    da4, dC4, dH_prev = chunk_output_vjp(ac, Cc, H_prev, dyc)
    # 3. state_passing backward
    dabar, dS, dh0 = state_passing_vjp(abar, H_prev, dH_prev, dh)
    # 2. chunk_states backward
    dx2, da2, dB2 = chunk_states_vjp(xc, ac, Bc, dS, dabar)
    # 1. intra_chunk backward
    dx1, da1, dB1, dC1 = intra_chunk_vjp(xc, ac, Bc, Cc, dyc)
    dx, da, dB, dC = (_from_chunks(g, T) for g in (dx1 + dx2, da1 + da2 + da4, dB1 + dB2,
                                                   dC1 + dC4))
    return dx, (da[..., 0] if family == "scalar" else da), dB, dC, dh0


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
    """VJP of the scalar scan: the reverse-time scan ``G_{t-1} = a_t G_t + C_{t-1} dy_{t-1}^T``.

    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None)``: x, dy (..., T, P), a (..., T),
    B, C (..., T, N), dh and initial_state (..., N, P). Returns Grads with
    dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = <G_t, h_{t-1}>, dh_{-1} = a_0 G_0.
    """
    return _scan_grads("scalar", x, a, B, C, dy, h0, dh)


@vjp_form("diagonal")
def diagonal_scan_vjp(x, a, B, C, dy, h0, dh):
    """VJP of the diagonal scan: ``G_{t-1} = diag(a_t) G_t + C_{t-1} dy_{t-1}^T``, backward in time.

    ``vjp(x, a, B, C, dy, dh=None, *, initial_state=None)``, shapes as the forward, a (..., T, N).
    Returns Grads with dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t,
    da[t, n] = sum_p G_t[n, p] h_{t-1}[n, p], dh_{-1} = diag(a_0) G_0.
    """
    return _scan_grads("diagonal", x, a, B, C, dy, h0, dh)
