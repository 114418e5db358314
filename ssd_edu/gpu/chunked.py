"""The block (chunked) algorithm on the GPU: scalar_chunked and diagonal_chunked.

Numbered as ``ssd_edu.reference.scalar_chunked`` (THEORY 4), for chunk c of Q steps:

    1. intra-chunk   Y_diag = (1SS(a_c) o C_c B_c^T) X_c            (masked matmul, on-diagonal tiles)
    2. chunk states  S_c = B_c^T diag(gamma) X_c                      (all chunks in parallel)
    3. state passing H_c = abar_c H_{c-1} + S_c                       (the scan over chunks)
    4. state output  Y_off[t] = (delta_t C_t)^T H_{c-1}

Kernels: :func:`_chunk_states_kernel` (step 2), :func:`_state_passing_kernel` (step 3) and one
output kernel per family that fuses steps 1 and 4 (:func:`_scalar_output_kernel`,
:func:`_diagonal_output_kernel`). :func:`blocked` runs them; the attention form
(``attention.py``) is the same algorithm with a single chunk, Q = T.
"""
from __future__ import annotations

from ._cuda import cuda, kernel, require_cuda
from ._launch import empty_result, finish, get_tile, prepare, shared_bytes
from ..validation import check_chunk_size


def shared_chunk_states(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_chunk_states_kernel` needs."""
    return 4 * tile * (tile + 1) + tile


def shared_scalar_output(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_scalar_output_kernel` needs."""
    return 4 * tile * (tile + 1) + 3 * tile


def shared_diagonal_output(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_diagonal_output_kernel` needs."""
    return 9 * tile * (tile + 1) + tile


@kernel
def _chunk_states_kernel(x, a, B, Q, idx, tile, S, abar):
    """Chunk states from a zero start, and each chunk's decay (THEORY 4, step 2).

    Naive loop it computes (chunk c covers s in [c Q, e_c], e_c = min(c Q + Q, T) - 1)::

        for b, c, n, p:
            S[b, c, n, p] = sum_{s in chunk c} gamma[s, n] B[b, s, n] x[b, s, p]
            # gamma[s, n] = prod_{s < u <= e_c} a[b, u, n]
        for b, c, n:
            abar[b, c, n] = prod_{u in chunk c} a[b, u, n]

    With Q >= T this is the final state of the attention form before the initial-state term.
    Mapping: block (tile, tile) threads = (p, n) outputs (threadIdx.x = p); grid.x =
    nb * J * n-tiles * p-tiles. The block walks its chunk backwards in time tiles of ``tile``
    steps (aligned to the chunk start, so no tile straddles two chunks) and carries
    run[n] = product of a over the later tiles: every gamma is a direct product.
    Shared: tiles of a and B (time x mode) and x (time x channel), gam[k, n] (the gamma of
    step k of the tile), run[n]. A step past the chunk end is padded with a = 1, B = x = 0.
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    J = S.shape[1]
    n_pt = (P + tile - 1) // tile
    n_nt = (N + tile - 1) // tile
    blk = cuda.blockIdx.x
    p0 = (blk % n_pt) * tile
    n0 = ((blk // n_pt) % n_nt) * tile
    c = (blk // (n_pt * n_nt)) % J
    b = blk // (n_pt * n_nt * J)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    pitch = tile + 1
    sh = cuda.shared.array(0, dtype=x.dtype)
    oA = 0
    oB = tile * pitch
    oX = 2 * tile * pitch
    oG = 3 * tile * pitch
    oR = 4 * tile * pitch
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    start = c * Q
    stop = min(start + Q, T)
    nn = n0 + tx                            # the mode this thread loads
    na = nn if a.shape[2] > 1 else 0
    if ty == 0:
        sh[oR + tx] = one
    acc = zero
    for j in range((stop - start + tile - 1) // tile - 1, -1, -1):
        s = start + j * tile + ty           # the step this thread row loads
        ok = s < stop and nn < N
        sh[oA + ty * pitch + tx] = a[ia, s, na] if ok else one
        sh[oB + ty * pitch + tx] = B[iB, s, nn] if ok else zero
        sh[oX + ty * pitch + tx] = x[ix, s, p0 + tx] if s < stop and p0 + tx < P else zero
        cuda.syncthreads()
        # gamma of step ty for mode tx: run[n] * prod_{ty < k < tile} a[k, n]
        g = sh[oR + tx]
        for k in range(ty + 1, tile):
            g *= sh[oA + k * pitch + tx]
        sh[oG + ty * pitch + tx] = g
        cuda.syncthreads()
        if ty == 0:
            # run[n] now spans this tile too: prod_{0 <= k < tile} a[k, n] * old run[n]
            sh[oR + tx] = sh[oG + tx] * sh[oA + tx]
        # S[n, p] += sum_k gamma[k, n] B[k, n] x[k, p]   (thread: n = n0 + ty, p = p0 + tx)
        for k in range(tile):
            acc += sh[oG + k * pitch + ty] * sh[oB + k * pitch + ty] * sh[oX + k * pitch + tx]
        cuda.syncthreads()
    if n0 + ty < N and p0 + tx < P:
        S[b, c, n0 + ty, p0 + tx] = acc
    if ty == 0 and p0 == 0 and nn < abar.shape[2]:
        abar[b, c, nn] = sh[oR + tx]


@kernel
def _state_passing_kernel(S, abar, h0, has_h0, idx, H_prev, h_last):
    """The inter-chunk scan ``H_c = abar_c H_{c-1} + S_c`` from ``H_{-1} = h0`` (THEORY 4, step 3).

    Naive loop it computes (abar[b, c, 0] in the scalar family)::

        for b, n, p:
            H = h0[b, n, p] if has_h0 else 0
            for c in range(J):
                H_prev[b, c, n, p] = H                  # the state entering chunk c
                H = abar[b, c, n] * H + S[b, c, n, p]   # H_c = abar_c H_{c-1} + S_c
            h_last[b, n, p] = H                         # the final state

    Mapping: one thread per (b, n, p) lane, p fastest (coalesced), a 1-D grid; the state in a
    register. Shared: none.
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


@kernel
def _scalar_output_kernel(x, a, B, C, Hin, use_hin, Q, idx, tile, y):
    """Scalar family, y chunk by chunk: masked matmul inside the chunk plus the entering state.

    Naive loop it computes (chunk c(t) = t // Q starts at start(t) = c(t) Q; THEORY 4 steps 1
    and 4; with Q >= T and Hin[b, 0] = h0 it is the attention form)::

        for b, t, p:
            y[b, t, p] = sum_{s = start(t)}^{t} (prod_{s < u <= t} a[b, u]) (C[b, t] . B[b, s])
                                            x[b, s, p]
                       + (prod_{start(t) <= u <= t} a[b, u]) (C[b, t] . Hin[b, c(t), :, p])

    Mapping: block (tile, tile) threads; in the accumulation thread (ty, tx) owns the output
    (t = r0 + ty, p = p0 + tx), in the score phase the score (t = r0 + ty, s = c0 + tx).
    grid.x = nb * row tiles * p-tiles. A block visits the column tiles from its diagonal tile
    back to the tile that holds the chunk start start(r0): only tiles on or below the diagonal, and
    no T x T array exists anywhere. Per column tile: G = C_I B_J^T summed over n-tiles, then
    the mask, then y += (L o G) X_J.

    The mask from prefix quantities, all direct products (zero and negative decays exact):
    off the diagonal tile L[t, s] = f[t] * span * g[s] with f[t] = prod_{max(r0, start(t)) <= u <= t}
    a_u (row tile), g[s] = prod_{s < u <= c1} a_u (column tile ending at c1) and
    span = prod_{c1 < u < r0} a_u, carried from one column tile to the next; on the diagonal
    tile a loop prod_{s < u <= t} a_u of at most ``tile`` factors. Entries with s < start(t) (an
    earlier chunk) are 0. The entering-state factor is delta_t = f[t] * prod_{start(t) <= u < r0} a_u.
    Shared: C tile (t x n), B tile (s x n), x tile (s x p), masked scores (t x s), a and f of
    the row tile, a of the column tile.
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    n_pt = (P + tile - 1) // tile
    n_rt = (T + tile - 1) // tile
    blk = cuda.blockIdx.x
    p0 = (blk % n_pt) * tile
    rt = (blk // n_pt) % n_rt
    b = blk // (n_pt * n_rt)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    iC = idx[3, b]
    pitch = tile + 1
    sh = cuda.shared.array(0, dtype=x.dtype)
    oC = 0
    oB = tile * pitch
    oX = 2 * tile * pitch
    oG = 3 * tile * pitch
    oAr = 4 * tile * pitch                  # a of the row tile
    oF = oAr + tile                         # f of the row tile
    oAc = oF + tile                         # a of the column tile
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    r0 = rt * tile
    t = r0 + ty
    p = p0 + tx
    start0 = (r0 // Q) * Q                  # chunk start of the tile's first row
    start_t = (t // Q) * Q                  # chunk start of row t
    if ty == 0:
        sh[oAr + tx] = a[ia, r0 + tx, 0] if r0 + tx < T else one
    cuda.syncthreads()
    if tx == 0:
        # f[t] = prod_{max(r0, start(t)) <= u <= t} a_u
        f = one
        if t < T:
            for u in range(max(r0, start_t), t + 1):
                f *= sh[oAr + u - r0]
        sh[oF + ty] = f
    acc = zero
    span = one                              # prod_{c1 < u < r0} a_u
    for kt in range(rt, start0 // tile - 1, -1):
        c0 = kt * tile
        c1 = c0 + tile - 1
        s = c0 + tx                         # the key of this thread's score
        if ty == 0:
            sh[oAc + tx] = a[ia, s, 0] if s < T else one
        # G[t, s] = C_t . B_s, over n-tiles
        dot = zero
        for n0 in range(0, N, tile):
            nn = n0 + tx
            sh[oC + ty * pitch + tx] = C[iC, t, nn] if t < T and nn < N else zero
            sh[oB + ty * pitch + tx] = B[iB, c0 + ty, nn] if c0 + ty < T and nn < N else zero
            cuda.syncthreads()
            for k in range(tile):
                dot += sh[oC + ty * pitch + k] * sh[oB + tx * pitch + k]
            cuda.syncthreads()
        # L[t, s] = prod_{s < u <= t} a_u for start(t) <= s <= t, else 0
        L = zero
        if t < T and s >= start_t and s <= t:
            L = one
            if kt == rt:
                for u in range(s + 1, t + 1):
                    L *= sh[oAr + u - r0]
            else:
                # L = f[t] * span * g[s],  g[s] = prod_{s < u <= c1} a_u
                L = sh[oF + ty] * span
                for u in range(s + 1, c1 + 1):
                    L *= sh[oAc + u - c0]
        sh[oG + ty * pitch + tx] = L * dot
        sh[oX + ty * pitch + tx] = x[ix, c0 + ty, p] if c0 + ty < T and p < P else zero
        cuda.syncthreads()
        # y_t += sum_s (L o C B^T)[t, s] x_s
        for k in range(tile):
            acc += sh[oG + ty * pitch + k] * sh[oX + k * pitch + tx]
        if kt < rt:
            # span *= prod_{max(c0, start0) <= u <= c1} a_u  (restricted to the chunk of start0)
            for u in range(max(c0, start0), c1 + 1):
                span *= sh[oAc + u - c0]
        cuda.syncthreads()
    if t < T and p < P:
        if use_hin:
            # y_t += delta_t C_t^T H_{c(t)-1},  delta_t = prod_{start(t) <= u <= t} a_u
            delta = sh[oF + ty] * (span if start_t < r0 else one)
            hs = zero
            c = t // Q
            for n in range(N):
                hs += C[iC, t, n] * Hin[b, c, n, p]
            acc += delta * hs
        y[b, t, p] = acc


@kernel
def _diagonal_output_kernel(x, a, B, C, Hin, use_hin, Q, idx, tile, y):
    """Diagonal family, y chunk by chunk: the sum of N 1-SS heads inside the chunk, plus the
    entering state (THEORY 3.2 and 4, steps 1 and 4; with Q >= T it is the attention form).

    Naive loop it computes (chunk c(t) = t // Q starts at start(t) = c(t) Q)::

        for b, t, p:
            y[b, t, p] = sum_n sum_{s = start(t)}^{t} C[b, t, n] (prod_{s < u <= t} a[b, u, n])
                                                   B[b, s, n] x[b, s, p]
                       + sum_n C[b, t, n] (prod_{start(t) <= u <= t} a[b, u, n]) Hin[b, c(t), n, p]

    Mapping: as the scalar kernel (block (tile, tile), output (t, p) per thread, grid.x =
    nb * row tiles * p-tiles, only column tiles on or below the diagonal back to the chunk
    start), with the mode tiles as the OUTER loop because every mode has its own mask: for one
    n-tile, the row factor f[t, n] and the running span[n] stay in shared memory while the
    column tiles are visited. Off the diagonal tile each head is a plain product of rescaled
    tiles, G[t, s] = sum_n (C[t, n] f[t, n]) (B[s, n] g[s, n] span[n]), with
    f[t, n] = prod_{max(r0, start(t)) <= u <= t} a[u, n], g[s, n] = prod_{s < u <= c1} a[u, n] and
    span[n] = prod_{c1 < u < r0} a[u, n]: direct products, no ratio, no log. On the diagonal
    tile every (t, s, n) multiplies its at most ``tile`` factors directly. The entering-state
    factor is delta[t, n] = f[t, n] * prod_{start(t) <= u < r0} a[u, n].
    Shared: per n-tile, a, C and f of the row tile and C o f (t x n); per column tile, a and B
    (s x n), B o g o span (s x n), x (s x p) and the summed scores (t x s); span[n].
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    n_pt = (P + tile - 1) // tile
    n_rt = (T + tile - 1) // tile
    blk = cuda.blockIdx.x
    p0 = (blk % n_pt) * tile
    rt = (blk // n_pt) % n_rt
    b = blk // (n_pt * n_rt)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    iC = idx[3, b]
    pitch = tile + 1
    sq = tile * pitch
    sh = cuda.shared.array(0, dtype=x.dtype)
    oAr = 0                                 # a of the row tile      (t x n)
    oC = sq                                 # C of the row tile      (t x n)
    oF = 2 * sq                             # f                      (t x n)
    oCf = 3 * sq                            # C o f                  (t x n)
    oX = 4 * sq                             # x of the column tile   (s x p)
    oB = 5 * sq                             # B of the column tile   (s x n)
    oAc = 6 * sq                            # a of the column tile   (s x n)
    oBg = 7 * sq                            # B o g o span           (s x n)
    oG = 8 * sq                             # summed scores          (t x s)
    oS = 9 * sq                             # span[n]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    r0 = rt * tile
    t = r0 + ty
    p = p0 + tx
    start0 = (r0 // Q) * Q                  # chunk start of the tile's first row
    start_t = (t // Q) * Q                  # chunk start of row t
    acc = zero
    for n0 in range(0, N, tile):
        nn = n0 + tx                        # the mode this thread loads
        ok = t < T and nn < N
        sh[oAr + ty * pitch + tx] = a[ia, t, nn] if ok else one
        sh[oC + ty * pitch + tx] = C[iC, t, nn] if ok else zero
        if ty == 0:
            sh[oS + tx] = one
        cuda.syncthreads()
        # f[t, n] = prod_{max(r0, start(t)) <= u <= t} a[u, n]
        f = one
        if t < T:
            for u in range(max(r0, start_t), t + 1):
                f *= sh[oAr + (u - r0) * pitch + tx]
        sh[oF + ty * pitch + tx] = f
        sh[oCf + ty * pitch + tx] = f * sh[oC + ty * pitch + tx]
        for kt in range(rt, start0 // tile - 1, -1):
            c0 = kt * tile
            c1 = c0 + tile - 1
            s_ld = c0 + ty                  # the step this thread row loads
            sh[oX + ty * pitch + tx] = x[ix, s_ld, p] if s_ld < T and p < P else zero
            sh[oB + ty * pitch + tx] = B[iB, s_ld, nn] if s_ld < T and nn < N else zero
            sh[oAc + ty * pitch + tx] = a[ia, s_ld, nn] if s_ld < T and nn < N else one
            cuda.syncthreads()
            s = c0 + tx                     # the key of this thread's score
            g = zero
            if kt == rt:
                # G[t, s] = sum_n C[t, n] (prod_{s < u <= t} a[u, n]) B[s, n], start(t) <= s <= t
                if t < T and s >= start_t and s <= t:
                    for k in range(tile):
                        m = sh[oC + ty * pitch + k] * sh[oB + tx * pitch + k]
                        for u in range(s + 1, t + 1):
                            m *= sh[oAr + (u - r0) * pitch + k]
                        g += m
            else:
                # Bg[s, n] = B[s, n] g[s, n] span[n],  g[s, n] = prod_{s < u <= c1} a[u, n]
                gs = sh[oS + tx]
                for u in range(s_ld + 1, c1 + 1):
                    gs *= sh[oAc + (u - c0) * pitch + tx]
                sh[oBg + ty * pitch + tx] = sh[oB + ty * pitch + tx] * gs
                cuda.syncthreads()
                # G[t, s] = sum_n (C o f)[t, n] Bg[s, n] for s >= start(t)
                if t < T and s >= start_t:
                    for k in range(tile):
                        g += sh[oCf + ty * pitch + k] * sh[oBg + tx * pitch + k]
                if ty == 0:
                    # span[n] *= prod_{max(c0, start0) <= u <= c1} a[u, n]
                    sp = sh[oS + tx]
                    for u in range(max(c0, start0), c1 + 1):
                        sp *= sh[oAc + (u - c0) * pitch + tx]
                    sh[oS + tx] = sp
            sh[oG + ty * pitch + tx] = g
            cuda.syncthreads()
            # y_t += sum_s G[t, s] x_s
            for k in range(tile):
                acc += sh[oG + ty * pitch + k] * sh[oX + k * pitch + tx]
            cuda.syncthreads()
        if use_hin and t < T and p < P:
            # y_t += sum_n C[t, n] delta[t, n] H_{c(t)-1}[n, p]
            c = t // Q
            for k in range(min(tile, N - n0)):
                delta = sh[oF + ty * pitch + k] * (sh[oS + k] if start_t < r0 else one)
                acc += sh[oC + ty * pitch + k] * delta * Hin[b, c, n0 + k, p]
        cuda.syncthreads()
    if t < T and p < P:
        y[b, t, p] = acc


def blocked(family, x, a, B, C, initial_state, chunk_size):
    """The block algorithm on the device: states, inter-chunk scan, output (THEORY 4).

    ``chunk_size=None`` is the attention form: a single chunk of length T.
    """
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = prepare(family, *values, chunk_size=chunk_size)
    if L.nb == 0 or L.T == 0:
        return empty_result(values, L)
    tile = get_tile()
    # one chunk covers everything when Q >= T (and in the attention form)
    Q = L.T if chunk_size is None else min(check_chunk_size(chunk_size), L.T)
    J = -(-L.T // Q)
    Na = L.a.shape[2]
    n_pt, n_nt, n_rt = -(-L.P // tile), -(-L.N // tile), -(-L.T // tile)
    # 2. chunk states S_c and chunk decays abar_c, all chunks in parallel
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    _chunk_states_kernel[L.nb * J * n_nt * n_pt, (tile, tile), 0,
                           shared_bytes(shared_chunk_states(tile), L.dtype)](
        L.x, L.a, L.B, Q, L.idx, tile, S, abar)
    # 3. inter-chunk scan H_c = abar_c H_{c-1} + S_c
    H_prev = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    lanes = L.nb * L.N * L.P
    threads = min(128, lanes)
    _state_passing_kernel[-(-lanes // threads), threads](S, abar, L.h0, L.has_h0, L.idx,
                                                           H_prev, h)
    # 1 + 4. masked matmul inside each chunk, plus the state entering it
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    use_hin = J > 1 or L.has_h0
    if family == "scalar":
        _scalar_output_kernel[L.nb * n_rt * n_pt, (tile, tile), 0,
                                shared_bytes(shared_scalar_output(tile), L.dtype)](
            L.x, L.a, L.B, L.C, H_prev, use_hin, Q, L.idx, tile, y)
    else:
        _diagonal_output_kernel[L.nb * n_rt * n_pt, (tile, tile), 0,
                                  shared_bytes(shared_diagonal_output(tile), L.dtype)](
            L.x, L.a, L.B, L.C, H_prev, use_hin, Q, L.idx, tile, y)
    return finish(L, y, h)


def scalar_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU: attention inside chunks of Q steps, the scan across them.

    Per chunk c (J = ceil(T / Q) chunks, any T and any Q >= 1; the last may be short):
      2. S_c = sum_{s in c} gamma_s B_s x_s^T   (all chunks in parallel)
      3. H_c = abar_c H_{c-1} + S_c             (inter-chunk scan; H_{J-1} is the final state)
      1+4. y_t = sum_{s in c(t), s <= t} M[t, s] x_s + delta_t C_t^T H_{c(t)-1}
    Shapes as :func:`scalar_scan`.
    """
    return blocked("scalar", x, a, B, C, initial_state, chunk_size=chunk_size)


def diagonal_chunked(x, a, B, C, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU with per-mode decays (every step elementwise per mode).

    As :func:`scalar_chunked`, with per-mode gamma, abar and delta and the sum of N heads
    inside each chunk. Shapes as :func:`diagonal_scan`.
    """
    return blocked("diagonal", x, a, B, C, initial_state, chunk_size=chunk_size)
