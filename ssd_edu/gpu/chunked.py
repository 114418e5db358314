"""The block (chunked) algorithm on the GPU: scalar_chunked and diagonal_chunked.

Numbered as ``ssd_edu.reference.scalar_chunked`` (THEORY 4), for chunk c of Q steps:

    1. intra-chunk   Y_diag = (1SS(a_c) o C_c B_c^T) X_c                (masked matmul)
    2. chunk states  S_c = B_c^T diag(gamma) X_c, gamma_s = prod_{s<u<=e_c} a_u   (all chunks at once)
    3. state passing H_c = abar_c H_{c-1} + S_c                          (the scan over chunks)
    4. state output  Y_off[t] = (delta_t C_t)^T H_{c-1}, delta_t = prod_{start(t)<=u<=t} a_u

Kernels (built per tile, family and dtype by :func:`._device.specialized`):
:func:`_build_chunk_states` (step 2), :func:`state_passing_kernel` (step 3) and one output
kernel per family fusing steps 1 and 4 (:func:`_build_scalar_output`,
:func:`_build_diagonal_output`). :func:`plan` allocates and returns the launches; the
attention form (``attention.py``) is the same algorithm with one chunk, Q = T, and the scan
(``scan.py``) reuses steps 2 and 3.

Tiles: blocks of (tile, tile) threads, threadIdx.x along the contiguous axis. Time tiles are
aligned to multiples of the tile; a chunk boundary may fall inside one (any Q, any T).
Output kernels give each thread a register tile of ``width`` channel tiles (p, p + tile, ...),
so one block covers up to ``MAX_WIDTH * tile`` channels and computes its scores C B^T once for
all of them.
"""
from __future__ import annotations

from numba import uint64

from ._cuda import cuda, kernel, require_cuda
from ._device import ONE, ZERO, specialized
from ._launch import empty_result, finish, get_tile, prepare
from ..validation import check_chunk_size

#: At most this many channel tiles per output block (a register tile of 1 x MAX_WIDTH outputs).
MAX_WIDTH = 4


