"""The chunked algorithm on the GPU, step by step, and scalar_chunked / diagonal_chunked.

For chunk c of Q steps (J = ceil(T / Q) chunks, the last may be short), per mode n:

    1. intra_chunk    Y_diag[t] = sum_{s in c, s <= t} (C_t . (delta_t / delta_s) B_s) x_s
    2. chunk_states   S_c = sum_{s in c} diag(gamma_s) B_s x_s^T,   abar_c = prod_{u in c} a_u
    3. state_passing  H_c = diag(abar_c) H_{c-1} + S_c,   H_prev[c] = H_{c-1}
    4. chunk_output   Y_off[t] = (delta_t o C_t)^T H_{c-1}

Steps 2 and 3 have a kernel each; steps 1 and 4 share one tiled output kernel per family
(``_tiles.py``). Shapes: x (..., T, P), a (..., T, N or 1), B, C (..., T, N); S, H_prev
(..., J, N, P), abar (..., J, N or 1).
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ._cuda import as_device_array, cuda, is_device_array, kernel, require_cuda
from ._device import ceil_div, operands, register_tile, specialized, split_block, split_lane
from ._launch import (Launch, empty_result, finish, get_tile, prepare, prepare_arrays,
                      zero_outputs)
from ._tiles import channel_width, output_launcher
from ..validation import check_chunk_size


def _build_chunk_states(TILE, DIAG, DT, WIDTH):
    """Step 2: chunk states from a zero start, and each chunk's decay::

        S[b, c, n, p] = sum_{s in chunk c} gamma[s, n] B[b, s, n] x[b, s, p]
        abar[b, c, n] = prod_{u in chunk c} a[b, u, n]

    Thread (ty, tx) owns mode n0 + ty, channels p0 + tx + w TILE (w < WIDTH); the block walks
    its chunk backwards in time tiles, run[n] = prod of a over the later tiles.
    """
    PITCH = TILE + 1
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def chunk_states(x, a, B, Q, idx, S, abar):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        _, T, P = x.shape
        N = B.shape[2]
        J = S.shape[1]
        n_pb = ceil_div(P, WIDE)
        pb, nt, bc = split_block(n_pb, ceil_div(N, TILE))
        p0 = pb * WIDE + tx
        n0 = nt * TILE
        c = bc % J
        b = bc // J
        ix, ia, iB, _ = operands(idx, b)
        a_s = cuda.shared.array((TILE, PITCH), DT)     # a[s, n] of the time tile
        bg_s = cuda.shared.array((TILE, PITCH), DT)    # B[s, n] gamma[s, n]
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x[s, p]
        run = cuda.shared.array(TILE, DT)              # prod of a over the later tiles
        acc = zeros()
        start = c * Q
        stop = min(start + Q, T)
        nn = n0 + tx                                   # the mode this thread loads
        na = nn if DIAG else 0
        if ty == 0:
            run[tx] = DT(1)
        for j in range((stop - start + TILE - 1) // TILE - 1, -1, -1):
            s = start + j * TILE + ty                  # the step this thread row loads
            ok = s < stop and nn < N
            a_s[ty, tx] = a[ia, s, na] if ok else DT(1)
            bg_s[ty, tx] = B[iB, s, nn] if ok else DT(0)
            load(x_s, x[ix], s, stop, p0, P)
            cuda.syncthreads()
            if ty == 0:
                # gamma[k, n] = run[n] prod_{k < u < TILE} a[u, n]   (suffix products)
                gamma = run[tx]
                for k in range(TILE - 1, -1, -1):
                    bg_s[k, tx] *= gamma
                    gamma *= a_s[k, tx]
                run[tx] = gamma
            cuda.syncthreads()
            # S[n, p] += sum_k (B o gamma)[k, n] x[k, p]
            accumulate(acc, bg_s[:, ty], x_s)
            cuda.syncthreads()
        if n0 + ty < N:
            store(S[b, c, n0 + ty], acc, p0, P)
        if ty == 0 and pb == 0 and nn < abar.shape[2]:   # one channel block writes
            abar[b, c, nn] = run[tx]

    return chunk_states


chunk_states_kernel = specialized(_build_chunk_states)


@kernel
def state_passing_kernel(S, abar, h0, has_h0, idx, H_prev, h_last):
    """Step 3: ``H_c = abar_c H_{c-1} + S_c`` from ``H_{-1} = h0`` (or 0), H_prev[b, c] = H_{c-1},
    h_last[b] = H_{J-1}; one thread per (b, n, p) lane, p fastest."""
    nb, J, N, P = S.shape
    b, n, na, p = split_lane(N, P, abar.shape[2] > 1)
    if b >= nb:
        return
    H = S.dtype.type(0)
    if has_h0:
        H = h0[idx[4, b], n, p]
    for c in range(J):
        H_prev[b, c, n, p] = H
        # H_c = abar_c H_{c-1} + S_c
        H = abar[b, c, na] * H + S[b, c, n, p]
    h_last[b, n, p] = H


def states_launcher(family: str, L: Launch, Q: int, tile: int):
    """``states(S, abar)``: step 2 on all chunks at once."""
    J = -(-L.T // Q)
    width = channel_width(L.P, tile)
    grid = L.nb * J * -(-L.N // tile) * -(-L.P // (tile * width))
    kernel_ = chunk_states_kernel(tile, family, L.dtype, width)

    def states(S, abar):
        kernel_[grid, (tile, tile)](L.x, L.a, L.B, Q, L.idx, S, abar)
    return states


def pass_states(S, abar, h0, has_h0, idx, H_prev, h):
    """Step 3: one thread per (sequence, mode, channel) lane."""
    lanes = S.shape[0] * S.shape[2] * S.shape[3]
    if lanes:
        threads = min(128, lanes)
        state_passing_kernel[-(-lanes // threads), threads](S, abar, h0, has_h0, idx, H_prev, h)


def plan(family: str, L: Launch, Q: int, tile: int, last=None):
    """``(run, y, h)``, workspaces allocated: ``run()`` launches steps 2, 3 and
    ``last(H_prev, y)`` (default: steps 1 + 4 in one launch), nothing else (what is timed)."""
    J = -(-L.T // Q)
    S, H_prev = (cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype) for _ in range(2))
    abar = cuda.device_array((L.nb, J, L.a.shape[2]), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    states = states_launcher(family, L, Q, tile)
    if last is None:
        output = output_launcher(family, L, Q, tile, intra=True)
        with_state = J > 1 or L.has_h0          # else every H_prev is zero

        def last(H_prev, y):
            output(L.x, L.B, H_prev, with_state, y)

    def run():
        states(S, abar)                                            # 2. chunk_states
        pass_states(S, abar, L.h0, L.has_h0, L.idx, H_prev, h)     # 3. state_passing
        last(H_prev, y)

    return run, y, h


def launch(family: str, values: tuple, chunk_size, make_plan):
    """Validate and upload (x, a, B, C, initial_state), run ``make_plan(L, tile)``, reshape."""
    require_cuda()
    L = prepare(family, *values, chunk_size=chunk_size)
    if L.nb == 0 or L.T == 0:
        return empty_result(values, L)
    run, y, h = make_plan(L, get_tile())
    run()
    return finish([y, h], L.batch, L.on_device)


def blocked(family, x, a, B, C, *, chunk_size, initial_state):
    """The chunked form on the device; ``chunk_size=None`` is the attention form (Q = T)."""
    return launch(family, (x, a, B, C, initial_state), chunk_size, lambda L, tile: plan(
        family, L, L.T if chunk_size is None else min(chunk_size, L.T), tile))


def _family(a) -> str:
    """The family of a step's decay: (..., T, 1) scalar, (..., T, N) diagonal."""
    shape = tuple(np.shape(a))
    if len(shape) < 2:
        raise ValueError(f"a has shape {tuple(shape)}; expected (..., T, N), or (..., T, 1) for "
                         f"the scalar family")
    return "scalar" if shape[-1] == 1 else "diagonal"


