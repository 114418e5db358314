"""The chunked algorithm on the GPU, step by step, and scalar_chunked / diagonal_chunked.

For chunk c of Q steps (J = ceil(T / Q) chunks, the last may be short), per mode n:

    1. intra_chunk    Y_diag[t] = sum_{s in c, s <= t} (C_t . (delta_t / delta_s) B_s) x_s
    2. chunk_states   S_c = sum_{s in c} diag(gamma_s) B_s x_s^T,   abar_c = prod_{u in c} a_u
    3. state_passing  H_c = diag(abar_c) H_{c-1} + S_c,   H_prev[c] = H_{c-1}
    4. chunk_output   Y_off[t] = (delta_t o C_t)^T H_{c-1}

Kernels (tile, family and dtype compiled in by ``_device.specialized``): step 2 and step 3 have
one each; steps 1 and 4 share one tiled output kernel per family (INTRA compiled in, the state
term switched at run time), which the chunked form launches once for both. Blocks of (tile,
tile) threads, threadIdx.x along the contiguous axis, ``channel_width`` channel tiles per
thread. Shapes: x (..., T, P), a (..., T, N) or (..., T, 1) (scalar family), B, C (..., T, N);
S, H_prev (..., J, N, P), abar (..., J, N or 1). The attention form is one chunk (Q = T).
"""
from __future__ import annotations

import numpy as np

from .._keyword_only import keyword_only
from ._cuda import as_device_array, cuda, device, is_device_array, kernel, require_cuda, uint64
from ._device import (ONE, ZERO, ceil_div, operands, register_tile, specialized, split_block,
                      split_lane)
from ._launch import Launch, empty_result, finish, get_tile, prepare, prepare_arrays
from ..validation import check_chunk_size

#: At most this many channel tiles per output block (a register tile of 1 x MAX_WIDTH outputs).
MAX_WIDTH = 4


