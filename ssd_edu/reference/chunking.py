"""The four steps of the chunked (block) algorithm, by name; ``{family}_chunked`` composes them.

Chunk c covers steps [b_c, e_c] = [c Q, min(c Q + Q, T) - 1]; J = ceil(T / Q) chunks. Within c:
delta_t = a_{b_c} ... a_t, gamma_s = a_{s+1} ... a_{e_c}, abar_c = a_{b_c} ... a_{e_c}.

    1. y_diag    = intra_chunk(x, a, B, C, *, chunk_size)    Y_diag = (1SS(a_c) o C_c B_c^T) X_c
    2. S, abar   = chunk_states(x, a, B, *, chunk_size)      S_c = sum_s diag(gamma_s) B_s x_s^T
    3. H_prev, h = state_passing(abar, S, *, initial_state)  H_c = diag(abar_c) H_{c-1} + S_c
    4. y_off     = chunk_output(a, C, H_prev, *, chunk_size) Y_off[t] = (delta_t o C_t)^T H_{c-1}
    y = y_diag + y_off,  h = H_{J-1}

a is (..., T, N) (diagonal family) or (..., T, 1) (scalar family: a[..., None]); x (..., T, P),
B, C (..., T, N), S and H_prev (..., J, N, P); leading axes broadcast. A short last chunk is
padded with x = 0, a = 1, B = C = 0 (a padded step keeps the state and outputs 0).
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ..validation import check_chunk_size, check_chunks, check_step
from ._common import _full
from .masks import one_ss_mask, prefix_products, suffix_products


def _to_chunks(arr: np.ndarray, Q: int, fill: float) -> np.ndarray:
    """(..., T, K) -> (..., J, Q, K): pad the time axis to J Q steps with ``fill``, split it."""
    T = arr.shape[-2]
    J = -(-T // Q)
    pad = [(0, 0)] * (arr.ndim - 2) + [(0, J * Q - T), (0, 0)]
    return np.pad(arr, pad, constant_values=fill).reshape(*arr.shape[:-2], J, Q, arr.shape[-1])


def _from_chunks(arr: np.ndarray, T: int) -> np.ndarray:
    """(..., J, Q, P) -> (..., T, P): merge the chunk axes and drop the padded steps."""
    J, Q = arr.shape[-3], arr.shape[-2]
    return arr.reshape(*arr.shape[:-3], J * Q, arr.shape[-1])[..., :T, :]


def _checked(chunk_size, **given):
    """The validated arrays (one dtype, complex allowed), Q (at most T, at least 1), T."""
    v = check_step(allow_complex=True, **given)
    T = v.sizes.get("T", 0)
    return v, min(check_chunk_size(chunk_size), max(T, 1)), T


@keyword_only
def intra_chunk(x, a, B, C, *, chunk_size):
    """Step 1: attention inside each chunk from a zero state, Y_diag = (1SS(a_c) o C_c B_c^T) X_c
    with one mask per mode (one in all for the scalar family). Returns y_diag (..., T, P)."""
    v, Q, T = _checked(chunk_size, x=x, a=a, B=B, C=C)
    x, a, B, C = (v.arrays[k] for k in "x a B C".split())
    # the (Q, Q) masks of every chunk, one per mode
    check_chunks("intra_chunk", int(np.prod(v.batch, dtype=np.int64)) * v.sizes["m"], Q,
                 v.dtype, copies=3)
    xc, Bc, Cc = _to_chunks(x, Q, 0), _to_chunks(B, Q, 0), _to_chunks(C, Q, 0)
    ac = _to_chunks(a, Q, 1)                                # (..., J, Q, N | 1)
    # L_n[t, s] = a_{s+1, n} ... a_{t, n} (t >= s, same chunk)
    L = one_ss_mask(np.swapaxes(ac, -1, -2))                # (..., J, N | 1, Q, Q)
    # Y_diag[t] = sum_s (sum_n C[t, n] L_n[t, s] B[s, n]) x_s
    scores = np.einsum("...ctn,...cnts,...csn->...cts", Cc, L, Bc)
    return _from_chunks(np.einsum("...cts,...csp->...ctp", scores, xc), T)


@keyword_only
def chunk_states(x, a, B, *, chunk_size):
    """Step 2: each chunk's final state from a zero start, S_c = sum_{s in c} diag(gamma_s) B_s
    x_s^T (..., J, N, P), and its total decay abar_c = prod_{u in c} a_u (..., J, N | 1)."""
    v, Q, T = _checked(chunk_size, x=x, a=a, B=B)
    x, a, B = (v.arrays[k] for k in "x a B".split())
    xc, Bc, ac = _to_chunks(x, Q, 0), _to_chunks(B, Q, 0), _to_chunks(a, Q, 1)
    gamma = suffix_products(ac, axis=-2)                    # (..., J, Q, N | 1)
    # S_c = sum_s (gamma_s o B_s) x_s^T
    S = np.einsum("...csn,...csp->...cnp", gamma * Bc, xc)
    # abar_c = a_{b_c} ... a_{e_c}
    abar = np.prod(ac, axis=-2)
    return _full(S, (*v.batch, *S.shape[-3:])), _full(abar, (*v.batch, *abar.shape[-2:]))


@keyword_only
def state_passing(abar, S, *, initial_state=None):
    """Step 3: the scan across chunks, H_c = diag(abar_c) H_{c-1} + S_c, H_{-1} = initial_state
    (zeros if None). abar (..., J, N | 1), S (..., J, N, P). Returns H_prev (..., J, N, P),
    H_prev[c] = H_{c-1} the state entering chunk c, and the final state h = H_{J-1} (..., N, P).
    """
    v = check_step(allow_complex=True, abar=abar, S=S, initial_state=initial_state)
    abar, S = v.arrays["abar"], v.arrays["S"]
    N, P = v.sizes["N"], v.sizes["P"]
    H = np.zeros((*v.batch, N, P), dtype=v.dtype)
    if "initial_state" in v.arrays:
        H[...] = v.arrays["initial_state"]
    H_prev = np.empty((*v.batch, S.shape[-3], N, P), dtype=v.dtype)
    for c in range(S.shape[-3]):
        H_prev[..., c, :, :] = H
        # H_c = diag(abar_c) H_{c-1} + S_c
        H = abar[..., c, :, None] * H + S[..., c, :, :]
    return H_prev, H


@keyword_only
def chunk_output(a, C, H_prev, *, chunk_size):
    """Step 4: the output of the state entering each chunk, Y_off[t] = (delta_t o C_t)^T H_{c-1};
    H_prev[c] = H_{c-1} (..., J, N, P), J = ceil(T / chunk_size). Returns y_off (..., T, P)."""
    v, Q, T = _checked(chunk_size, a=a, C=C, H_prev=H_prev)
    a, C, H_prev = (v.arrays[k] for k in "a C H_prev".split())
    if v.sizes["J"] != -(-T // Q):
        raise ValueError(f"H_prev has shape {H_prev.shape}; expected (..., J, N, P) with "
                         f"J = ceil(T / chunk_size) = {-(-T // Q)} chunks (T = {T})")
    Cc, ac = _to_chunks(C, Q, 0), _to_chunks(a, Q, 1)
    delta = prefix_products(ac, axis=-2)                    # (..., J, Q, N | 1)
    # Y_off[t] = (delta_t o C_t)^T H_{c-1}
    y_off = np.einsum("...ctn,...cnp->...ctp", delta * Cc, H_prev)
    return _from_chunks(y_off, T)