def _prepare_step(x, a, B, C, chunk_size):
    """``(Q, family, L)``: the inputs of steps 1 and 2 validated and uploaded, the scalar
    family's decay (..., T, 1) as the forms take it, (..., T)."""
    require_cuda()
    Q, family = check_chunk_size(chunk_size), _family(a)
    if family == "scalar" and is_device_array(a):
        dev = as_device_array(a)
        a = dev.reshape(*tuple(dev.shape)[:-1]) if dev.is_c_contiguous() else (
            dev.copy_to_host()[..., 0])
    elif family == "scalar":
        a = np.asarray(a)[..., 0]
    return Q, family, prepare(family, x, a, B, C, None)


def _identity(nb: int):
    """Operand rows when every input has all nb sequences: row b is b."""
    return cuda.to_device(np.ascontiguousarray(np.broadcast_to(np.arange(nb), (5, nb))))


@keyword_only
def intra_chunk(x, a, B, C, *, chunk_size):
    """Step 1: Y_diag[t] = sum_{s in chunk(t), s <= t} (C_t . (delta_t / delta_s) B_s) x_s.

    x (..., T, P), a (..., T, N) or (..., T, 1), B, C (..., T, N) -> (..., T, P).
    """
    Q, family, L = _prepare_step(x, a, B, C, chunk_size)
    if L.nb == 0 or L.T == 0:
        return zero_outputs([(*L.batch, L.T, L.P)], L.dtype, L.on_device)[0]
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    no_state = cuda.device_array((1, 1, 1, 1), dtype=L.dtype)        # not read
    output_launcher(family, L, min(Q, L.T), get_tile(), intra=True)(L.x, L.B, no_state, False, y)
    return finish([y], L.batch, L.on_device)[0]


