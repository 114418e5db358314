"""Steps 1 and 4 on the GPU: the tiled output kernels, one per family, launched once for both.

    Y[t] = sum_{s in c(t), s <= t} (C_t . (delta_t / delta_s) B_s) x_s + (delta_t o C_t)^T H_{c-1}

A block owns TILE rows and WIDTH channel tiles of y; it walks the column tiles from its diagonal
tile back to the chunk start (scores C B^T, the mask, y += (L o G) X), then adds the entering
state. The attention form is one chunk (Q = T). x (nb, T, P), H_prev (nb, J, N, P) -> y (nb, T, P).
"""
from __future__ import annotations

from ._cuda import cuda, device, uint64
from ._device import ONE, ZERO, ceil_div, operands, register_tile, specialized, split_block
from ._launch import Launch

MAX_WIDTH = 4         # at most this many channel tiles per output block (1 x MAX_WIDTH registers)


def channel_width(P: int, tile: int) -> int:
    """Channel tiles per output block: all of P when P <= MAX_WIDTH * tile (scores once)."""
    return max(1, min(MAX_WIDTH, -(-P // tile)))


@device
def output_tile(T, P, Q, TILE, WIDE):
    """``(b, p0, rt, r0, t, start0, start_t)``: batch b, row tile rt from row r0, this thread's
    row t = r0 + ty and first channel p0; start0, start_t: the chunk starts of rows r0 and t."""
    pb, rt, b = split_block(ceil_div(P, WIDE), ceil_div(T, TILE))
    r0 = rt * TILE
    t = r0 + cuda.threadIdx.y
    return b, pb * WIDE + cuda.threadIdx.x, rt, r0, t, (r0 // Q) * Q, (t // Q) * Q


def _build_scalar_output(TILE, DIAG, DT, WIDTH, INTRA):
    """Steps 1 (if INTRA, at compile time) and 4 (if ``with_state``), scalar family; the
    attention form is Q >= T, H_prev[b, 0] = h0. Naive loop (chunk c(t) starts at start(t))::

        for b, t, p:
            y[b, t, p] = sum_{s = start(t)}^{t} (prod_{s < u <= t} a[b, u]) (C[b, t] . B[b, s])
                                                x[b, s, p]                          # step 1
                       + delta[b, t] (C[b, t] . H_prev[b, c(t), :, p])              # step 4

    Thread (ty, tx) owns row r0 + ty, channels p0 + tx + w TILE (w < WIDTH). Off the diagonal
    tile L[t, s] = delta_row[t] span gamma_col[s] (span carried across column tiles); on it the
    direct product. Without INTRA, y and C stand in for x and B (not read).
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
    """The diagonal kernel's mask factors within time tile [t0, t0 + TILE), one thread per
    (time tile, mode)::

        delta_tile[b, t, n] = prod_{max(t0(t), start(t)) <= u <= t} a[b, u, n]
        gamma_tile[b, t, n] = prod_{t < u <= t0(t) + TILE - 1} a[b, u, n]
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
    """Steps 1 and 4, diagonal family (INTRA, ``with_state`` as in the scalar kernel)::

        for b, t, p:
            y[b, t, p] = sum_n sum_{s = start(t)}^{t} C[b, t, n] (prod_{s < u <= t} a[b, u, n])
                                                       B[b, s, n] x[b, s, p]        # step 1
                       + sum_n C[b, t, n] delta[b, t, n] H_prev[b, c(t), n, p]      # step 4

    Mapping as the scalar kernel, scores summed over the modes first: off the diagonal
    scores[t, s] = sum_n (C delta_tile span)[t, n] (B gamma_tile)[s, n] (span[n] in the block's
    row of ``spans``); on it the direct products.
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
                    B_s = B[iB, min(sl, T - 1)]              # rows: one base address each
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
            # step 4 alone: spans[blk, n] = prod_{start0 <= u < r0} a[u, n] (delta_tile products)
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


def output_launcher(family: str, L: Launch, Q: int, tile: int, intra: bool):
    """``out(x, B, H_prev, with_state, y)``: step 1 (if ``intra``) and step 4 (if ``with_state``)
    into y (nb, T, P), its workspaces allocated once."""
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
