"""Masked attention on the GPU: scalar_attention and diagonal_attention.

    y = (1SS(a) o C B^T) x + (delta_t C_t)^T h_{-1}                 (scalar family)
    y = sum_n (1SS(a[:, n]) o C[:, n] B[:, n]^T) x + ...            (diagonal family)

The kernels here are the tiled masked matmul over the tiles on or below the diagonal plus the
entering-state term, restricted to chunks: steps 1 and 4 of the block algorithm
(``chunked.py``). The attention form is that algorithm with a single chunk (Q = T): these
kernels with H_{-1} = h_{-1} as the entering state, and the final state from the chunk state
(step 2) passed on from h_{-1} (step 3). One set of kernels serves both forms, so they cannot
drift apart; no T x T array is stored.
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from ._cuda import cuda, device, uint64
from ._device import ONE, ZERO, ceil_div, operands, register_tile, specialized, split_block


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


def _build_scalar_output(TILE, DIAG, DT, WIDTH):
    """Steps 1 and 4, scalar family: the masked matmul inside the chunk plus the entering state.

    Naive loop (chunk c(t) = t // Q starts at start(t) = c(t) Q; with Q >= T and
    Hin[b, 0] = h0 it is the attention form)::

        for b, t, p:
            y[b, t, p] = sum_{s = start(t)}^{t} (prod_{s < u <= t} a[b, u]) (C[b, t] . B[b, s])
                                                x[b, s, p]
                       + (prod_{start(t) <= u <= t} a[b, u]) (C[b, t] . Hin[b, c(t), :, p])

    Mapping: block (TILE, TILE) threads; thread (ty, tx) owns the rows t = r0 + ty and the
    register tile of channels p0 + tx + w TILE (w < WIDTH), and in the score phase the score
    (t, s = c0 + tx). grid.x = nb * row tiles * channel blocks. The block visits the column
    tiles from its diagonal tile back to the chunk start: only tiles on or below the diagonal;
    no T x T array exists. Per column tile: scores G = C_I B_K^T (once for all its channels),
    the mask, then y += (L o G) X_K.

    The mask from shared prefix and suffix products (direct products): off the diagonal tile
    L[t, s] = f[t] span g[s], with f[t] = prod_{max(r0, start(t)) <= u <= t} a_u (row tile),
    g[s] = prod_{s < u <= c1} a_u (column tile ending at c1), span = prod_{c1 < u < r0} a_u
    carried from one column tile to the next; on the diagonal tile prod_{s < u <= t} a_u (at most
    TILE - 1 factors). The entering-state factor is delta_t = f[t] prod_{start(t) <= u < r0} a_u.
    Shared: C (t x n), B (s x n), masked scores (t x s), x (s x WIDTH TILE channels), a, f, g.
    """
    PITCH = TILE + 1
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def scalar_output(x, a, B, C, Hin, use_hin, Q, idx, y):
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
        f_s = cuda.shared.array(TILE, DT)              # f[t]
        ac_s = cuda.shared.array(TILE, DT)             # a of the column tile
        g_s = cuda.shared.array(TILE, DT)              # g[s]
        acc = zeros()
        if ty == 0:
            ar_s[tx] = a[ia, r0 + tx, 0] if r0 + tx < T else DT(1)
        cuda.syncthreads()
        if ty == 0 and tx == 0:
            # f[k] = prod_{max(r0, start(r0 + k)) <= u <= r0 + k} a_u   (prefix products)
            f = DT(1)
            for k in range(TILE):
                if (r0 + k) % Q == 0:
                    f = DT(1)
                f *= ar_s[k]
                f_s[k] = f
        span = DT(1)                                   # prod_{c1 < u < r0} a_u
        for kt in range(rt, start0 // TILE - 1, -1):
            c0 = kt * TILE
            s = c0 + tx                                # the key of this thread's score
            sl = c0 + ty                               # the step this thread row loads
            if ty == 0:
                ac_s[tx] = a[ia, s, 0] if s < T else DT(1)
            load(x_s, x[ix], sl, T, p0, P)
            # G[t, s] = C_t . B_s, over n-tiles
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
                # g[k] = prod_{c0 + k < u <= c1} a_u   (suffix products)
                g = DT(1)
                for k in range(tx + 1, TILE):
                    g *= ac_s[k]
                g_s[tx] = g
            cuda.syncthreads()
            # L[t, s] = prod_{s < u <= t} a_u for start(t) <= s <= t, else 0
            L = DT(0)
            if t < T and s >= start_t and s <= t:
                if kt == rt:
                    L = DT(1)
                    for u in range(s + 1, t + 1):
                        L *= ar_s[u - r0]
                else:
                    L = f_s[ty] * span * g_s[tx]
            m_s[ty, tx] = L * dot
            cuda.syncthreads()
            # y_t += sum_s (L o C B^T)[t, s] x_s
            accumulate(acc, m_s[ty], x_s)
            if kt < rt:
                # span *= prod_{max(c0, start0) <= u <= c1} a_u   (inside the chunk of start0)
                k0 = max(c0, start0) - c0
                span *= g_s[k0] * ac_s[k0]
            cuda.syncthreads()
        if t < T:
            if use_hin:
                # y_t += delta_t C_t^T H_{c(t)-1},  delta_t = prod_{start(t) <= u <= t} a_u
                delta = f_s[ty] * (span if start_t < r0 else DT(1))
                c = t // Q
                for n in range(N):
                    cn = delta * C[iC, t, n]
                    for w in range(WIDTH):
                        p = p0 + w * TILE
                        if p < P:
                            acc[w] += cn * Hin[b, c, n, p]
            store(y[b, t], acc, p0, P)

    return scalar_output


scalar_output_kernel = specialized(_build_scalar_output)


def _build_mode_factors(TILE, DIAG, DT):
    """The per-mode mask factors of the diagonal output kernel, once per (step, mode).

    Naive loop (time tiles [t0, t0 + TILE); start(t) the start of t's chunk)::

        for b, t, n:
            F[b, t, n] = prod_{max(t0(t), start(t)) <= u <= t} a[b, u, n]   # prefix in t's tile
            G[b, t, n] = prod_{t < u <= t0(t) + TILE - 1} a[b, u, n]        # suffix in t's tile

    (a past T counts as 1.) Mapping: block (TILE, TILE) threads; thread (ty, tx) walks the
    TILE steps of time tile ``group * TILE + ty`` for the mode n0 + tx (coalesced over modes);
    grid.x = nb * tile groups * n-tiles. Direct products only. Shared: none.
    """

    def mode_factors(a, Q, idx, F, G):
        _, T, N = a.shape
        n_tt = ceil_div(T, TILE)                       # time tiles, in groups of TILE
        nt, gt, b = split_block(ceil_div(N, TILE), ceil_div(n_tt, TILE))
        n = nt * TILE + cuda.threadIdx.x
        tt = gt * TILE + cuda.threadIdx.y
        if n >= N or tt >= n_tt:
            return
        ia = idx[1, b]
        t0 = tt * TILE
        f = DT(1)
        for t in range(t0, min(t0 + TILE, T)):
            if t % Q == 0:
                f = DT(1)
            f *= a[ia, t, n]
            F[b, t, n] = f
        g = DT(1)
        for t in range(min(t0 + TILE, T) - 1, t0 - 1, -1):
            G[b, t, n] = g
            g *= a[ia, t, n]

    return mode_factors


mode_factors_kernel = specialized(_build_mode_factors)


def _build_diagonal_output(TILE, DIAG, DT, WIDTH):
    """Steps 1 and 4, diagonal family: the sum of N 1-SS heads inside the chunk, plus the
    entering state (THEORY 3.2 and 4; with Q >= T it is the attention form).

    Naive loop (chunk c(t) = t // Q starts at start(t) = c(t) Q)::

        for b, t, p:
            y[b, t, p] = sum_n sum_{s = start(t)}^{t} C[b, t, n] (prod_{s < u <= t} a[b, u, n])
                                                       B[b, s, n] x[b, s, p]
                       + sum_n C[b, t, n] (prod_{start(t) <= u <= t} a[b, u, n]) Hin[b, c(t), n, p]

    Mapping: as the scalar kernel (block (TILE, TILE), rows t = r0 + ty, a register tile of
    WIDTH channel tiles per thread, column tiles from the diagonal back to the chunk start).
    For each column tile the scores are summed over ALL modes first and applied to x once:
    off the diagonal tile G[t, s] = sum_n (C[t, n] F[t, n] span[n]) (B[s, n] Gs[s, n]) with the
    factors F (prefix) and Gs (suffix) of :func:`_build_mode_factors` and span[n] =
    prod_{c1 < u < r0} a[u, n], carried across column tiles in the block's own row of the
    global workspace ``spans`` (N values, any N); on the diagonal tile each (t, s, n)
    multiplies its at most TILE - 1 factors directly. Direct products only: no ratio, no log.
    The entering-state factor is delta[t, n] = F[t, n] prod_{start(t) <= u < r0} a[u, n].
    Three phases, so that the off-diagonal mode loop is a tight loop: the diagonal tile, the
    column tiles below it, the entering state. Shared: a, C, B of the diagonal tile (or C F
    span and B Gs of a column tile), the summed scores, x of the column tile.
    """
    PITCH = TILE + 1
    PAIR = 2 * TILE + 1                                # two mode tiles per step off the diagonal
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def diagonal_output(x, a, B, C, F, Gs, Hin, use_hin, Q, idx, spans, y):
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        _, T, P = x.shape
        N = B.shape[2]
        b, p0, rt, r0, t, start0, start_t = output_tile(T, P, Q, TILE, WIDE)
        ix, ia, iB, iC = operands(idx, b)
        blk = cuda.blockIdx.x                          # this block's row of spans
        ar_s = cuda.shared.array((TILE, PITCH), DT)    # a of the diagonal tile   (u x n)
        cf_s = cuda.shared.array((TILE, PAIR), DT)     # C, or C F span            (t x n)
        bg_s = cuda.shared.array((TILE, PAIR), DT)     # B, or B Gs                (s x n)
        m_s = cuda.shared.array((TILE, PITCH), DT)     # scores summed over modes  (t x s)
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x of the column tile      (s x p)
        acc = zeros()
        first = start0 // TILE                         # the column tile of the chunk start
        UN = uint64(N)
        UTILE = uint64(TILE)
        UPAIR = uint64(2 * TILE)
        utx = uint64(tx)
        C_t = C[iC, min(t, T - 1)]                     # row t of C and F
        F_t = F[b, min(t, T - 1)]
        span_row = spans[blk]
        row_ok = t < T
        for kt in range(rt, first - 1, -1):
            c0 = kt * TILE
            s = c0 + tx                                # the key of this thread's score
            sl = c0 + ty                               # the step this thread row loads
            load(x_s, x[ix], sl, T, p0, P)
            g = DT(0)                                  # G[t, s], summed over all modes
            if kt == rt:
                for n0 in range(0, N, TILE):
                    nn = n0 + tx                       # the mode this thread loads
                    okr = t < T and nn < N
                    ar_s[ty, tx] = a[ia, t, nn] if okr else DT(1)
                    cf_s[ty, tx] = C[iC, t, nn] if okr else DT(0)
                    bg_s[ty, tx] = B[iB, sl, nn] if sl < T and nn < N else DT(0)
                    if ty == 0:
                        spans[blk, nn] = DT(1)
                    cuda.syncthreads()
                    # G[t, s] += sum_n C[t, n] (prod_{s < u <= t} a[u, n]) B[s, n]
                    if t < T and s >= start_t and s <= t:
                        for k in range(TILE):
                            m = cf_s[ty, k] * bg_s[tx, k]
                            for u in range(s + 1, t + 1):
                                m *= ar_s[u - r0, k]
                            g += m
                    cuda.syncthreads()
            else:
                # rows of this thread's steps: one base address each, unsigned mode index
                B_s = B[iB, min(sl, T - 1)]
                G_s = Gs[b, min(sl, T - 1)]
                u0 = max(c0, start0)
                G_u = Gs[b, u0]
                a_u = a[ia, u0]
                nn = utx
                while nn < UN + utx:                   # two mode tiles per step: modes nn, nn + TILE
                    # span[n] = prod_{c1 < u < r0} a[u, n]   (spans is padded to whole mode pairs)
                    j = ZERO
                    while j < 2:
                        n = nn + j * UTILE
                        ok = n < UN
                        sp = span_row[n]
                        cf_s[ty, j * UTILE + utx] = C_t[n] * F_t[n] * sp if ok and row_ok else DT(0)
                        bg_s[ty, j * UTILE + utx] = B_s[n] * G_s[n] if ok and sl < T else DT(0)
                        j += ONE
                    cuda.syncthreads()
                    if ty == 0:                        # after every thread has read span[n]
                        j = ZERO
                        while j < 2:
                            n = nn + j * UTILE
                            if n < UN:
                                # span[n] *= prod_{max(c0, start0) <= u <= c1} a[u, n]
                                span_row[n] = span_row[n] * G_u[n] * a_u[n]
                            j += ONE
                    # G[t, s] += sum_n (C F span)[t, n] (B Gs)[s, n]
                    k = ZERO
                    while k < 2 * TILE:                # unsigned counters: see _device
                        g += cf_s[ty, k] * bg_s[tx, k]
                        k += ONE
                    cuda.syncthreads()
                    nn += UPAIR
            m_s[ty, tx] = g if t < T and s >= start_t else DT(0)
            cuda.syncthreads()
            # y_t += sum_s G[t, s] x_s
            accumulate(acc, m_s[ty], x_s)
            cuda.syncthreads()
        if use_hin:
            c = t // Q
            for n0 in range(0, N, TILE):
                nn = n0 + tx
                # delta[t, n] = F[t, n] prod_{start(t) <= u < r0} a[u, n]
                if t < T and nn < N:
                    cf_s[ty, tx] = C[iC, t, nn] * F[b, t, nn] * (
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
                                    acc[w] += cd * Hin[b, c, n, p]
                                w += ONE
                        k += ONE
                cuda.syncthreads()
        if t < T:
            store(y[b, t], acc, p0, P)

    return diagonal_output


diagonal_output_kernel = specialized(_build_diagonal_output)




@keyword_only
def scalar_attention(x, a, B, C, *, initial_state=None):
    """Masked attention on the GPU, ``y = (1SS(a) o C B^T) x + delta_t C_t^T h_{-1}``.

    M[t, s] = a_{s+1} ... a_t (C_t . B_s) for t >= s, delta_t = a_0 ... a_t;
    h_{T-1} = sum_s gamma_s B_s x_s^T + delta_{T-1} h_{-1}, gamma_s = a_{s+1} ... a_{T-1}.
    A tiled masked matmul over the tiles on or below the diagonal only; no T x T array is
    stored. Shapes as :func:`scalar_scan`.
    """
    from .chunked import blocked   # chunked.py builds on the kernels above

    return blocked("scalar", x, a, B, C, initial_state, chunk_size=None)


@keyword_only
def diagonal_attention(x, a, B, C, *, initial_state=None):
    """The sum of N 1-SS masked attentions on the GPU (one head per mode), plus the initial state.

    y_t = sum_n C[t, n] (sum_{s <= t} a_n(t, s) B[s, n] x_s + delta[t, n] h_{-1}[n]),
    a_n(t, s) = a[s+1, n] ... a[t, n], delta[t, n] = a[0, n] ... a[t, n];
    h_{T-1}[n] = sum_s gamma[s, n] B[s, n] x_s + delta[T-1, n] h_{-1}[n].
    Tiled over the tiles on or below the diagonal; no T x T array is stored. Shapes as
    :func:`diagonal_scan`.
    """
    from .chunked import blocked

    return blocked("diagonal", x, a, B, C, initial_state, chunk_size=None)