def channel_width(P: int, tile: int) -> int:
    """Channel tiles per output block: all of P when P <= MAX_WIDTH * tile (scores once)."""
    return max(1, min(MAX_WIDTH, -(-P // tile)))


def _build_chunk_states(TILE, DIAG, DT, WIDTH):
    """Step 2 (chunk_states): chunk states from a zero start, and each chunk's decay.

    Naive loop (chunk c covers s in [c Q, e_c], e_c = min(c Q + Q, T) - 1)::

        for b, c, n, p:
            S[b, c, n, p] = sum_{s in chunk c} gamma[s, n] B[b, s, n] x[b, s, p]
            # gamma[s, n] = prod_{s < u <= e_c} a[b, u, n]
        for b, c, n:
            abar[b, c, n] = prod_{u in chunk c} a[b, u, n]

    Mapping: block (TILE, TILE) threads; thread (ty, tx) owns the mode n0 + ty and a register
    tile of WIDTH channels p0 + tx + w TILE; grid.x = nb * J * n-tiles * channel blocks. The
    block walks its chunk backwards in time tiles of TILE steps from the chunk start and carries
    run[n] = product of a over the later tiles. Shared: a, B o
    gamma and x of one time tile; gamma from suffix products, one thread per mode (direct
    products: zero decays exact). Steps past the chunk end are padded with a = 1, B = x = 0.
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
    """Step 3 (state_passing): ``H_c = abar_c H_{c-1} + S_c`` from ``H_{-1} = h0``.

    Naive loop it computes (abar[b, c, 0] in the scalar family)::

        for b, n, p:
            H = h0[b, n, p] if has_h0 else 0
            for c in range(J):
                H_prev[b, c, n, p] = H                  # the state entering chunk c
                H = abar[b, c, n] * H + S[b, c, n, p]   # H_c = abar_c H_{c-1} + S_c
            h_last[b, n, p] = H                         # the final state

    Mapping: one thread per (b, n, p) lane, p fastest (coalesced), a 1-D grid; the state in a
    register; a fixed order, so the result is the same on every run. Shared: none.
    """
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


# ---------------------------------------------------------------------------------------------
# Steps 1 and 4: the tiled output kernels (one per family; the attention form is one chunk).

@device
def output_tile(T, P, Q, TILE, WIDE):
    """The output tile of this block: ``(b, p0, rt, r0, t, start0, start_t)``.

    Block (rest, rt, pb) of ``split_block`` covers batch b, rows r0 = rt TILE ... r0 + TILE - 1
    and channels pb WIDE ... ; thread (ty, tx) owns row t = r0 + ty from channel p0 = pb WIDE + tx
    on. start0 and start_t are the chunk starts of rows r0 and t (chunks of Q steps).
    """
    pb, rt, b = split_block(ceil_div(P, WIDE), ceil_div(T, TILE))
    r0 = rt * TILE
    t = r0 + cuda.threadIdx.y
    return b, pb * WIDE + cuda.threadIdx.x, rt, r0, t, (r0 // Q) * Q, (t // Q) * Q


def _build_scalar_output(TILE, DIAG, DT, WIDTH, INTRA):
    """Steps 1 (intra_chunk) and 4 (chunk_output), scalar family, in one kernel.

    Naive loop (chunk c(t) = t // Q starts at start(t) = c(t) Q; with Q >= T and
    H_prev[b, 0] = h0 it is the attention form)::

        for b, t, p:
            y[b, t, p] = sum_{s = start(t)}^{t} (prod_{s < u <= t} a[b, u]) (C[b, t] . B[b, s])
                                                x[b, s, p]                          # step 1
                       + delta[b, t] (C[b, t] . H_prev[b, c(t), :, p])              # step 4
            # delta[b, t] = prod_{start(t) <= u <= t} a[b, u]

    Step 1 runs when INTRA (compile time), step 4 when ``with_state`` (run time): the chunked
    form runs both, intra_chunk INTRA with ``with_state`` False, chunk_output INTRA False
    (then x and B are not read: the launcher passes y and C in their places).

    Mapping: block (TILE, TILE) threads; thread (ty, tx) owns the rows t = r0 + ty and the
    register tile of channels p0 + tx + w TILE (w < WIDTH), and in the score phase the score
    (t, s = c0 + tx). grid.x = nb * row tiles * channel blocks. The block visits the column
    tiles from its diagonal tile back to the chunk start: only tiles on or below the diagonal;
    no T x T array exists. Per column tile: scores G = C_I B_K^T (once for all its channels),
    the mask, then y += (L o G) X_K.

    The mask from shared prefix and suffix products (direct products): off the diagonal tile
    L[t, s] = delta_row[t] span gamma_col[s], with delta_row[t] = prod_{max(r0, start(t)) <= u
    <= t} a_u (delta_t within the row tile), gamma_col[s] = prod_{s < u <= c1} a_u (gamma_s
    within the column tile ending at c1), span = prod_{c1 < u < r0} a_u carried from one column
    tile to the next; on the diagonal tile prod_{s < u <= t} a_u (at most TILE - 1 factors).
    Step 4's factor is delta_t = delta_row[t] prod_{start(t) <= u < r0} a_u.
    Shared: C (t x n), B (s x n), masked scores (t x s), x (s x WIDTH TILE channels), a,
    delta_row, gamma_col.
    """
    PITCH = TILE + 1
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def scalar_output(x, a, B, C, H_prev, with_state, Q, idx, y):
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        _, T, P = x.shape
        N = B.shape[2]
        b, p0, rt, r0, t, start0, start_t = output_tile(T, P, Q, TILE, WIDE)
        ix, ia, iB, iC = operands(idx, b)
        c_s = cuda.shared.array((TILE, PITCH), DT)     # C of the row tile      (t x n)
        b_s = cuda.shared.array((TILE, PITCH), DT)     # B of the column tile   (s x n)
        m_s = cuda.shared.array((TILE, PITCH), DT)     # masked scores          (t x s)
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x of the column tile   (s x p)
        ar_s = cuda.shared.array(TILE, DT)             # a of the row tile
        dr_s = cuda.shared.array(TILE, DT)             # delta_row[t]
        ac_s = cuda.shared.array(TILE, DT)             # a of the column tile
        gc_s = cuda.shared.array(TILE, DT)             # gamma_col[s]
        acc = zeros()
        if ty == 0:
            ar_s[tx] = a[ia, r0 + tx, 0] if r0 + tx < T else DT(1)
        cuda.syncthreads()
        if ty == 0 and tx == 0:
            # delta_row[k] = prod_{max(r0, start(r0 + k)) <= u <= r0 + k} a_u   (prefix products)
            d = DT(1)
            for k in range(TILE):
                if (r0 + k) % Q == 0:
                    d = DT(1)
                d *= ar_s[k]
                dr_s[k] = d
        span = DT(1)                                   # prod_{c1 < u < r0} a_u
        if not INTRA:
            # step 4 alone: span = prod_{start0 <= u < r0} a_u, as the column loop leaves it
            for u in range(start0, r0):
                span *= a[ia, u, 0]
            cuda.syncthreads()
        if INTRA:                                      # step 1: the column tiles
            for kt in range(rt, start0 // TILE - 1, -1):
                c0 = kt * TILE
                s = c0 + tx                            # the key of this thread's score
                sl = c0 + ty                           # the step this thread row loads
                if ty == 0:
                    ac_s[tx] = a[ia, s, 0] if s < T else DT(1)
                load(x_s, x[ix], sl, T, p0, P)
                # scores C_t . B_s, over n-tiles
                dot = DT(0)
                for n0 in range(0, N, TILE):
                    nn = n0 + tx
                    c_s[ty, tx] = C[iC, t, nn] if t < T and nn < N else DT(0)
                    b_s[ty, tx] = B[iB, sl, nn] if sl < T and nn < N else DT(0)
                    cuda.syncthreads()
                    k = ZERO
                    while k < TILE:
                        dot += c_s[ty, k] * b_s[tx, k]
                        k += ONE
                    cuda.syncthreads()
                if ty == 0:
                    # gamma_col[k] = prod_{c0 + k < u <= c1} a_u   (suffix products)
                    g = DT(1)
                    for k in range(tx + 1, TILE):
                        g *= ac_s[k]
                    gc_s[tx] = g
                cuda.syncthreads()
                # L[t, s] = prod_{s < u <= t} a_u for start(t) <= s <= t, else 0
                L = DT(0)
                if t < T and s >= start_t and s <= t:
                    if kt == rt:
                        L = DT(1)
                        for u in range(s + 1, t + 1):
                            L *= ar_s[u - r0]
                    else:
                        L = dr_s[ty] * span * gc_s[tx]
                m_s[ty, tx] = L * dot
                cuda.syncthreads()
                # y_t += sum_s (L o C B^T)[t, s] x_s
                accumulate(acc, m_s[ty], x_s)
                if kt < rt:
                    # span *= prod_{max(c0, start0) <= u <= c1} a_u   (inside the chunk of start0)
                    k0 = max(c0, start0) - c0
                    span *= gc_s[k0] * ac_s[k0]
                cuda.syncthreads()
        if t < T:
            if with_state:
                # y_t += delta_t C_t^T H_{c(t)-1},  delta_t = prod_{start(t) <= u <= t} a_u
                delta = dr_s[ty] * (span if start_t < r0 else DT(1))
                c = t // Q
                for n in range(N):
                    cn = delta * C[iC, t, n]
                    for w in range(WIDTH):
                        p = p0 + w * TILE
                        if p < P:
                            acc[w] += cn * H_prev[b, c, n, p]
            store(y[b, t], acc, p0, P)

    return scalar_output


scalar_output_kernel = specialized(_build_scalar_output)


def _build_mode_factors(TILE, DIAG, DT):
    """The per-mode mask factors of the diagonal output kernel, once per (step, mode): delta
    and gamma restricted to each time tile [t0, t0 + TILE) (start(t) the start of t's chunk).

    Naive loop::

        for b, t, n:
            delta_tile[b, t, n] = prod_{max(t0(t), start(t)) <= u <= t} a[b, u, n]   # prefix
            gamma_tile[b, t, n] = prod_{t < u <= t0(t) + TILE - 1} a[b, u, n]        # suffix

    (a past T counts as 1.) Mapping: block (TILE, TILE) threads; thread (ty, tx) walks the
    TILE steps of time tile ``group * TILE + ty`` for the mode n0 + tx (coalesced over modes);
    grid.x = nb * tile groups * n-tiles. Direct products only. Shared: none.
    """

    def mode_factors(a, Q, idx, delta_tile, gamma_tile):
        _, T, N = a.shape
        n_tt = ceil_div(T, TILE)                       # time tiles, in groups of TILE
        nt, gt, b = split_block(ceil_div(N, TILE), ceil_div(n_tt, TILE))
        n = nt * TILE + cuda.threadIdx.x
        tt = gt * TILE + cuda.threadIdx.y
        if n >= N or tt >= n_tt:
            return
        ia = idx[1, b]
        t0 = tt * TILE
        d = DT(1)
        for t in range(t0, min(t0 + TILE, T)):
            if t % Q == 0:
                d = DT(1)
            d *= a[ia, t, n]
            delta_tile[b, t, n] = d
        g = DT(1)
        for t in range(min(t0 + TILE, T) - 1, t0 - 1, -1):
            gamma_tile[b, t, n] = g
            g *= a[ia, t, n]

    return mode_factors


mode_factors_kernel = specialized(_build_mode_factors)


def _build_diagonal_output(TILE, DIAG, DT, WIDTH, INTRA):
    """Steps 1 (intra_chunk) and 4 (chunk_output), diagonal family: the sum of N 1-SS heads
    inside the chunk, plus the entering state (with Q >= T it is the attention form).

    Naive loop (chunk c(t) = t // Q starts at start(t) = c(t) Q)::

        for b, t, p:
            y[b, t, p] = sum_n sum_{s = start(t)}^{t} C[b, t, n] (prod_{s < u <= t} a[b, u, n])
                                                       B[b, s, n] x[b, s, p]        # step 1
                       + sum_n C[b, t, n] delta[b, t, n] H_prev[b, c(t), n, p]      # step 4
            # delta[b, t, n] = prod_{start(t) <= u <= t} a[b, u, n]

    INTRA and ``with_state`` as in the scalar kernel.

    Mapping: as the scalar kernel (block (TILE, TILE), rows t = r0 + ty, a register tile of
    WIDTH channel tiles per thread, column tiles from the diagonal back to the chunk start).
    For each column tile the scores are summed over ALL modes first and applied to x once:
    off the diagonal tile scores[t, s] = sum_n (C[t, n] delta_tile[t, n] span[n]) (B[s, n]
    gamma_tile[s, n]) with the factors of :func:`_build_mode_factors` and span[n] =
    prod_{c1 < u < r0} a[u, n], carried across column tiles in the block's own row of the
    global workspace ``spans`` (N values, any N); on the diagonal tile each (t, s, n)
    multiplies its at most TILE - 1 factors directly. Direct products only: no ratio, no log.
    Step 4's factor is delta[t, n] = delta_tile[t, n] prod_{start(t) <= u < r0} a[u, n].
    Three phases, so that the off-diagonal mode loop is a tight loop: the diagonal tile, the
    column tiles below it, the entering state. Shared: a, C, B of the diagonal tile (or
    C delta_tile span and B gamma_tile of a column tile), the summed scores, x of the column tile.
    """
    PITCH = TILE + 1
    PAIR = 2 * TILE + 1                                # two mode tiles per step off the diagonal
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def diagonal_output(x, a, B, C, delta_tile, gamma_tile, H_prev, with_state, Q, idx, spans, y):
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        _, T, P = x.shape
        N = B.shape[2]
        b, p0, rt, r0, t, start0, start_t = output_tile(T, P, Q, TILE, WIDE)
        ix, ia, iB, iC = operands(idx, b)
        blk = cuda.blockIdx.x                          # this block's row of spans
        ar_s = cuda.shared.array((TILE, PITCH), DT)    # a of the diagonal tile   (u x n)
        cf_s = cuda.shared.array((TILE, PAIR), DT)     # C, or C delta_tile span   (t x n)
        bg_s = cuda.shared.array((TILE, PAIR), DT)     # B, or B gamma_tile        (s x n)
        m_s = cuda.shared.array((TILE, PITCH), DT)     # scores summed over modes  (t x s)
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x of the column tile      (s x p)
        acc = zeros()
        first = start0 // TILE                         # the column tile of the chunk start
        UN = uint64(N)
        UTILE = uint64(TILE)
        UPAIR = uint64(2 * TILE)
        utx = uint64(tx)
        C_t = C[iC, min(t, T - 1)]                     # row t of C and delta_tile
        delta_t = delta_tile[b, min(t, T - 1)]
        span_row = spans[blk]
        row_ok = t < T
        if INTRA:                                      # step 1: the column tiles
            for kt in range(rt, first - 1, -1):
                c0 = kt * TILE
                s = c0 + tx                            # the key of this thread's score
                sl = c0 + ty                           # the step this thread row loads
                load(x_s, x[ix], sl, T, p0, P)
                score = DT(0)                          # scores[t, s], summed over all modes
                if kt == rt:
                    for n0 in range(0, N, TILE):
                        nn = n0 + tx                   # the mode this thread loads
                        okr = t < T and nn < N
                        ar_s[ty, tx] = a[ia, t, nn] if okr else DT(1)
                        cf_s[ty, tx] = C[iC, t, nn] if okr else DT(0)
                        bg_s[ty, tx] = B[iB, sl, nn] if sl < T and nn < N else DT(0)
                        if ty == 0:
                            spans[blk, nn] = DT(1)
                        cuda.syncthreads()
                        # scores[t, s] += sum_n C[t, n] (prod_{s < u <= t} a[u, n]) B[s, n]
                        if t < T and s >= start_t and s <= t:
                            for k in range(TILE):
                                m = cf_s[ty, k] * bg_s[tx, k]
                                for u in range(s + 1, t + 1):
                                    m *= ar_s[u - r0, k]
                                score += m
                        cuda.syncthreads()
                else:
                    # rows of this thread's steps: one base address each, unsigned mode index
                    B_s = B[iB, min(sl, T - 1)]
                    gamma_s = gamma_tile[b, min(sl, T - 1)]
                    u0 = max(c0, start0)
                    gamma_u = gamma_tile[b, u0]
                    a_u = a[ia, u0]
                    nn = utx
                    while nn < UN + utx:   # two mode tiles per step: modes nn, nn + TILE
                        # span[n] = prod_{c1 < u < r0} a[u, n]   (spans: whole mode pairs)
                        j = ZERO
                        while j < 2:
                            n = nn + j * UTILE
                            ok = n < UN
                            sp = span_row[n]
                            cf_s[ty, j * UTILE + utx] = (C_t[n] * delta_t[n] * sp
                                                         if ok and row_ok else DT(0))
                            bg_s[ty, j * UTILE + utx] = (B_s[n] * gamma_s[n]
                                                         if ok and sl < T else DT(0))
                            j += ONE
                        cuda.syncthreads()
                        if ty == 0:                    # after every thread has read span[n]
                            j = ZERO
                            while j < 2:
                                n = nn + j * UTILE
                                if n < UN:
                                    # span[n] *= prod_{max(c0, start0) <= u <= c1} a[u, n]
                                    span_row[n] = span_row[n] * gamma_u[n] * a_u[n]
                                j += ONE
                        # scores[t, s] += sum_n (C delta_tile span)[t, n] (B gamma_tile)[s, n]
                        k = ZERO
                        while k < 2 * TILE:            # unsigned counters: see _device
                            score += cf_s[ty, k] * bg_s[tx, k]
                            k += ONE
                        cuda.syncthreads()
                        nn += UPAIR
                m_s[ty, tx] = score if t < T and s >= start_t else DT(0)
                cuda.syncthreads()
                # y_t += sum_s scores[t, s] x_s
                accumulate(acc, m_s[ty], x_s)
                cuda.syncthreads()
        if not INTRA:
            # step 4 alone: spans[blk, n] = prod_{start0 <= u < r0} a[u, n], as the column loop
            # leaves it: the product of delta_tile at the last step of each tile in between
            if ty == 0:
                for n in range(tx, N, TILE):
                    sp = DT(1)
                    for kt in range(first, rt):
                        sp *= delta_tile[b, kt * TILE + TILE - 1, n]
                    spans[blk, n] = sp
            cuda.syncthreads()
        if with_state:
            c = t // Q
            for n0 in range(0, N, TILE):
                nn = n0 + tx
                # delta[t, n] = delta_tile[t, n] prod_{start(t) <= u < r0} a[u, n]
                if t < T and nn < N:
                    cf_s[ty, tx] = C[iC, t, nn] * delta_tile[b, t, nn] * (
                        spans[blk, nn] if start_t < r0 else DT(1))
                cuda.syncthreads()
                if t < T:
                    # y_t += sum_n C[t, n] delta[t, n] H_{c(t)-1}[n, p]
                    first_n = uint64(n0)
                    k = ZERO
                    while k < TILE:
                        n = first_n + k
                        if n < UN:
                            cd = cf_s[ty, k]
                            w = ZERO
                            while w < WIDTH:
                                p = p0 + w * TILE
                                if p < P:
                                    acc[w] += cd * H_prev[b, c, n, p]
                                w += ONE
                        k += ONE
                cuda.syncthreads()
        if t < T:
            store(y[b, t], acc, p0, P)

    return diagonal_output


diagonal_output_kernel = specialized(_build_diagonal_output)


# ---------------------------------------------------------------------------------------------
# Host side: the launches of each step, the four public steps, and their composition.

def output_launcher(family: str, L: Launch, Q: int, tile: int, intra: bool):
    """Allocate the output kernel's workspaces; return ``out(x, B, H_prev, with_state, y)``,
    which launches step 1 (if ``intra``) and step 4 (if ``with_state``) into y (nb, T, P)."""
    width = channel_width(L.P, tile)
    n_rt = -(-L.T // tile)
    n_out = L.nb * n_rt * -(-L.P // (tile * width))   # row tiles x channel blocks of width tiles
    if family == "scalar":
        output = scalar_output_kernel(tile, family, L.dtype, width, intra)

        def out(x, B, H_prev, with_state, y):
            output[n_out, (tile, tile)](x, L.a, B, L.C, H_prev, with_state, Q, L.idx, y)
        return out
    output = diagonal_output_kernel(tile, family, L.dtype, width, intra)
    factors = mode_factors_kernel(tile, family, L.dtype)
    n_factor = L.nb * -(-n_rt // tile) * -(-L.N // tile)
    spans = cuda.device_array((n_out, -(-L.N // (2 * tile)) * 2 * tile), dtype=L.dtype)
    delta_tile = cuda.device_array((L.nb, L.T, L.N), dtype=L.dtype)
    gamma_tile = cuda.device_array((L.nb, L.T, L.N), dtype=L.dtype)

    def out(x, B, H_prev, with_state, y):
        # delta and gamma within each time tile (the masks' per-mode factors)
        factors[n_factor, (tile, tile)](L.a, Q, L.idx, delta_tile, gamma_tile)
        output[n_out, (tile, tile)](x, L.a, B, L.C, delta_tile, gamma_tile, H_prev, with_state,
                                    Q, L.idx, spans, y)
    return out


def states_launcher(family: str, L: Launch, Q: int, tile: int):
    """Return ``states(S, abar)``, the launch of step 2 on all chunks at once."""
    J = -(-L.T // Q)
    width = channel_width(L.P, tile)
    grid = L.nb * J * -(-L.N // tile) * -(-L.P // (tile * width))
    kernel_ = chunk_states_kernel(tile, family, L.dtype, width)

    def states(S, abar):
        kernel_[grid, (tile, tile)](L.x, L.a, L.B, Q, L.idx, S, abar)
    return states


def pass_states(S, abar, h0, has_h0, idx, H_prev, h):
    """Launch step 3: one thread per (sequence, mode, channel) lane."""
    lanes = S.shape[0] * S.shape[2] * S.shape[3]
    if lanes:
        threads = min(128, lanes)
        state_passing_kernel[-(-lanes // threads), threads](S, abar, h0, has_h0, idx, H_prev, h)


def plan(family: str, L: Launch, Q: int, tile: int):
    """Allocate the workspaces of the chunked form; return ``(run, y, h)``.

    ``run()`` launches the kernels only (nothing is allocated, validated or copied), so the
    benchmark can time it alone; y (nb, T, P) and h (nb, N, P) are filled by each ``run()``.
    """
    J = -(-L.T // Q)
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, L.a.shape[2]), dtype=L.dtype)
    H_prev = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    states = states_launcher(family, L, Q, tile)
    output = output_launcher(family, L, Q, tile, intra=True)
    with_state = J > 1 or L.has_h0          # else every H_prev is zero

    def run():
        states(S, abar)                                            # 2. chunk_states
        pass_states(S, abar, L.h0, L.has_h0, L.idx, H_prev, h)     # 3. state_passing
        output(L.x, L.B, H_prev, with_state, y)                    # 1 + 4 in one launch

    return run, y, h


def blocked(family, x, a, B, C, *, chunk_size, initial_state):
    """The chunked form on the device; ``chunk_size=None`` is the attention form (Q = T)."""
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = prepare(family, *values, chunk_size=chunk_size)
    if L.nb == 0 or L.T == 0:
        return empty_result(values, L)
    # one chunk covers everything when Q >= T (and in the attention form)
    Q = L.T if chunk_size is None else min(check_chunk_size(chunk_size), L.T)
    run, y, h = plan(family, L, Q, get_tile())
    run()
    return finish(L, y, h)


def _family(a) -> str:
    """The family of a step's decay: (..., T, 1) scalar, (..., T, N) diagonal."""
    shape = tuple(np.shape(a))
    if len(shape) < 2:
        raise ValueError(f"a has shape {tuple(shape)}; expected (..., T, N), or (..., T, 1) for "
                         f"the scalar family")
    return "scalar" if shape[-1] == 1 else "diagonal"


def _form_decay(family: str, a):
    """The decay as the forms take it: (..., T, 1) -> (..., T) for the scalar family."""
    if family == "diagonal":
        return a
    if is_device_array(a):
        dev = as_device_array(a)
        if dev.is_c_contiguous():
            return dev.reshape(*tuple(dev.shape)[:-1])
        return dev.copy_to_host()[..., 0]
    return np.asarray(a)[..., 0]


def _identity(nb: int):
    """The operand rows of the kernels when every input has all nb sequences: row b is b."""
    return cuda.to_device(np.ascontiguousarray(np.broadcast_to(np.arange(nb), (5, nb))))


def _out(arrays: list, batch: tuple, on_device: bool):
    """Flat (nb, ...) device results -> (*batch, ...), host arrays unless the inputs were not."""
    out = [arr.reshape(*batch, *arr.shape[1:]) for arr in arrays]
    return out if on_device else [arr.copy_to_host() for arr in out]


def _zeros(shapes: list, dtype, on_device: bool):
    out = [np.zeros(shape, dtype=dtype) for shape in shapes]
    return [cuda.to_device(arr) for arr in out] if on_device else out


@keyword_only
def intra_chunk(x, a, B, C, *, chunk_size):
    """Step 1: Y_diag[t] = sum_{s in chunk(t), s <= t} (C_t . (delta_t / delta_s) B_s) x_s.

    Per chunk (1SS(a_c) o C_c B_c^T) X_c (mode by mode for the diagonal family), the masks from
    direct products. x (..., T, P), a (..., T, N) or (..., T, 1), B, C (..., T, N) -> (..., T, P).
    """
    require_cuda()
    Q = check_chunk_size(chunk_size)
    family = _family(a)
    L = prepare(family, x, _form_decay(family, a), B, C, None)
    if L.nb == 0 or L.T == 0:
        return _zeros([(*L.batch, L.T, L.P)], L.dtype, L.on_device)[0]
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    no_state = cuda.device_array((1, 1, 1, 1), dtype=L.dtype)        # not read
    output_launcher(family, L, min(Q, L.T), get_tile(), intra=True)(L.x, L.B, no_state, False, y)
    return _out([y], L.batch, L.on_device)[0]


@keyword_only
def chunk_states(x, a, B, *, chunk_size):
    """Step 2: S_c = sum_{s in c} diag(gamma_s) B_s x_s^T and abar_c = prod_{u in c} a_u.

    x (..., T, P), a (..., T, N) or (..., T, 1), B (..., T, N) -> S (..., J, N, P),
    abar (..., J, N) or (..., J, 1).
    """
    require_cuda()
    Q = check_chunk_size(chunk_size)
    family = _family(a)
    L = prepare(family, x, _form_decay(family, a), B, B, None)   # B stands in for C (not read)
    J, Na = -(-L.T // Q), (1 if family == "scalar" else L.N)
    if L.nb == 0 or L.T == 0:
        return tuple(_zeros([(*L.batch, J, L.N, L.P), (*L.batch, J, Na)], L.dtype, L.on_device))
    Q = min(Q, L.T)
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    states_launcher(family, L, Q, get_tile())(S, abar)
    return tuple(_out([S, abar], L.batch, L.on_device))


@keyword_only
def state_passing(abar, S, *, initial_state=None):
    """Step 3: H_c = diag(abar_c) H_{c-1} + S_c from H_{-1} = initial_state (zeros if None).

    abar (..., J, N) or (..., J, 1), S (..., J, N, P), initial_state (..., N, P) ->
    H_prev (..., J, N, P) with H_prev[c] = H_{c-1}, and the final state h = H_{J-1} (..., N, P).
    """
    require_cuda()
    A = prepare_arrays({"abar": abar, "S": S, "initial_state": initial_state})
    J, N, P = A.sizes["J"], A.sizes["N"], A.sizes["P"]
    if A.nb == 0:
        return tuple(_zeros([(*A.batch, J, N, P), (*A.batch, N, P)], A.dtype, A.on_device))
    has_h0 = initial_state is not None
    h0 = A.arrays["initial_state"] if has_h0 else cuda.to_device(np.zeros((1, 1, 1), A.dtype))
    H_prev = cuda.device_array((A.nb, J, N, P), dtype=A.dtype)
    h = cuda.device_array((A.nb, N, P), dtype=A.dtype)
    pass_states(A.arrays["S"], A.arrays["abar"], h0, has_h0, _identity(A.nb), H_prev, h)
    return tuple(_out([H_prev, h], A.batch, A.on_device))


@keyword_only
def chunk_output(a, C, H_prev, *, chunk_size):
    """Step 4: Y_off[t] = (delta_t o C_t)^T H_{c-1}, delta_t = prod_{b_c <= u <= t} a_u.

    a (..., T, N) or (..., T, 1), C (..., T, N), H_prev (..., J, N, P) with J = ceil(T / Q)
    -> (..., T, P).
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
        return _zeros([(*A.batch, T, P)], A.dtype, A.on_device)[0]
    L = Launch(None, A.arrays["a"], None, A.arrays["C"], None, False, _identity(A.nb), A.batch,
               A.nb, T, N, P, A.dtype, A.on_device)
    y = cuda.device_array((A.nb, T, P), dtype=A.dtype)
    # step 4 alone: the kernel reads neither x nor B (y and C stand in for their shapes)
    output_launcher(family, L, min(Q, T), get_tile(), intra=False)(y, L.C, A.arrays["H_prev"],
                                                                   True, y)
    return _out([y], A.batch, A.on_device)[0]


@keyword_only
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The chunked form on the GPU: steps 2 and 3, then 1 + 4 in one launch.

    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); any T and Q >= 1.
    Returns y = Y_diag + Y_off (..., T, P) and the final state h = H_{J-1} (..., N, P).
    """
    # None is the attention form's private value here: a caller's None is an error
    return blocked("scalar", x, a, B, C, chunk_size=check_chunk_size(chunk_size),
                   initial_state=initial_state)


@keyword_only
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """As :func:`scalar_chunked` with per-mode decays a (..., T, N): delta, gamma and abar per
    mode, the sum of N heads inside each chunk."""
    return blocked("diagonal", x, a, B, C, chunk_size=check_chunk_size(chunk_size),
                   initial_state=initial_state)