def channel_width(P: int, tile: int) -> int:
    """Channel tiles per output block: all of P when P <= MAX_WIDTH * tile (scores once)."""
    return max(1, min(MAX_WIDTH, -(-P // tile)))


def _build_chunk_states(TILE, DIAG, DT, WIDTH):
    """Step 2: chunk states from a zero start, and each chunk's decay.

    Naive loop (chunk c covers s in [c Q, e_c], e_c = min(c Q + Q, T) - 1)::

        for b, c, n, p:
            S[b, c, n, p] = sum_{s in chunk c} gamma[s, n] B[b, s, n] x[b, s, p]
            # gamma[s, n] = prod_{s < u <= e_c} a[b, u, n]
        for b, c, n:
            abar[b, c, n] = prod_{u in chunk c} a[b, u, n]

    Mapping: block (TILE, TILE) threads; thread (ty, tx) owns the mode n0 + ty and a register
    tile of WIDTH channels p0 + tx + w TILE; grid.x = nb * J * n-tiles * channel blocks. The block walks its chunk backwards in time tiles of TILE steps
    from the chunk start and carries run[n] = product of a over the later tiles. Shared: a, B o
    gamma and x of one time tile; gamma from suffix products, one thread per mode (direct
    products: zero decays exact). Steps past the chunk end are padded with a = 1, B = x = 0.
    """
    PITCH = TILE + 1
    WIDE = TILE * WIDTH

    def chunk_states(x, a, B, Q, idx, S, abar):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        T = x.shape[1]
        P = x.shape[2]
        N = B.shape[2]
        J = S.shape[1]
        n_pb = (P + WIDE - 1) // WIDE
        n_nt = (N + TILE - 1) // TILE
        blk = cuda.blockIdx.x
        p0 = (blk % n_pb) * WIDE + tx
        n0 = ((blk // n_pb) % n_nt) * TILE
        c = (blk // (n_pb * n_nt)) % J
        b = blk // (n_pb * n_nt * J)
        ix = idx[0, b]
        ia = idx[1, b]
        iB = idx[2, b]
        a_s = cuda.shared.array((TILE, PITCH), DT)     # a[s, n] of the time tile
        bg_s = cuda.shared.array((TILE, PITCH), DT)    # B[s, n] gamma[s, n]
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x[s, p]
        run = cuda.shared.array(TILE, DT)              # prod of a over the later tiles
        acc = cuda.local.array(WIDTH, DT)
        for w in range(WIDTH):
            acc[w] = DT(0)
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
            for w in range(WIDTH):
                p = p0 + w * TILE
                x_s[ty, w * TILE + tx] = x[ix, s, p] if s < stop and p < P else DT(0)
            cuda.syncthreads()
            if ty == 0:
                # gamma[k, n] = run[n] prod_{k < u < TILE} a[u, n]   (suffix products)
                g = run[tx]
                for k in range(TILE - 1, -1, -1):
                    bg_s[k, tx] *= g
                    g *= a_s[k, tx]
                run[tx] = g
            cuda.syncthreads()
            # S[n, p] += sum_k (B o gamma)[k, n] x[k, p]
            k = ZERO
            while k < TILE:                            # unsigned counters: see _device
                bg = bg_s[k, ty]
                w = ZERO
                while w < WIDTH:
                    acc[w] += bg * x_s[k, w * TILE + tx]
                    w += ONE
                k += ONE
            cuda.syncthreads()
        if n0 + ty < N:
            for w in range(WIDTH):
                p = p0 + w * TILE
                if p < P:
                    S[b, c, n0 + ty, p] = acc[w]
        if ty == 0 and blk % n_pb == 0 and nn < abar.shape[2]:   # one channel block writes
            abar[b, c, nn] = run[tx]

    return chunk_states


chunk_states_kernel = specialized(_build_chunk_states)


@kernel
def state_passing_kernel(S, abar, h0, has_h0, idx, H_prev, h_last):
    """Step 3: ``H_c = abar_c H_{c-1} + S_c`` from ``H_{-1} = h0``.

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
    i = cuda.grid(1)
    nb = S.shape[0]
    J = S.shape[1]
    N = S.shape[2]
    P = S.shape[3]
    if i >= nb * N * P:
        return
    p = i % P
    n = (i // P) % N
    b = i // (N * P)
    na = n if abar.shape[2] > 1 else 0
    H = S.dtype.type(0)
    if has_h0:
        H = h0[idx[4, b], n, p]
    for c in range(J):
        H_prev[b, c, n, p] = H
        # H_c = abar_c H_{c-1} + S_c
        H = abar[b, c, na] * H + S[b, c, n, p]
    h_last[b, n, p] = H


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

    def scalar_output(x, a, B, C, Hin, use_hin, Q, idx, y):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        T = x.shape[1]
        P = x.shape[2]
        N = B.shape[2]
        n_pb = (P + WIDE - 1) // WIDE
        n_rt = (T + TILE - 1) // TILE
        blk = cuda.blockIdx.x
        p0 = (blk % n_pb) * WIDE + tx
        rt = (blk // n_pb) % n_rt
        b = blk // (n_pb * n_rt)
        ix = idx[0, b]
        ia = idx[1, b]
        iB = idx[2, b]
        iC = idx[3, b]
        c_s = cuda.shared.array((TILE, PITCH), DT)     # C of the row tile      (t x n)
        b_s = cuda.shared.array((TILE, PITCH), DT)     # B of the column tile   (s x n)
        m_s = cuda.shared.array((TILE, PITCH), DT)     # masked scores          (t x s)
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x of the column tile   (s x p)
        ar_s = cuda.shared.array(TILE, DT)             # a of the row tile
        f_s = cuda.shared.array(TILE, DT)              # f[t]
        ac_s = cuda.shared.array(TILE, DT)             # a of the column tile
        g_s = cuda.shared.array(TILE, DT)              # g[s]
        acc = cuda.local.array(WIDTH, DT)
        for w in range(WIDTH):
            acc[w] = DT(0)
        r0 = rt * TILE
        t = r0 + ty
        start0 = (r0 // Q) * Q                         # chunk start of the tile's first row
        start_t = (t // Q) * Q                         # chunk start of row t
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
            for w in range(WIDTH):
                p = p0 + w * TILE
                x_s[ty, w * TILE + tx] = x[ix, sl, p] if sl < T and p < P else DT(0)
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
            k = ZERO
            while k < TILE:
                m = m_s[ty, k]
                w = ZERO
                while w < WIDTH:
                    acc[w] += m * x_s[k, w * TILE + tx]
                    w += ONE
                k += ONE
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
            for w in range(WIDTH):
                p = p0 + w * TILE
                if p < P:
                    y[b, t, p] = acc[w]

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
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        T = a.shape[1]
        N = a.shape[2]
        n_nt = (N + TILE - 1) // TILE
        n_tt = (T + TILE - 1) // TILE
        n_gt = (n_tt + TILE - 1) // TILE
        blk = cuda.blockIdx.x
        n = (blk % n_nt) * TILE + tx
        tt = ((blk // n_nt) % n_gt) * TILE + ty
        b = blk // (n_nt * n_gt)
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

    def diagonal_output(x, a, B, C, F, Gs, Hin, use_hin, Q, idx, spans, y):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        T = x.shape[1]
        P = x.shape[2]
        N = B.shape[2]
        n_pb = (P + WIDE - 1) // WIDE
        n_rt = (T + TILE - 1) // TILE
        blk = cuda.blockIdx.x
        p0 = (blk % n_pb) * WIDE + tx
        rt = (blk // n_pb) % n_rt
        b = blk // (n_pb * n_rt)
        ix = idx[0, b]
        ia = idx[1, b]
        iB = idx[2, b]
        iC = idx[3, b]
        ar_s = cuda.shared.array((TILE, PITCH), DT)    # a of the diagonal tile   (u x n)
        cf_s = cuda.shared.array((TILE, PAIR), DT)     # C, or C F span            (t x n)
        bg_s = cuda.shared.array((TILE, PAIR), DT)     # B, or B Gs                (s x n)
        m_s = cuda.shared.array((TILE, PITCH), DT)     # scores summed over modes  (t x s)
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x of the column tile      (s x p)
        acc = cuda.local.array(WIDTH, DT)
        for w in range(WIDTH):
            acc[w] = DT(0)
        r0 = rt * TILE
        t = r0 + ty
        start0 = (r0 // Q) * Q                         # chunk start of the tile's first row
        start_t = (t // Q) * Q                         # chunk start of row t
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
            for w in range(WIDTH):
                p = p0 + w * TILE
                x_s[ty, w * TILE + tx] = x[ix, sl, p] if sl < T and p < P else DT(0)
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
            k = ZERO
            while k < TILE:
                m = m_s[ty, k]
                w = ZERO
                while w < WIDTH:
                    acc[w] += m * x_s[k, w * TILE + tx]
                    w += ONE
                k += ONE
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
            for w in range(WIDTH):
                p = p0 + w * TILE
                if p < P:
                    y[b, t, p] = acc[w]

    return diagonal_output


diagonal_output_kernel = specialized(_build_diagonal_output)


def plan(family: str, L, Q: int, tile: int):
    """Allocate the outputs and workspaces of the four steps; return ``(run, y, h)``.

    ``run()`` launches the kernels only (nothing is allocated, validated or copied), so the
    benchmark can time it alone; y (nb, T, P) and h (nb, N, P) are filled by each ``run()``.
    """
    J = -(-L.T // Q)
    Na = L.a.shape[2]
    n_nt, n_rt = -(-L.N // tile), -(-L.T // tile)
    width = channel_width(L.P, tile)
    n_pb = -(-L.P // (tile * width))                 # channel blocks of width tiles
    n_out = L.nb * n_rt * n_pb
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    H_prev = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    if family == "diagonal":
        spans = cuda.device_array((n_out, -(-L.N // (2 * tile)) * 2 * tile), dtype=L.dtype)
        F = cuda.device_array((L.nb, L.T, L.N), dtype=L.dtype)
        Gs = cuda.device_array((L.nb, L.T, L.N), dtype=L.dtype)
        factors = mode_factors_kernel(tile, family, L.dtype)
        n_factor = L.nb * -(-n_rt // tile) * n_nt
    states = chunk_states_kernel(tile, family, L.dtype, width)
    output = (diagonal_output_kernel if family == "diagonal" else scalar_output_kernel)(
        tile, family, L.dtype, width)
    lanes = L.nb * L.N * L.P
    threads = min(128, lanes)
    use_hin = J > 1 or L.has_h0

    def run():
        # 2. chunk states S_c and chunk decays abar_c, all chunks in parallel
        states[L.nb * J * n_nt * n_pb, (tile, tile)](L.x, L.a, L.B, Q, L.idx, S, abar)
        # 3. state passing H_c = abar_c H_{c-1} + S_c (H_prev[c] = H_{c-1}; h = H_{J-1})
        state_passing_kernel[-(-lanes // threads), threads](S, abar, L.h0, L.has_h0, L.idx,
                                                           H_prev, h)
        # 1 + 4. masked matmul inside each chunk, plus the state entering it
        if family == "diagonal":
            # the per-mode prefix / suffix factors of the masks (1.)
            factors[n_factor, (tile, tile)](L.a, Q, L.idx, F, Gs)
            output[n_out, (tile, tile)](L.x, L.a, L.B, L.C, F, Gs, H_prev, use_hin, Q, L.idx,
                                        spans, y)
        else:
            output[n_out, (tile, tile)](L.x, L.a, L.B, L.C, H_prev, use_hin, Q, L.idx, y)

    return run, y, h


def blocked(family, x, a, B, C, initial_state, chunk_size):
    """The block algorithm on the device; ``chunk_size=None`` is the attention form (Q = T)."""
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


def scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU: attention inside chunks of Q steps, the scan across them.

    Per chunk c (J = ceil(T / Q) chunks, any T and any Q >= 1; the last may be short), the four
    steps of the module docstring: 1 + 4 fused in one kernel, 2 for all chunks in parallel, 3
    the inter-chunk scan (H_{J-1} is the final state). x (..., T, P), a (..., T), B, C
    (..., T, N), initial_state (..., N, P); returns y (..., T, P) and h (..., N, P).
    """
    return blocked("scalar", x, a, B, C, initial_state, chunk_size=chunk_size)


def diagonal_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU with per-mode decays (every step elementwise per mode).

    As :func:`scalar_chunked`, with per-mode gamma, abar and delta and the sum of N heads
    inside each chunk; a (..., T, N).
    """
    return blocked("diagonal", x, a, B, C, initial_state, chunk_size=chunk_size)
