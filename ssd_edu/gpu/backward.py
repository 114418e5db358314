"""Every CUDA VJP, one per form (``ssd_edu.VJPS["cuda.{family}.{form}"]``; host arrays in).

scan: the reverse-time scan, G_t = d loss / d h_t,

    G_t = a_{t+1} o G_{t+1} + C_t dy_t^T     (G_{T-1} = C_{T-1} dy_{T-1}^T + dh)
    dx_t = G_t^T B_t,  dB_t = G_t x_t,  dC_t = h_t dy_t,  da_t = sum_p G_t o h_{t-1},
    dh_{-1} = a_0 o G_0

one thread per (b, n, p) lane, states recomputed from checkpoints. attention: per (b, u, n, p)
entry, G_u and h_{u-1} as masked sums. chunked: the steps backward (chunk_links,
state_passing_both_ways, then the scan's kernel per chunk from H_{c-1} with dH_c as its final
cotangent). Sums over lanes are ``cuda.atomic.add`` (last-bit differences between runs).
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ..validation import check_chunk_size
from ..vjp import empty, finish, flatten_vjp
from ._cuda import cuda, require_cuda
from ._device import specialized, split_lane
from ._launch import get_tile


def _on_lanes(factory, family: str, dtype, lanes: int, *args):
    """Launch ``factory``'s kernel on a 1-D grid of ``lanes`` threads, blocks of tile**2."""
    tile = get_tile()
    factory(tile, family, dtype)[-(-lanes // tile**2), tile**2](*args)


def _flatten(family: str, *args):
    """``(fv, fv.f, a3)``: the flattened VJP arguments, the decays a3 (nb, T, 1 | N)."""
    require_cuda()
    fv = flatten_vjp(family, *args)
    return fv, fv.f, (fv.f.a[..., None] if family == "scalar" else fv.f.a)


def _zero_gradients(rows: int, steps: int, f, Na: int) -> list:
    """Device zeros for dx, da, dB, dC: (rows, steps, P | Na | N | N)."""
    return [cuda.to_device(np.zeros((rows, steps, K), dtype=f.dtype)) for K in (f.P, Na, f.N, f.N)]


def _finish(fv, family: str, dx, da, dB, dC, dh0):
    """Host gradients of the nb sequences -> Grads; the scalar family's da loses its mode axis."""
    return finish(fv, dx, da[..., 0] if family == "scalar" else da, dB, dC, dh0)


CHECKPOINT = 16                          # steps between stored states (+ 1: the local array)


def _build_scan_backward(TILE, DIAG, DT):
    """The reverse-time scan per lane (b, n, p) of a 1-D grid (p fastest), na = n (diagonal)
    or 0: states stored every CHECKPOINT steps in ck, recomputed chunk by chunk in local memory."""
    Q = CHECKPOINT
    STATES = CHECKPOINT + 1                      # a closure constant: the local array's size

    def body(x, a, B, C, dy, h0, g, ck, dx, da, dB, dC):
        nb, T, P = x.shape
        N = B.shape[2]
        b, n, na, p = split_lane(N, P, DIAG)
        if b >= nb:
            return
        J = (T + Q - 1) // Q
        # forward: h_t = a_t h_{t-1} + B_t x_t, keeping the state entering each chunk
        h = h0[b, n, p]
        for t in range(T):
            if t % Q == 0:
                ck[b, t // Q, n, p] = h
            h = a[b, t, na] * h + B[b, t, n] * x[b, t, p]
        hc = cuda.local.array(STATES, DT)         # hc[i] = h_{t0+i-1}
        gv = g[b, n, p]                          # a_{t+1} G_{t+1}; dh at t = T-1
        for c in range(J - 1, -1, -1):
            t0 = c * Q
            q = min(Q, T - t0)
            hc[0] = ck[b, c, n, p]
            for i in range(q):
                hc[i + 1] = a[b, t0 + i, na] * hc[i] + B[b, t0 + i, n] * x[b, t0 + i, p]
            for i in range(q - 1, -1, -1):
                t = t0 + i
                # G_t = a_{t+1} G_{t+1} + C_t dy_t^T
                G = gv + C[b, t, n] * dy[b, t, p]
                # dx_t = G_t^T B_t, dB_t = G_t x_t, dC_t = h_t dy_t, da_t = G_t o h_{t-1}
                cuda.atomic.add(dx, (b, t, p), G * B[b, t, n])
                cuda.atomic.add(dB, (b, t, n), G * x[b, t, p])
                cuda.atomic.add(dC, (b, t, n), hc[i + 1] * dy[b, t, p])
                cuda.atomic.add(da, (b, t, na), G * hc[i])
                gv = a[b, t, na] * G
        g[b, n, p] = gv                          # dh_{-1} = a_0 G_0

    return body


scan_backward_kernel = specialized(_build_scan_backward)


# The attention form: G_u and h_{u-1} as masked sums (L = 1SS(a)), then the scan's gradients

def _build_attention_backward(TILE, DIAG, DT):
    """Per entry (b, u, n, p) of a 1-D grid (p fastest), na = n (diagonal) or 0: G_u and
    h_{u-1} as masked sums, then the scan's gradients at u."""
    def body(x, a, B, C, dy, h0, dh, dx, da, dB, dC, dh0):
        nb, T, P = x.shape
        N = B.shape[2]
        bu, n, na, p = split_lane(N, P, DIAG)       # bu = b T + u
        if bu >= nb * T:
            return
        u = bu % T
        b = bu // T
        # G_u = sum_{t >= u} L[t, u] C_t dy_t^T + gamma_u dh   (L[t, u] = a_{u+1} ... a_t)
        mask = DT(1)
        G = DT(0)
        for t in range(u, T):
            if t > u:
                mask *= a[b, t, na]
            G += mask * C[b, t, n] * dy[b, t, p]
        G += mask * dh[b, n, p]
        # h_{u-1} = sum_{s < u} L[u-1, s] B_s x_s^T + delta_{u-1} h_{-1}
        mask = DT(1)
        hp = DT(0)
        for s in range(u - 1, -1, -1):
            hp += mask * B[b, s, n] * x[b, s, p]
            mask *= a[b, s, na]
        hp += mask * h0[b, n, p]
        # h_u = a_u h_{u-1} + B_u x_u^T
        h = a[b, u, na] * hp + B[b, u, n] * x[b, u, p]
        # dx_u = G_u^T B_u, dB_u = G_u x_u, dC_u = h_u dy_u, da_u = <G_u, h_{u-1}>
        cuda.atomic.add(dx, (b, u, p), G * B[b, u, n])
        cuda.atomic.add(dB, (b, u, n), G * x[b, u, p])
        cuda.atomic.add(dC, (b, u, n), h * dy[b, u, p])
        cuda.atomic.add(da, (b, u, na), G * hp)
        if u == 0:
            dh0[b, n, p] = a[b, 0, na] * G           # dh_{-1} = a_0 G_0

    return body


attention_backward_kernel = specialized(_build_attention_backward)


def _form_vjp(form, family, x, a, B, C, dy, dh, initial_state):
    """The scan's or the attention form's VJP: one kernel over lanes, then the sums back."""
    fv, f, a3 = _flatten(family, x, a, B, C, dy, dh, initial_state)
    if f.T == 0 or f.nb == 0:
        return empty(fv)
    dev = [cuda.to_device(np.ascontiguousarray(v)) for v in (f.x, a3, f.B, f.C, fv.dy, f.h0)]
    g = cuda.to_device(np.array(fv.dh))               # the scan's kernel writes dh_{-1} over it
    outs = _zero_gradients(f.nb, f.T, f, a3.shape[2])
    if form == "scan":
        ck = cuda.device_array((f.nb, -(-f.T // CHECKPOINT), f.N, f.P), dtype=f.dtype)
        _on_lanes(scan_backward_kernel, family, f.dtype, f.nb * f.N * f.P, *dev, g, ck, *outs)
        dh0 = g
    else:
        dh0 = cuda.device_array((f.nb, f.N, f.P), dtype=f.dtype)
        _on_lanes(attention_backward_kernel, family, f.dtype, f.nb * f.T * f.N * f.P, *dev, g,
                  *outs, dh0)
    return _finish(fv, family, *(o.copy_to_host() for o in outs), dh0.copy_to_host())


def _lane_vjp(form: str, family: str, doc: str):
    """``{family}_{form}_vjp(x, a, B, C, dy, dh=None, *, initial_state=None) -> Grads``."""
    def vjp(x, a, B, C, dy, dh=None, *, initial_state=None):
        return _form_vjp(form, family, x, a, B, C, dy, dh, initial_state)
    vjp.__name__ = vjp.__qualname__ = f"{family}_{form}_vjp"
    vjp.__doc__ = doc
    return keyword_only(vjp)


_SHAPES = "x, dy (..., T, P), a (..., T), B, C (..., T, N), dh, initial_state (..., N, P) -> Grads."
scalar_scan_vjp = _lane_vjp("scan", "scalar", "VJP of the scalar scan on the GPU (host arrays), "
                            "the reverse-time scan per lane:\n" + _SHAPES)
diagonal_scan_vjp = _lane_vjp("scan", "diagonal", "As :func:`scalar_scan_vjp` with a (..., T, N).")
scalar_attention_vjp = _lane_vjp("attention", "scalar", "VJP of the scalar attention form on the "
                                 "GPU (host arrays), the transposed-mask sums:\n" + _SHAPES)
diagonal_attention_vjp = _lane_vjp("attention", "diagonal",
                                   "As :func:`scalar_attention_vjp` with a (..., T, N).")


# The chunked form: its steps backward on chunks padded with x = dy = 0, a = 1, B = C = 0

def _build_chunk_links(TILE, DIAG, DT):
    """Per lane (bc, n, p) over chunk bc (na = n or 0): the chunk state S_c, abar_c, and step
    4's pull-back dHp_c = sum_{t in c} delta_t C_t dy_t^T."""
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
    """Per lane (b, n, p): H_c = abar_c H_{c-1} + S_c forward (H_prev), then
    dH_{c-1} = abar_c dH_c + dHp_c backward (dH; dh0 at the start)."""
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
    Q = check_chunk_size(Q)
    fv, f, a3 = _flatten(family, x, a, B, C, dy, dh, initial_state)
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
    lanes = nbJ * f.N * f.P
    # chunk_states again, and chunk_output backward onto H_prev: all chunks at once
    _on_lanes(chunk_links_kernel, family, f.dtype, lanes, xc, ac, Bc, Cc, dyc, S, dHp, abar)
    # state_passing forward (H_prev) and backward (dH_c, the cotangent of H_c; dh0)
    _on_lanes(state_passing_both_ways_kernel, family, f.dtype, f.nb * f.N * f.P, S, dHp, abar,
              cuda.to_device(f.h0), cuda.to_device(np.array(fv.dh)), H_prev, dH, dh0)
    # steps 1, 2 and 4 backward: every chunk's scan VJP from H_{c-1}, dH_c its final cotangent
    ck = cuda.device_array((nbJ, -(-Q // CHECKPOINT), f.N, f.P), dtype=f.dtype)
    outs = _zero_gradients(nbJ, Q, f, Na)
    _on_lanes(scan_backward_kernel, family, f.dtype, lanes, xc, ac, Bc, Cc, dyc, H_prev, dH, ck,
              *outs)
    return _finish(fv, family, *(o.copy_to_host().reshape(f.nb, J * Q, -1)[:, :f.T]
                                      for o in outs), dh0.copy_to_host())


@keyword_only
def scalar_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """VJP of the scalar chunked form on the GPU (host arrays): the four steps backward."""
    return chunked_backward("scalar", x, a, B, C, dy, dh, initial_state, chunk_size)


@keyword_only
def diagonal_chunked_vjp(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64):
    """As :func:`scalar_chunked_vjp` with a (..., T, N)."""
    return chunked_backward("diagonal", x, a, B, C, dy, dh, initial_state, chunk_size)