@keyword_only
def chunk_states(x, a, B, *, chunk_size):
    """Step 2: S_c = sum_{s in c} diag(gamma_s) B_s x_s^T and abar_c = prod_{u in c} a_u.

    x (..., T, P), a (..., T, N or 1), B (..., T, N) -> S (..., J, N, P), abar (..., J, N or 1).
    """
    Q, family, L = _prepare_step(x, a, B, B, chunk_size)   # B stands in for C (not read)
    J, Na = -(-L.T // Q), (1 if family == "scalar" else L.N)
    if L.nb == 0 or L.T == 0:
        return zero_outputs([(*L.batch, J, L.N, L.P), (*L.batch, J, Na)], L.dtype,
                            L.on_device)
    Q = min(Q, L.T)
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    states_launcher(family, L, Q, get_tile())(S, abar)
    return finish([S, abar], L.batch, L.on_device)


@keyword_only
def state_passing(abar, S, *, initial_state=None):
    """Step 3: H_c = diag(abar_c) H_{c-1} + S_c from H_{-1} = initial_state (zeros if None).

    abar (..., J, N or 1), S (..., J, N, P), initial_state (..., N, P) -> H_prev (..., J, N, P)
    (H_prev[c] = H_{c-1}) and h = H_{J-1} (..., N, P).
    """
    require_cuda()
    A = prepare_arrays({"abar": abar, "S": S, "initial_state": initial_state})
    J, N, P = A.sizes["J"], A.sizes["N"], A.sizes["P"]
    if A.nb == 0:
        return zero_outputs([(*A.batch, J, N, P), (*A.batch, N, P)], A.dtype, A.on_device)
    has_h0 = initial_state is not None
    h0 = A.arrays["initial_state"] if has_h0 else cuda.to_device(np.zeros((1, 1, 1), A.dtype))
    H_prev = cuda.device_array((A.nb, J, N, P), dtype=A.dtype)
    h = cuda.device_array((A.nb, N, P), dtype=A.dtype)
    pass_states(A.arrays["S"], A.arrays["abar"], h0, has_h0, _identity(A.nb), H_prev, h)
    return finish([H_prev, h], A.batch, A.on_device)


@keyword_only
def chunk_output(a, C, H_prev, *, chunk_size):
    """Step 4: Y_off[t] = (delta_t o C_t)^T H_{c-1}, delta_t = prod_{b_c <= u <= t} a_u.

    a (..., T, N or 1), C (..., T, N), H_prev (..., J, N, P), J = ceil(T / Q) -> (..., T, P).
    """
    require_cuda()
    Q = check_chunk_size(chunk_size)
    family = _family(a)
    A = prepare_arrays({"a": a, "C": C, "H_prev": H_prev})
    T, N, P, J = A.sizes["T"], A.sizes["N"], A.sizes["P"], A.sizes["J"]
    if J != -(-T // Q):
        raise ValueError(f"H_prev has shape {tuple(np.shape(H_prev))}; expected (..., J, N, P) "
                         f"with J = ceil(T / chunk_size) = {-(-T // Q)} (T = {T} as in a)")
    if A.nb == 0 or T == 0:
        return zero_outputs([(*A.batch, T, P)], A.dtype, A.on_device)[0]
    L = Launch(None, A.arrays["a"], None, A.arrays["C"], None, False, _identity(A.nb), A.batch,
               A.nb, T, N, P, A.dtype, A.on_device)
    y = cuda.device_array((A.nb, T, P), dtype=A.dtype)
    # step 4 alone: the kernel reads neither x nor B (y and C stand in for their shapes)
    output_launcher(family, L, min(Q, T), get_tile(), intra=False)(y, L.C, A.arrays["H_prev"],
                                                                   True, y)
    return finish([y], A.batch, A.on_device)[0]


@keyword_only
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The chunked form on the GPU, y = Y_diag + Y_off and h = H_{J-1}: x (..., T, P),
    a (..., T), B, C (..., T, N), initial_state (..., N, P); any T, Q >= 1."""
    # None is the attention form's private value here: a caller's None is an error
    return blocked("scalar", x, a, B, C, chunk_size=check_chunk_size(chunk_size),
                   initial_state=initial_state)


@keyword_only
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """As :func:`scalar_chunked` with per-mode decays a (..., T, N)."""
    return blocked("diagonal", x, a, B, C, chunk_size=check_chunk_size(chunk_size),
                   initial_state=initial_state)
