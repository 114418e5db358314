"""The backward of the chunked form on the GPU: scalar_chunked_vjp and diagonal_chunked_vjp.

The forward's steps run backward from the cotangents dy and dh:

    chunk_links (every chunk at once): S_c, abar_c again, and chunk_output's pull-back
        dH_prev_c = sum_{t in c} delta_t C_t dy_t^T
    state_passing_both_ways (over J chunks): H_prev[c] = H_{c-1};
        dH_{J-1} = dh,  dH_{c-1} = abar_c dH_c + dH_prev_c,  dh0 = dH_{-1}
    intra_chunk, chunk_states, chunk_output backward: scan_backward's kernel on the chunks as
        sequences, from H_{c-1} with dH_c as the final state's cotangent: dx, da, dB, dC

The last chunk is padded with x = dy = 0, a = 1, B = C = 0. Host inputs only.
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ..vjp import empty
from ._backward import finish_modes, flatten_device_vjp, zero_gradients
from ..validation import check_chunk_size
from ._cuda import cuda
from ._device import specialized, split_lane
from ._launch import get_tile
from .scan_backward import CHECKPOINT, scan_backward_kernel


def _build_chunk_links(TILE, DIAG, DT):
    """chunk_states (step 2) again, with chunk_output's (step 4) pull-back onto H_prev.

    Per lane (bc, n, p) over the Q steps of chunk bc (na = n or 0)::

        S = 0; delta = 1; r = 0
        for t: S = a[bc, t, na] S + B[bc, t, n] x[bc, t, p]
               delta *= a[bc, t, na]; r += delta C[bc, t, n] dy[bc, t, p]
        S_out[bc, n, p] = S; dHp[bc, n, p] = r; abar[bc, na] = delta

    Mapping: a 1-D grid over nb J N P lanes. Shared: none.
    """
    def chunk_links(x, a, B, C, dy, S, dHp, abar):
        nbJ, Q, P = x.shape
        N = B.shape[2]
        bc, n, na, p = split_lane(N, P, DIAG)
        if bc >= nbJ:
            return
        s = DT(0)
        delta = DT(1)
        r = DT(0)
        for t in range(Q):
            av = a[bc, t, na]
            s = av * s + B[bc, t, n] * x[bc, t, p]
            delta *= av
            r += delta * C[bc, t, n] * dy[bc, t, p]
        S[bc, n, p] = s
        dHp[bc, n, p] = r
        if p == 0 and n == na:
            abar[bc, na] = delta

    return chunk_links


def _build_state_passing_both_ways(TILE, DIAG, DT):
    """state_passing (step 3) forward, then backward, per lane (b, n, p) over the J chunks::

        H = h0[b, n, p];  for c: H_prev[b J + c] = H;  H = abar_c H + S_c
        g = dh[b, n, p];  for c from the last: dH[b J + c] = g;  g = abar_c g + dHp_c
        dh0[b, n, p] = g
    """
    def state_passing_both_ways(S, dHp, abar, h0, dh, H_prev, dH, dh0):
        nb, N, P = h0.shape
        b, n, na, p = split_lane(N, P, DIAG)
        if b >= nb:
            return
        J = S.shape[0] // nb
        H = h0[b, n, p]
        for c in range(J):
            H_prev[b * J + c, n, p] = H
            H = abar[b * J + c, na] * H + S[b * J + c, n, p]
        g = dh[b, n, p]
        for c in range(J - 1, -1, -1):
            dH[b * J + c, n, p] = g
            g = abar[b * J + c, na] * g + dHp[b * J + c, n, p]
        dh0[b, n, p] = g

    return state_passing_both_ways


chunk_links_kernel = specialized(_build_chunk_links)
state_passing_both_ways_kernel = specialized(_build_state_passing_both_ways)


def _chunks(arr, J, Q, fill):
    """(nb, T, K) -> (nb J, Q, K), the last chunk padded with ``fill``."""
    nb, T, K = arr.shape
    out = np.full((nb, J * Q, K), fill, dtype=arr.dtype)
    out[:, :T] = arr
    return out.reshape(nb * J, Q, K)


def chunked_backward(family, x, a, B, C, dy, dh, initial_state, Q):
    fv, a3 = flatten_device_vjp(family, x, a, B, C, dy, dh, initial_state)   # a3 (nb, T, 1 | N)
    f = fv.f
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    Q = min(Q, f.T)
    J = -(-f.T // Q)
    xc, ac, Bc, Cc, dyc = (cuda.to_device(_chunks(arr, J, Q, fill)) for arr, fill in (
        (f.x, 0), (a3, 1), (f.B, 0), (f.C, 0), (fv.dy, 0)))
    nbJ, Na = f.nb * J, a3.shape[2]
    S, dHp, H_prev, dH = (cuda.device_array((nbJ, f.N, f.P), dtype=f.dtype) for _ in range(4))
    abar = cuda.device_array((nbJ, Na), dtype=f.dtype)
    dh0 = cuda.device_array((f.nb, f.N, f.P), dtype=f.dtype)
    tile = get_tile()
    threads = tile * tile
    lanes = nbJ * f.N * f.P
    # chunk_states again, and chunk_output backward onto H_prev: all chunks at once
    chunk_links_kernel(tile, family, f.dtype)[-(-lanes // threads), threads](
        xc, ac, Bc, Cc, dyc, S, dHp, abar)
    # state_passing forward (H_prev) and backward (dH_c, the cotangent of H_c; dh0)
    seq_lanes = f.nb * f.N * f.P
    state_passing_both_ways_kernel(tile, family, f.dtype)[-(-seq_lanes // threads), threads](
        S, dHp, abar, cuda.to_device(f.h0), cuda.to_device(np.array(fv.dh)), H_prev, dH, dh0)
    # intra_chunk, chunk_states and chunk_output backward: every chunk's scan VJP from H_{c-1}
    # with dH_c as its final state's cotangent
    ck = cuda.device_array((nbJ, -(-Q // CHECKPOINT), f.N, f.P), dtype=f.dtype)
    outs = zero_gradients(nbJ, Q, fv, Na)
    scan_backward_kernel(tile, family, f.dtype)[-(-lanes // threads), threads](
        xc, ac, Bc, Cc, dyc, H_prev, dH, ck, *outs)
    return finish_modes(fv, family, *(o.copy_to_host().reshape(f.nb, J * Q, -1)[:, :f.T]
                                      for o in outs), dh0.copy_to_host())


@keyword_only
def scalar_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """VJP of the scalar chunked form on the GPU (host arrays): the four steps backward."""
    return chunked_backward("scalar", x, a, B, C, dy, dh, initial_state,
                            check_chunk_size(chunk_size))


@keyword_only
def diagonal_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """As :func:`scalar_chunked_vjp` with a (..., T, N)."""
    return chunked_backward("diagonal", x, a, B, C, dy, dh, initial_state,
                            check_chunk_size(chunk_size))
